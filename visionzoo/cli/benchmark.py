"""Benchmark a visionzoo model (optionally against timm): params, GMACs, throughput, latency, peak memory.

    .venv/bin/python tools/benchmark.py swin_tiny_patch4_window7_224 --compare timm --threads 2
    visionzoo benchmark vit_small_patch16_224 --batch-size 8
    .venv/bin/python tools/benchmark.py vit_tiny_patch16_224 --set depth=2 --ref-set depth=2 --json out.json
    .venv/bin/python tools/benchmark.py agent_deit_tiny flatten_pvt_v2_b0 vit_tiny_patch16_224 \
        --img-size 224,448,896,1344 --batch-size 1 --threads 2 --plot scaling.png
    .venv/bin/python tools/benchmark.py biformer_tiny --mode train --compare timm-train \
        --timm-train-script /tmp/timm_train/train.py --batch-size 8 --threads 2 --iters 10 --max-load 1.3
    visionzoo benchmark --whole-case configs/swin_unetr_brats.py --checkpoint CKPT --cases DIR \
        --variants precision=bf16 overlap=0.25,precision=bf16 --threads 2 --json whole_case.json

With ``--mode train`` plus any of ``--data``, ``--config``, ``--iters`` or ``--compare timm-train``, the whole
classification training pipeline is timed instead of the model alone (`visionzoo.cli.benchmarking.train`): the
recipe through our runner, and with ``--compare timm-train`` timm's own train.py (its path given, never
vendored) with the same data, batch, augmentation, optimizer and threads, alternating runs.

``--whole-case CONFIG`` times whole BraTS cases end to end as ``tools/infer.py`` predicts them, one process per
inference setting (``--variants`` of precision, overlap, sw_batch_size, mode; `visionzoo.cli.benchmarking.whole_case`):
seconds per case, peak RSS, and Dice against the reference setting (fp32, overlap 0.5) and the cases' labels.
Without ``--cases``, ``--synthetic-cases`` full-size (240x240x155) synthetic cases are generated; without
``--checkpoint``, the config's random initialisation (seed 0) is run.

A thin wrapper over `visionzoo.cli.benchmarking.run_benchmark`; ``--set key=value`` values are Python literals
(``ast.literal_eval``) or plain strings. Several models or a comma-separated list of (square) sizes run a
scaling sweep (`visionzoo.cli.benchmarking.run_scaling`): one row per model and size, and with ``--plot`` a PNG
of latency and peak memory against tokens.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import sys
from typing import Any

import numpy as np

from ._errors import UserError, run_main
from ._options import DictAction, non_negative_int, positive_int
from .benchmarking import REFERENCES, format_scaling_table, run_benchmark, run_scaling
from .benchmarking.whole_case import LEVER_VARIANTS, VARIANT_KEYS as WHOLE_CASE_KEYS, variant_label

TIMM_TRAIN = "timm-train"


def parse_value(text: str) -> Any:
    """A Python literal (``2``, ``0.1``, ``(3, 6)``, ``None``) if it parses as one, else the string itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_pairs(pairs: list[str]) -> dict[str, Any]:
    """``["depth=2", "attn=softmax"]`` -> ``{"depth": 2, "attn": "softmax"}``."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"expected key=value, got {pair!r}")
        out[key.strip()] = parse_value(value)
    return out


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    p.add_argument("model", nargs="*", help="registered visionzoo model name(s), e.g. vit_small_patch16_224 "
                                            "(none with --whole-case)")
    known = ", ".join(sorted(REFERENCES))
    p.add_argument("--compare", default=None,
                   help=f"reference library to compare against ({known}); with --mode train also {TIMM_TRAIN} "
                        "(timm's train.py on the whole training pipeline)")
    p.add_argument("--ref-name", default=None, help="reference model name (default: the same name)")
    p.add_argument("--batch-size", type=positive_int, default=8)
    p.add_argument("--img-size", nargs="+", default=None, metavar="N",
                   help="H [W] for images, D [H W] for volumes, or a comma list of square sizes for a scaling "
                        "sweep (224,448,896); default: the model's input size")
    p.add_argument("--plot", default=None, metavar="PNG", help="scaling sweep: plot latency and peak memory vs tokens")
    p.add_argument("--mode", choices=("inference", "train", "sliding_window"), default="inference",
                   help="sliding_window: whole-volume inference of an --img-size volume in --roi-size tiles")
    p.add_argument("--roi-size", type=int, nargs="+", default=None, metavar="N",
                   help="sliding-window tile (default: the model's input size)")
    p.add_argument("--overlap", type=float, default=0.5, help="sliding-window overlap")
    p.add_argument("--sw-batch-size", type=positive_int, default=4, help="tiles per forward in sliding-window mode")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16", "auto"), default="fp32",
                   help="autocast both models (bf16: AVX512-BF16/AMX CPUs); the report adds the same-run matmul peak")
    p.add_argument("--compile", action="store_true", help="wrap both models with torch.compile")
    p.add_argument("--threads", type=positive_int, default=None, help="torch.set_num_threads for the run")
    p.add_argument("--warmup", type=non_negative_int, default=None, help="untimed steps (default 2; training pipeline: 3 iterations)")
    p.add_argument("--runs", type=positive_int, default=5)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the result dict as JSON")
    g = p.add_argument_group("training pipeline (--mode train with --data/--config/--iters/--compare timm-train)")
    g.add_argument("--data", default=None, metavar="DIR",
                   help="ImageFolder (DIR/train/<class>/* or DIR/<class>/*); default: generated texture JPEGs")
    g.add_argument("--config", default=None, help="training recipe (default: the configs/classification one for MODEL)")
    g.add_argument("--timm-train-script", default=None, metavar="PATH", help="timm's train.py (for --compare timm-train)")
    g.add_argument("--timm-model", choices=("visionzoo", "timm", "both"), default="visionzoo",
                   help="the network timm's train.py trains: ours registered in timm (default), timm's own class, or both")
    g.add_argument("--iters", type=positive_int, default=None, help="timed iterations per run (default 10)")
    g.add_argument("--rounds", type=positive_int, default=2, help="alternating rounds (ours, timm, ours, timm, ...)")
    g.add_argument("--max-load", type=float, default=None,
                   help="before each run, wait until the 1-minute load average is below this (--max-wait in all, "
                        "then runs start regardless; each run's load is reported)")
    g.add_argument("--max-other-cpu", type=float, default=None, metavar="CORES",
                   help="also wait until the machine keeps fewer cores busy (5-s sample), and repeat a run (up to 3 "
                        "times) when the rest of the machine used more CPU than this during it")
    g.add_argument("--max-wait", type=float, default=600.0, metavar="S", help="waiting budget for a quiet machine")
    g.add_argument("--keep-dir", default=None, metavar="DIR",
                   help="keep the data, logs and per-run JSON here (--whole-case: cases, predictions, logs)")
    w = p.add_argument_group("whole-case BraTS inference (--whole-case CONFIG)")
    w.add_argument("--whole-case", default=None, metavar="CONFIG",
                   help="segmentation config (e.g. configs/swin_unetr_brats.py): time whole cases through tools/infer.py's "
                        "code path, one process per setting")
    w.add_argument("--checkpoint", default=None, metavar="CKPT",
                   help="weights to run (training checkpoint or a `visionzoo convert` file); default: the config's "
                        "random initialisation, seed 0")
    w.add_argument("--cases", nargs="+", default=None, metavar="PATH",
                   help="case folders, folders of cases or 4D NIfTI files; default: --synthetic-cases generated ones")
    w.add_argument("--synthetic-cases", type=positive_int, default=2, metavar="N",
                   help="full-size (240x240x155) synthetic cases to generate when --cases is not given")
    w.add_argument("--variants", nargs="+", default=[], metavar="KEY=VALUE[,KEY=VALUE]",
                   help=f"inference settings to time besides the reference, keys {', '.join(WHOLE_CASE_KEYS)}: "
                        "precision=bf16 overlap=0.25,precision=bf16 ...")
    w.add_argument("--levers", action="store_true", help="add every lever alone: " + " ".join(
                       variant_label(v) for v in LEVER_VARIANTS))
    w.add_argument("--reference", default="precision=fp32,overlap=0.5", metavar="KEY=VALUE[,KEY=VALUE]",
                   help="the setting every variant's Dice is measured against (default: %(default)s)")
    w.add_argument("--cfg-options", nargs="+", action=DictAction, default={}, metavar="KEY=VALUE",
                   help="override config keys, as tools/infer.py --cfg-options")
    p.add_argument("--set", dest="model_kwargs", action="append", default=[], metavar="KEY=VALUE",
                   help="model constructor argument for our model (repeatable)")
    p.add_argument("--ref-set", dest="ref_kwargs", action="append", default=[], metavar="KEY=VALUE",
                   help="model constructor argument for the reference (repeatable)")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return p


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    return run_main(lambda a: _main(a, prog), argv, user_errors=(ValueError, KeyError))


def _main(argv: list[str], prog: str | None = None) -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if args.whole_case is not None:
        return _whole_case(args, parser)
    whole_case_only = {"--checkpoint": args.checkpoint, "--cases": args.cases, "--variants": args.variants,
                       "--levers": args.levers, "--cfg-options": args.cfg_options}
    used = [flag for flag, value in whole_case_only.items() if value]
    if used:
        parser.error(f"{', '.join(used)} go(es) with --whole-case CONFIG")
    if not args.model:
        parser.error("give a MODEL name (or several), or --whole-case CONFIG")
    pipeline = args.compare == TIMM_TRAIN or any(v is not None for v in (args.data, args.config, args.iters))
    if pipeline:
        return _train_pipeline(args, parser)
    args.warmup = 2 if args.warmup is None else args.warmup
    sweep = args.img_size is not None and len(args.img_size) == 1 and "," in args.img_size[0]
    try:
        sizes = [int(v) for v in args.img_size[0].split(",")] if sweep else [int(v) for v in args.img_size or []]
    except ValueError:
        parser.error(f"--img-size takes integers, got {' '.join(args.img_size)}")
    if not sweep and args.img_size is not None and len(sizes) not in (1, 2, 3):
        parser.error("--img-size takes one to three integers, or one comma-separated list")
    try:
        model_kwargs, ref_kwargs = parse_pairs(args.model_kwargs), parse_pairs(args.ref_kwargs)
    except argparse.ArgumentTypeError as e:
        parser.error(str(e))
    if sweep or len(args.model) > 1:
        return _scaling(args, parser, sizes if sweep else [sizes[0] if len(sizes) == 1 else tuple(sizes)] if sizes else None,
                        model_kwargs)
    if args.plot:
        parser.error("--plot needs a scaling sweep: several models or --img-size 224,448,...")
    img_size = (sizes[0] if len(sizes) == 1 else tuple(sizes)) if sizes else None
    roi_size = args.roi_size and (args.roi_size[0] if len(args.roi_size) == 1 else tuple(args.roi_size))
    result = run_benchmark(
        args.model[0],
        compare=args.compare,
        batch_size=args.batch_size,
        img_size=img_size,
        mode=args.mode,
        channels_last=args.channels_last,
        compile=args.compile,
        threads=args.threads,
        warmup=args.warmup,
        runs=args.runs,
        device=args.device,
        model_kwargs=model_kwargs,
        ref_name=args.ref_name,
        ref_kwargs=ref_kwargs,
        roi_size=roi_size,
        overlap=args.overlap,
        sw_batch_size=args.sw_batch_size,
        precision=args.precision,
    )
    _write_json(args.json, result)
    return 0


def _write_json(path: str | None, obj: Any) -> None:
    """`obj` as indented JSON into `path` (``--json``), if given."""
    if path:
        with open(path, "w") as f:
            json.dump(obj, f, indent=2)
        print(f"wrote {path}")


def _train_pipeline(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.mode != "train":
        parser.error("--data, --config, --iters and --compare timm-train time the training pipeline: add --mode train")
    if len(args.model) != 1:
        parser.error("the training pipeline benchmark takes one model")
    if args.compare not in (None, TIMM_TRAIN):
        parser.error(f"the training pipeline compares against {TIMM_TRAIN} only, got --compare {args.compare}")
    if (args.compare == TIMM_TRAIN) != (args.timm_train_script is not None):
        parser.error("--compare timm-train and --timm-train-script PATH (timm's train.py) go together")
    if args.device != "cpu" or args.img_size or args.model_kwargs or args.ref_kwargs or args.compile or args.channels_last:
        parser.error("the training pipeline runs the recipe as it is on CPU: no --device, --img-size, --set, --ref-set, "
                     "--compile or --channels-last (use --config)")
    from .benchmarking.train import run_train_comparison

    impls = ("visionzoo", "timm") if args.timm_model == "both" else (args.timm_model,)
    try:
        result = run_train_comparison(
            args.model[0], timm_script=args.timm_train_script, config=args.config, data=args.data,
            batch_size=args.batch_size, threads=args.threads or os.cpu_count() or 1, iters=args.iters or 10,
            warmup=3 if args.warmup is None else args.warmup, rounds=args.rounds, model_impls=impls,
            max_load=args.max_load, max_other_cores=args.max_other_cpu, load_timeout_s=args.max_wait,
            keep_dir=args.keep_dir,
        )
    except RuntimeError as e:  # a training run that failed: its log is named in the message
        raise UserError(str(e)) from e
    _write_json(args.json, result)
    return 0


def _parse_variant(text: str, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """``"overlap=0.25,precision=bf16"`` -> ``{"overlap": 0.25, "precision": "bf16"}`` (keys checked later)."""
    try:
        return parse_pairs([part for part in text.split(",") if part.strip()])
    except argparse.ArgumentTypeError as e:
        parser.error(f"variant {text!r}: {e}")


def _whole_case(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.model or args.compare or args.mode != "inference" or args.img_size or args.precision != "fp32" \
            or args.model_kwargs or args.ref_kwargs or args.compile or args.channels_last:
        parser.error("--whole-case runs the config as tools/infer.py does: no MODEL, --compare, --mode, --img-size, "
                     "--precision, --set, --compile or --channels-last (give settings as --variants, e.g. "
                     "precision=bf16)")
    from .benchmarking.whole_case import run_whole_case

    variants = [_parse_variant(v, parser) for v in args.variants] + (list(LEVER_VARIANTS) if args.levers else [])
    try:
        rows = run_whole_case(args.whole_case, args.checkpoint, args.cases, variants,
                              reference=_parse_variant(args.reference, parser), threads=args.threads,
                              cfg_options=args.cfg_options or None, device=args.device,
                              synthetic_cases=args.synthetic_cases, keep_dir=args.keep_dir)
    except RuntimeError as e:  # a variant's process failed: its log is named in the message
        raise UserError(str(e)) from e
    _write_json(args.json, rows)
    return 0


def _scaling(args: argparse.Namespace, parser: argparse.ArgumentParser, sizes: list | None, model_kwargs: dict) -> int:
    if args.compare or args.mode != "inference":
        parser.error("a scaling sweep measures our models in inference mode only (no --compare, --mode)")
    if sizes is None:
        parser.error("a scaling sweep needs --img-size, e.g. 224,448,896")
    results = run_scaling(
        args.model, sizes, batch_size=args.batch_size, channels_last=args.channels_last, compile=args.compile,
        threads=args.threads, warmup=args.warmup, runs=args.runs, device=args.device, model_kwargs=model_kwargs,
        precision=args.precision,
    )
    print(format_scaling_table(results), flush=True)
    _write_json(args.json, results)
    if args.plot:
        plot_scaling(results, args.plot)
        print(f"wrote {args.plot}")
    return 0


def _nice_ticks(top: float, target: int = 5) -> list[float]:
    """Round tick values 0, step, 2*step, ... <= top, with step 1, 2 or 5 x 10^k."""
    raw = top / target
    magnitude = 10 ** np.floor(np.log10(raw)) if raw > 0 else 1.0
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return [float(i * step) for i in range(int(top // step) + 1)]


_COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75))  # RGB


def plot_scaling(results: list[dict], path: str, panel: tuple[int, int] = (560, 420)) -> None:
    """PNG with two panels, latency and peak memory against tokens (relative to the first size), one line per model."""
    import cv2

    models = list(dict.fromkeys(r["model"] for r in results))
    w, h = panel
    canvas = np.full((h + 40, 2 * w, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for p, (key, title) in enumerate((("latency_ms", "latency (ms / batch)"), ("peak_mem_mib", "peak memory (MiB)"))):
        x0, x1, y0, y1 = p * w + 70, p * w + w - 20, 40, h - 50
        points = [(r["tokens_rel"], r["ours"][key]) for r in results if r["ours"][key] is not None]
        if not points:
            continue
        xmax = max(x for x, _ in points) * 1.05
        ymax = max(y for _, y in points) * 1.1
        cv2.rectangle(canvas, (x0, y0), (x1, y1), (0, 0, 0), 1)
        cv2.putText(canvas, title, (x0, y0 - 12), font, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(canvas, "tokens (relative to the first size)", (x0 + 60, h - 15), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        for axis, top in (("y", ymax), ("x", xmax)):
            for v in _nice_ticks(top):
                label = f"{v:,.0f}" if v >= 10 or v == 0 else f"{v:g}"
                if axis == "y":
                    yy = int(y1 - (y1 - y0) * v / ymax)
                    cv2.line(canvas, (x0 - 4, yy), (x0, yy), (0, 0, 0), 1)
                    cv2.putText(canvas, label, (p * w + 5, yy + 4), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
                else:
                    xx = int(x0 + (x1 - x0) * v / xmax)
                    cv2.line(canvas, (xx, y1), (xx, y1 + 4), (0, 0, 0), 1)
                    cv2.putText(canvas, label, (xx - 8, y1 + 18), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)

        def to_px(x: float, y: float) -> tuple[int, int]:
            return int(x0 + (x1 - x0) * x / xmax), int(y1 - (y1 - y0) * y / ymax)

        for m, name in enumerate(models):
            colour = _COLOURS[m % len(_COLOURS)][::-1]  # OpenCV draws BGR
            pts = [to_px(r["tokens_rel"], r["ours"][key]) for r in results if r["model"] == name and r["ours"][key] is not None]
            cv2.polylines(canvas, [np.array(pts, np.int32)], False, colour, 2, cv2.LINE_AA)
            for pt in pts:
                cv2.circle(canvas, pt, 4, colour, -1, cv2.LINE_AA)
            cv2.putText(canvas, name, (x0 + 10, y0 + 20 + 18 * m), font, 0.45, colour, 1, cv2.LINE_AA)
    cv2.imwrite(str(path), canvas)


if __name__ == "__main__":
    sys.exit(main())
