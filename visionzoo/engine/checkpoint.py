"""Checkpoint files: atomic writes, and loading that never executes pickled code.

Writing: `atomic_write` puts bytes in a temporary file of the same folder, fsyncs it, then
``os.replace``-s it over the destination, so a reader (or a resume after a crash) sees the old file or the
new one, never a partial one. `VisionzooRunner.save_checkpoint` and the ``last_checkpoint`` pointer
both go through it.

Loading: `load_checkpoint_file` is ``torch.load(weights_only=True)`` with a small allow-list of numpy
value types; it is registered as mmengine's loader for local paths, so ``--resume``, ``load_from`` and
``tools/test.py`` all use it. mmengine's ``HistoryBuffer`` is *not* allow-listed: its ``__getstate__``
pickles its statistics functions through ``builtins.getattr``, and allowing ``getattr`` in the unpickler
would let a crafted file reach any attribute of any object (arbitrary code). Instead `plain_message_hub`
stores the buffers as tensors when saving and `restore_message_hub` rebuilds them after loading.
"""
from __future__ import annotations

import contextlib
import logging
import os
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

__all__ = [
    "atomic_write", "atomic_write_text", "atomic_symlink", "temp_path_for", "is_temp_path", "load_checkpoint_file",
    "SAFE_GLOBALS", "to_plain", "plain_message_hub", "restore_message_hub", "CheckpointSecurityError",
]

_logger = logging.getLogger(__name__)
_TMP_MARK = ".tmp-"
_np_multiarray = getattr(np, "_core", None) or np.core  # numpy 2 / numpy 1
_BUFFER_MARK = "_visionzoo_history_buffer"

SAFE_GLOBALS: list[Callable] = [
    _np_multiarray.multiarray.scalar, _np_multiarray.multiarray._reconstruct, np.ndarray, np.dtype,
    *{type(np.dtype(t)) for t in (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.float16, np.float32,
                                  np.float64)},
]
"""Globals a checkpoint may reference besides torch's own: numpy scalars, arrays and dtypes (plain values)."""


class CheckpointSecurityError(pickle.UnpicklingError):
    """A checkpoint references a Python global outside the weights-only allow-list; it was not executed."""


def temp_path_for(path: str | os.PathLike) -> Path:
    """The hidden temporary name ``.NAME.tmp-PID`` next to `path`, where `atomic_write` stages its bytes."""
    p = Path(path)
    return p.with_name(f".{p.name}{_TMP_MARK}{os.getpid()}")


def is_temp_path(path: str | os.PathLike) -> bool:
    """True for a file name that `temp_path_for` made (left behind only by a killed writer)."""
    name = Path(path).name
    return name.startswith(".") and _TMP_MARK in name


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be opened or fsynced
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on a clean exit fsync it and ``os.replace`` it onto `path`.

    On an exception the temporary file is removed and `path` is untouched.
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(dest)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` atomically (see `atomic_write`)."""
    with atomic_write(path) as tmp:
        tmp.write_text(text)


def atomic_symlink(link: str | os.PathLike, target: str) -> bool:
    """Point the symlink `link` at `target` (relative to the link's folder) atomically; False where links are unsupported."""
    link = Path(link)
    tmp = link.with_name(f".{link.name}{_TMP_MARK}{os.getpid()}")
    try:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(target, tmp)
        os.replace(tmp, link)
        return True
    except OSError as e:
        _logger.debug("could not point %s at %s: %s", link, target, e)
        with contextlib.suppress(OSError):
            tmp.unlink()
        return False


def load_checkpoint_file(filename: str | os.PathLike, map_location: Any = None) -> Any:
    """``torch.load(filename, weights_only=True)`` allowing only `SAFE_GLOBALS`; refuses anything else.

    Raises `CheckpointSecurityError` (naming the file and the offending global) instead of running code.
    """
    path = Path(filename).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist.")
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        detail = str(e).strip().splitlines()
        reason = next((line for line in detail if "GLOBAL" in line or "global" in line), detail[0] if detail else "")
        raise CheckpointSecurityError(
            f"refusing to load {str(path)!r}: it references Python objects outside the weights-only allow-list, "
            f"which could run code ({reason.strip()}). visionzoo checkpoints hold tensors and plain values only; "
            f"if you trust this file, load it yourself and re-save just its 'state_dict'."
        ) from e


def _load_from_local(filename: str, map_location: Any = None) -> Any:
    return load_checkpoint_file(filename, map_location)


CheckpointLoader.register_scheme(prefixes="", loader=_load_from_local, force=True)


def to_plain(value: Any) -> Any:
    """numpy values -> Python scalars / tensors, recursively, so weights-only loading needs no numpy at all."""
    if isinstance(value, HistoryBuffer):
        log, count = value.data
        return {_BUFFER_MARK: True, "log": torch.from_numpy(np.asarray(log).copy()),
                "count": torch.from_numpy(np.asarray(count).copy()), "max_length": int(value.max_length)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    if isinstance(value, dict):
        return type(value)((k, to_plain(v)) for k, v in value.items())
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # namedtuple
        return type(value)(*(to_plain(v) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(to_plain(v) for v in value)
    return value


def plain_message_hub(state: dict) -> dict:
    """A MessageHub state dict with HistoryBuffers (and numpy values) as tensors and plain values."""
    return to_plain(state)


def restore_message_hub(state: dict) -> dict:
    """Inverse of `plain_message_hub` for the log buffers (numpy values come back as Python scalars)."""
    scalars = state.get("log_scalars")
    if isinstance(scalars, dict):
        for key, value in list(scalars.items()):
            if isinstance(value, dict) and value.get(_BUFFER_MARK):
                scalars[key] = HistoryBuffer(value["log"].numpy(), value["count"].numpy(), value["max_length"])
    return state
