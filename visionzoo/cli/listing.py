"""List registered models, their pretrained weight tags, or the packaged configs.

    visionzoo list                      # every registered model
    visionzoo list '*swin*'             # fnmatch pattern
    visionzoo list 'vit*' --pretrained  # NAME.TAG weight entries
    visionzoo list --configs            # configs that `visionzoo train NAME` resolves
"""
from __future__ import annotations

import argparse
import fnmatch

from ._errors import UserError, run_main


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern, e.g. '*swin*' (default: all)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--pretrained", action="store_true", help="list NAME.TAG pretrained weight entries instead")
    what.add_argument("--configs", action="store_true", help="list the packaged configs instead")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return p


def _main(argv: list[str], prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    if args.configs:
        from ._configs import list_configs

        names = [n for n in list_configs() if fnmatch.fnmatch(n, args.pattern) or fnmatch.fnmatch(n.rsplit("/", 1)[-1], args.pattern)]
    else:
        import visionzoo as vz

        names = vz.list_pretrained(args.pattern) if args.pretrained else vz.list_models(args.pattern)
    if not names:
        kind = "configs" if args.configs else "weight tags" if args.pretrained else "models"
        raise UserError(f"no {kind} match {args.pattern!r}")
    print("\n".join(names))
    return 0


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    return run_main(lambda a: _main(a, prog), argv)
