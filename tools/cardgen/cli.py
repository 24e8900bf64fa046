"""Generate the model cards (model_cards/<card>.md) from hand-written templates, the registry and measured numbers.

    .venv/bin/python tools/model_cards.py                     # render every card (fast, deterministic, no timing)
    .venv/bin/python tools/model_cards.py --check             # exit 1 if a committed card differs from a fresh render
    .venv/bin/python tools/model_cards.py --measure --threads 2          # time every model on this CPU, then render
    .venv/bin/python tools/model_cards.py --measure 'vit*' unetr         # re-measure some models, re-render their cards

Prose lives in ``model_cards/_templates/<card>.md``: an optional header comment (``families: swin_unetr, unetr``
-- registry families the card covers, default the file name; ``compare: timm`` -- the reference
``tools/benchmark.py --compare`` uses) and the placeholders ``{{variants_table}}``, ``{{weights_table}}`` and
``{{usage}}``. Params and GMACs are counted at render time on the meta device (no weights, no arithmetic);
CPU throughput comes from ``model_cards/measurements.json``, which only ``--measure`` writes.
"""
from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path
from typing import Any

from visionzoo.cli import run_main
from visionzoo.utils import atomic_write_text

from .common import CARDS_DIR, CONFIGS_DIR, MEASUREMENTS, TEMPLATES_DIR, CardError, rel
from .measure import MEASURE_2D_BATCH, MEASURE_3D_SIZE, measure
from .render import check, render_all
from .templates import assign_models, load_templates


def _parse_set(pairs: list[str]) -> dict[str, Any]:
    """``--set KEY=VALUE`` pairs as model kwargs, values read as Python literals where they parse."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CardError(f"--set expects key=value, got {pair!r}")
        try:
            out[key.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key.strip()] = value
    return out


def build_parser() -> argparse.ArgumentParser:
    """The command line of tools/model_cards.py: render, ``--check`` or ``--measure`` (with its timing options)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="render in memory; exit 1 if any card in --out-dir differs")
    p.add_argument("--measure", nargs="*", default=None, metavar="PATTERN",
                   help="time the models matching these fnmatch patterns (all without one) on this CPU, write "
                        "--measurements, then re-render the cards listing them")
    p.add_argument("--measurements", type=Path, default=MEASUREMENTS, metavar="PATH", help="measurement JSON file")
    p.add_argument("--templates", type=Path, default=TEMPLATES_DIR, metavar="DIR", help="card templates")
    p.add_argument("--out-dir", type=Path, default=CARDS_DIR, metavar="DIR", help="where the cards go")
    p.add_argument("--configs", type=Path, default=CONFIGS_DIR, metavar="DIR", help="configs searched for recipes")
    m = p.add_argument_group("--measure options (recorded in the file and shown in the card)")
    m.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's current setting)")
    m.add_argument("--batch-size", type=int, default=None, help=f"default: {MEASURE_2D_BATCH} for 2D, 1 for 3D")
    m.add_argument("--img-size", type=int, nargs="+", default=None, metavar="N",
                   help=f"spatial size (default: the model's for 2D, at most {MEASURE_3D_SIZE}^3 for 3D)")
    m.add_argument("--warmup", type=int, default=1)
    m.add_argument("--runs", type=int, default=3, help="timed batches; the median is reported")
    m.add_argument("--set", dest="model_kwargs", action="append", default=[], metavar="KEY=VALUE",
                   help="model constructor argument (testing only: the card marks such rows)")
    return p


def main(argv: list[str] | None = None) -> int:
    """The tool; user errors print one ``error:`` line and return 2 (``--debug``: the traceback)."""
    return run_main(_main, argv)


def _main(argv: list[str] | None = None) -> int:
    """Parse `argv`, measure if asked, then render the cards: write the changed ones, or compare them (``--check``)."""
    args = build_parser().parse_args(argv)
    try:
        assign_models(load_templates(args.templates), args.templates)  # template errors first, before measuring
        measured = None
        if args.measure is not None:
            measured = measure(args.measure, args.measurements, batch_size=args.batch_size,
                               img_size=tuple(args.img_size) if args.img_size else None, threads=args.threads,
                               warmup=args.warmup, runs=args.runs, model_kwargs=_parse_set(args.model_kwargs))
        rendered = render_all(args.templates, args.measurements, args.configs, only_models=measured)
    except CardError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.check:
        problems = check(rendered, args.out_dir)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("model cards are out of date: run `.venv/bin/python tools/model_cards.py` and commit the result",
                  file=sys.stderr)
            return 1
        print(f"{len(rendered)} model card(s) up to date")
        return 0
    for file, text in rendered.items():
        path = args.out_dir / file
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            atomic_write_text(path, text)
            print(f"wrote {rel(path)}")
    return 0
