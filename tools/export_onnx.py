"""Export a visionzoo model (by name or from a config) to ONNX and verify it with onnxruntime.

    .venv/bin/python tools/export_onnx.py vit_small_patch16_224 --output vit_s.onnx
    .venv/bin/python tools/export_onnx.py swin_unetr_brats --input-size 4 96 96 96 --checkpoint model.pt
    .venv/bin/python tools/export_onnx.py configs/swin_unetr_brats.py --checkpoint work_dirs/best.pth --dynamic batch

Inputs default to the model's ``pretrained_cfg["input_size"]`` at batch 1; ``--set key=value`` passes
constructor arguments (Python literals, never evaluated as code).
"""
from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path
from typing import Any

import torch

import visionzoo as vz


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _model_args(target: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """``create_model`` arguments from a registered name or a config file's ``model`` dict."""
    if target.endswith(".py"):
        from mmengine.config import Config

        if not Path(target).is_file():
            raise SystemExit(f"config file not found: {target}")
        model_cfg = dict(Config.fromfile(target).model)
        model_cfg.pop("type", None)
        network = model_cfg.get("network", model_cfg)  # engine wrappers keep the network under `network`
        return {**network, **overrides}
    return {"model_name": target, **overrides}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="registered model name, or a config file (.py) with a `model` dict")
    p.add_argument("--checkpoint", default=None, help="weights to load (official layouts are converted)")
    p.add_argument("--input-size", type=int, nargs="+", default=None, metavar="N", help="C H W or C D H W (batch 1)")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--dynamic", default="batch", choices=("none", "batch", "batch,spatial"), help="symbolic input axes")
    p.add_argument("--spatial-multiple", type=int, default=32,
                   help="with --dynamic batch,spatial: exported sizes are multiples of this (the model's total stride)")
    p.add_argument("--opset", type=int, default=18)
    p.add_argument("--output", default=None, help="output .onnx path (default: <model>.onnx)")
    p.add_argument("--no-verify", action="store_true", help="skip the onnxruntime comparison")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides = {}
    for pair in args.overrides:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set expects key=value, got {pair!r}")
        overrides[key] = _literal(value)
    model = vz.create_model(checkpoint_path=args.checkpoint, **_model_args(args.model, overrides)).eval()
    input_size = tuple(args.input_size or model.pretrained_cfg.get("input_size", (3, 224, 224)))
    example = torch.randn(args.batch_size, *input_size)
    output = args.output or f"{Path(args.model).stem}.onnx"
    vz.export_onnx(
        model,
        output,
        example,
        dynamic_batch=args.dynamic != "none",
        dynamic_spatial=args.dynamic == "batch,spatial",
        spatial_multiple=args.spatial_multiple,
        opset=args.opset,
        verify=not args.no_verify,
    )
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
