"""``--cfg-options key=value ...``: `visionzoo.engine.CfgOptionsAction` (mmengine's `DictAction`, strict about
``=``), imported when the option is used, so ``--help`` and the commands that take no config run without mmengine."""
from __future__ import annotations

import argparse

__all__ = ["DictAction"]


class DictAction(argparse.Action):
    """Delegates to ``visionzoo.engine.CfgOptionsAction`` (values parse as Python literals, lists, tuples)."""

    def __call__(self, parser, namespace, values, option_string=None):  # noqa: D102, ANN001 (argparse's signature)
        from ._errors import import_engine

        action = import_engine().CfgOptionsAction(self.option_strings, self.dest, nargs=self.nargs, default=self.default,
                                  metavar=self.metavar)
        action(parser, namespace, values, option_string)
