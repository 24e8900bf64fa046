"""The ``visionzoo`` command (also ``python -m visionzoo``): one entry point for every tool.

    visionzoo list [PATTERN] [--pretrained | --configs]
    visionzoo info NAME
    visionzoo train CONFIG [--work-dir DIR] [--cfg-options KEY=VALUE ...]
    visionzoo test CONFIG [CHECKPOINT]
    visionzoo infer CONFIG [CHECKPOINT] INPUT... --out DIR      (or --onnx MODEL.onnx INPUT... --out DIR)
    visionzoo export MODEL|CONFIG [--checkpoint CKPT]
    visionzoo benchmark MODEL [--compare timm]
    visionzoo download NAME.TAG
    visionzoo convert MODEL SRC DST

CONFIG is a file or the name of a packaged config (``swin_unetr_brats_synthetic``,
``classification/swin_tiny_in1k``): `visionzoo.cli._configs.resolve_config`. ``tools/*.py`` are thin wrappers
over the same modules. This package is the top layer: nothing else in visionzoo imports it.

For scripts of their own, tools use `run_main` (user errors as one ``error:`` line, exit status 2), `UserError`
and the argparse types `positive_int` / `non_negative_int` from here.
"""
from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from ._errors import UserError, run_main
from ._options import non_negative_int, positive_int

__all__ = ["COMMANDS", "main", "run_main", "UserError", "positive_int", "non_negative_int"]

COMMANDS: dict[str, tuple[str, str]] = {  # command -> (module, one-line summary)
    "list": ("listing", "list registered models, pretrained weight tags (--pretrained) or packaged configs (--configs)"),
    "info": ("info", "params, GMACs, input, weight tags, licence and model card of a model"),
    "train": ("train", "train from a config (mmengine Runner)"),
    "test": ("test", "evaluate a checkpoint on a config's test split"),
    "infer": ("infer", "predict on images, BraTS cases or volumes (a config + checkpoint, or an ONNX file)"),
    "export": ("export", "export a model or a config's model to ONNX (verified with onnxruntime)"),
    "benchmark": ("benchmark", "params, GMACs, throughput and memory, optionally against timm/MONAI/torchvision"),
    "download": ("download", "pre-fill the weight cache (air-gapped machines)"),
    "convert": ("convert", "convert an official checkpoint into a visionzoo .safetensors file"),
}


def _usage() -> str:
    from visionzoo import __version__

    width = max(map(len, COMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items())
    return (f"usage: visionzoo [--version] COMMAND [ARGS...]\n\nvisionzoo {__version__}: vision backbones and heads, "
            f"and the tools to train, test, export and benchmark them.\n\ncommands:\n{rows}\n\n"
            "`visionzoo COMMAND --help` describes a command; --debug shows the traceback of an error.\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``visionzoo COMMAND ARGS...`` to ``visionzoo.cli.COMMAND.main(ARGS)``; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = [a for a in args if a == "--debug"]
    rest = [a for a in args if a != "--debug"]
    if not rest or rest[0] in ("-h", "--help", "help"):
        if len(rest) > 1 and rest[0] == "help" and rest[1] in COMMANDS:
            return main([rest[1], "--help"])
        print(_usage(), end="")
        return 0
    if rest[0] == "--version":
        from visionzoo import __version__

        print(f"visionzoo {__version__}")
        return 0
    command = rest[0]
    if command not in COMMANDS:
        import difflib

        close = difflib.get_close_matches(command, list(COMMANDS), n=3)
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        print(f"error: unknown command {command!r}{hint}; commands: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"{__name__}.{COMMANDS[command][0]}")
    return module.main([*rest[1:], *debug], prog=f"visionzoo {command}")
