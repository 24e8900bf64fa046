"""Benchmark a visionzoo model (optionally against timm): params, GMACs, throughput, latency, peak memory.

    .venv/bin/python tools/benchmark.py swin_tiny_patch4_window7_224 --compare timm --threads 2
    .venv/bin/python tools/benchmark.py vit_tiny_patch16_224 --set depth=2 --ref-set depth=2 --json out.json

A thin wrapper over `visionzoo.benchmarking.run_benchmark`; ``--set key=value`` values are Python literals
(``ast.literal_eval``) or plain strings.
"""
from __future__ import annotations

import argparse
import ast
import json
import sys
from typing import Any

from visionzoo.benchmarking import REFERENCES, run_benchmark


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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="registered visionzoo model name, e.g. vit_small_patch16_224")
    known = ", ".join(sorted(REFERENCES))
    p.add_argument("--compare", default=None, help=f"reference library to compare against ({known})")
    p.add_argument("--ref-name", default=None, help="reference model name (default: the same name)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--img-size", type=int, nargs="+", default=None, metavar="N",
                   help="H [W] for images, D [H W] for volumes; default: the model's input size")
    p.add_argument("--mode", choices=("inference", "train", "sliding_window"), default="inference",
                   help="sliding_window: whole-volume inference of an --img-size volume in --roi-size tiles")
    p.add_argument("--roi-size", type=int, nargs="+", default=None, metavar="N",
                   help="sliding-window tile (default: the model's input size)")
    p.add_argument("--overlap", type=float, default=0.5, help="sliding-window overlap")
    p.add_argument("--sw-batch-size", type=int, default=4, help="tiles per forward in sliding-window mode")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--compile", action="store_true", help="wrap both models with torch.compile")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for the run")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the result dict as JSON")
    p.add_argument("--set", dest="model_kwargs", action="append", default=[], metavar="KEY=VALUE",
                   help="model constructor argument for our model (repeatable)")
    p.add_argument("--ref-set", dest="ref_kwargs", action="append", default=[], metavar="KEY=VALUE",
                   help="model constructor argument for the reference (repeatable)")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.img_size is not None and len(args.img_size) not in (1, 2, 3):
        parser.error("--img-size takes one to three integers")
    try:
        model_kwargs, ref_kwargs = parse_pairs(args.model_kwargs), parse_pairs(args.ref_kwargs)
    except argparse.ArgumentTypeError as e:
        parser.error(str(e))
    img_size = args.img_size and (args.img_size[0] if len(args.img_size) == 1 else tuple(args.img_size))
    roi_size = args.roi_size and (args.roi_size[0] if len(args.roi_size) == 1 else tuple(args.roi_size))
    result = run_benchmark(
        args.model,
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
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
