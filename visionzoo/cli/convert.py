"""Convert an official checkpoint into a visionzoo .safetensors file (strict, with provenance metadata).

    .venv/bin/python tools/convert_checkpoint.py swin_unetr_brats fold1/model.pt swin_unetr_brats_fold1.safetensors --tag brats21_fold1
    .venv/bin/python tools/convert_checkpoint.py swin_tiny_patch4_window7_224 swin_tiny_patch4_window7_224.pth out.safetensors
    .venv/bin/python tools/convert_checkpoint.py swin_unetr model_swinvit.pt ssl_encoder.safetensors --source monai_ssl
    visionzoo convert swin_tiny_patch4_window7_224 swin_tiny_patch4_window7_224.pth out.safetensors

SRC may be in any layout the model family's converters know (detected, or forced with --source);
the weights are loaded strictly, so a file for another variant fails and lists the missing and
unexpected keys. ``create_model(MODEL, checkpoint_path=DST)`` then loads DST without conversion.
``--set key=value`` passes constructor arguments (Python literals, never evaluated as code).
"""
from __future__ import annotations

import argparse
import ast
from typing import Any

from ._errors import UserError, run_main


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="registered model name (optionally NAME.TAG)")
    p.add_argument("src", help="official checkpoint (.pth/.pt/.bin/.safetensors)")
    p.add_argument("dst", help="output .safetensors file (written atomically)")
    p.add_argument("--source", default=None, help="force the checkpoint layout (e.g. timm, microsoft, monai, monai_ssl)")
    p.add_argument("--tag", default=None, help="weight tag to record in the metadata (e.g. brats21_fold1)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="model constructor argument, e.g. --set feature_size=24 --set 'depths=(2,2,2,2)'")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return p


def _main(argv: list[str], prog: str | None = None) -> int:
    from visionzoo.factory import convert_checkpoint

    args = build_parser(prog).parse_args(argv)
    kwargs = {}
    for pair in args.overrides:
        key, sep, value = pair.partition("=")
        if not sep:
            raise UserError(f"--set expects key=value, got {pair!r}")
        kwargs[key] = _literal(value)
    meta = convert_checkpoint(args.model, args.src, args.dst, source=args.source, tag=args.tag, model_kwargs=kwargs)
    print(f"wrote {args.dst}")
    for key, value in meta.items():
        print(f"  {key}: {value}")
    return 0


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    return run_main(lambda a: _main(a, prog), argv, user_errors=(KeyError, ValueError), keep_lines=True)
