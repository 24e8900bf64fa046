"""``--cfg-options key=value ...``: `visionzoo.engine.CfgOptionsAction` (mmengine's `DictAction`, strict about
``=``), imported when the option is used, so ``--help`` and the commands that take no config run without mmengine."""
from __future__ import annotations

import argparse

__all__ = ["DictAction", "positive_int", "non_negative_int"]


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1 (batch sizes, counts, runs); anything else is a usage error."""
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """argparse type: a whole number >= 0 (warm-up steps, optional counts)."""
    return _int_at_least(text, 0)


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
    return value


class DictAction(argparse.Action):
    """Delegates to ``visionzoo.engine.CfgOptionsAction`` (values parse as Python literals, lists, tuples)."""

    def __call__(self, parser, namespace, values, option_string=None):  # noqa: D102, ANN001 (argparse's signature)
        from ._errors import import_engine

        action = import_engine().CfgOptionsAction(self.option_strings, self.dest, nargs=self.nargs,
                                                  default=self.default, metavar=self.metavar)
        action(parser, namespace, values, option_string)
