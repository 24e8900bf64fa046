"""One way for every command to fail on a user error: ``error: ...`` on stderr, exit status 2, no traceback.

    def main(argv=None) -> int:
        return run_main(_main, argv)

`run_main` calls ``fn(argv)`` and turns the exceptions that mean "the input was wrong" (a missing file or
config, an unknown model or config key, bad data, a checkpoint that does not fit, a missing optional
dependency) into one ``error:`` line. ``--debug`` anywhere on the command line (or ``VISIONZOO_DEBUG=1``)
shows the traceback instead. Anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

from visionzoo.utils.extras import EXTRAS, MissingDependencyError, missing_dependency, require

__all__ = ["UserError", "MissingDependencyError", "EXTRAS", "is_user_error", "missing_dependency", "one_line", "require",
           "run_main", "import_engine"]


class UserError(Exception):
    """A mistake in the command line or its inputs: reported as one ``error:`` line, exit status 2."""


def import_engine():
    """``visionzoo.engine``, or the `MissingDependencyError` naming ``[train]`` (mmengine, OpenCV, tensorboard).

    The medical and detection parts need ``[medical]`` / ``[detection]`` too; a config that uses one of them
    without it fails in `visionzoo.engine.check_config_types` with the extra to install.
    """
    try:
        import visionzoo.engine as engine
    except ModuleNotFoundError as e:
        raise (missing_dependency(e, "configs, training, testing and inference") or e) from e
    return engine


def _base_user_errors() -> tuple[type[BaseException], ...]:
    """The user-error classes; those of modules not imported yet cannot have been raised, so they are not imported
    here (``visionzoo.data`` and ``visionzoo.engine`` need the optional dependencies)."""
    errors: list[type[BaseException]] = [UserError, FileNotFoundError, NotADirectoryError, FileExistsError]
    for module, name in (("visionzoo.weights.checkpoint", "CheckpointError"), ("visionzoo.data.formats", "DataFormatError"),
                         ("visionzoo.engine", "USER_ERRORS")):
        found = getattr(sys.modules.get(module), name, None)
        if isinstance(found, tuple):
            errors += found
        elif isinstance(found, type):
            errors.append(found)
    return tuple(errors)


def is_user_error(error: BaseException, extra: Sequence[type[BaseException]] = ()) -> bool:
    """True for the exceptions `run_main` reports as one line (see the module docstring)."""
    if missing_dependency(error) is not None:
        return True
    return isinstance(error, (*_base_user_errors(), *extra))


def one_line(error: BaseException, keep_lines: bool = False) -> str:
    """The message of `error` for ``error: ...``.

    One line by default (a multi-line message keeps its first and last lines); with `keep_lines` the further
    lines follow below the first (a checkpoint's missing/unexpected key listing).
    """
    error = missing_dependency(error) or error
    text = str(error)
    if isinstance(error, KeyError) and len(error.args) == 1 and text.startswith(("'", '"')):
        text = str(error.args[0])  # KeyError repr-quotes its message
    if keep_lines:
        lines = [line.rstrip() for line in text.splitlines() if line.strip()] or [type(error).__name__]
        return "\n".join(lines)
    lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()] or [type(error).__name__]
    return lines[0] if len(lines) == 1 else f"{lines[0]}. {lines[-1]}"


def run_main(fn: Callable[[list[str]], int | None], argv: Sequence[str] | None = None, *,
             user_errors: Sequence[type[BaseException]] = (), keep_lines: bool = False) -> int:
    """``fn(argv)``'s exit status, with user errors (plus `user_errors`) as one ``error:`` line and status 2.

    ``--debug`` is taken out of `argv` (it re-raises instead); ``SystemExit`` (argparse's usage errors, exit 2)
    passes through.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("VISIONZOO_DEBUG", "") not in ("", "0")
    args = [a for a in args if a != "--debug"]
    try:
        return int(fn(args) or 0)
    except KeyboardInterrupt:
        if debug:
            raise
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if debug or not is_user_error(e, user_errors):
            raise
        print(f"error: {one_line(e, keep_lines)}", file=sys.stderr)
        return 2
