"""Writing files so that readers never see half of one, and reading pickles without running code.

Writing: `atomic_write` yields a temporary path beside the destination (``.NAME.tmp-PID-XXXXXXXX``); the
caller writes a file (or builds a folder) there, and on a clean exit it is fsynced and ``os.replace``-d
onto the destination, whose folder is then fsynced. A reader, or a resume after a crash, sees the old
content or the new, never a partial one. On an exception the temporary path is removed and the destination
is untouched. `atomic_write_text` / `atomic_write_bytes` are the one-call forms, `publish_file` moves a
finished file (e.g. a resumable ``.part`` download) into place the same way, and `atomic_symlink` repoints
a link.

Reading: `safe_torch_load` is ``torch.load(weights_only=True)`` with an allow-list of plain numpy value
types (`SAFE_GLOBALS`: scalars, arrays, dtypes). A file that references any other Python global, which
unpickling would have to import or call, is refused with `UnsafeCheckpointError` before anything of it
runs.
"""
from __future__ import annotations

import contextlib
import logging
import os
import pickle
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "atomic_write",
    "atomic_write_text",
    "atomic_write_bytes",
    "atomic_symlink",
    "publish_file",
    "temp_path_for",
    "is_temp_path",
    "safe_torch_load",
    "SAFE_GLOBALS",
    "UnsafeCheckpointError",
]

_logger = logging.getLogger(__name__)
_TMP_MARK = ".tmp-"
_np_multiarray = getattr(np, "_core", None) or np.core  # numpy 2 / numpy 1

SAFE_GLOBALS: list[Callable] = [
    _np_multiarray.multiarray.scalar, _np_multiarray.multiarray._reconstruct, np.ndarray, np.dtype,
    *{type(np.dtype(t)) for t in (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.float16, np.float32,
                                  np.float64)},
]
"""Globals a pickle may reference besides torch's own: numpy scalars, arrays and dtypes (plain values)."""


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A pickle references a Python global outside the weights-only allow-list; none of it was executed."""


# --- writing ----------------------------------------------------------------------------------------
def temp_path_for(path: str | os.PathLike) -> Path:
    """A fresh hidden temporary name ``.NAME.tmp-PID-XXXXXXXX`` beside `path`, where `atomic_write` stages its content."""
    p = Path(path)
    return p.with_name(f".{p.name}{_TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}")


def is_temp_path(path: str | os.PathLike) -> bool:
    """True for a name that `temp_path_for` made (left behind only by a killed writer)."""
    name = Path(path).name
    return name.startswith(".") and _TMP_MARK in name


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be opened or fsynced
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def publish_file(src: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Move the finished file (or folder) `src` onto `dest` atomically: fsync it, ``os.replace``, fsync the folder."""
    src, dest = Path(src), Path(dest)
    if src.is_file():
        with open(src, "rb+") as f:
            os.fsync(f.fileno())
    os.replace(src, dest)
    _fsync_dir(dest.parent)
    return dest


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on a clean exit publish what was written there onto `path`.

    Write a file at the yielded path (``torch.save(obj, tmp)``, ``save_file(tensors, str(tmp))``) or make a
    folder there. On an exception the temporary path is removed and `path` is untouched.
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(dest)
    try:
        yield tmp
        publish_file(tmp, dest)
    except BaseException:
        _remove(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write `text` to `path` atomically (no newline translation: ``"\\n"`` stays ``"\\n"`` everywhere)."""
    with atomic_write(path) as tmp, open(tmp, "w", encoding=encoding, newline="") as f:
        f.write(text)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_write(path) as tmp:
        tmp.write_bytes(data)


def atomic_symlink(link: str | os.PathLike, target: str) -> bool:
    """Point the symlink `link` at `target` (relative to the link's folder) atomically; False where links are unsupported."""
    link = Path(link)
    tmp = temp_path_for(link)
    try:
        os.symlink(target, tmp)
        os.replace(tmp, link)
        return True
    except OSError as e:
        _logger.debug("could not point %s at %s: %s", link, target, e)
        with contextlib.suppress(OSError):
            tmp.unlink()
        return False


# --- reading ----------------------------------------------------------------------------------------
def _refusal(error: pickle.UnpicklingError) -> bool:
    text = str(error)
    return "Weights only load failed" in text or "Unsupported global" in text


def safe_torch_load(
    path: str | os.PathLike, map_location: Any = "cpu", extra_globals: Iterable[Callable] = ()
) -> Any:
    """``torch.load(path, weights_only=True)`` allowing only `SAFE_GLOBALS` (and `extra_globals`).

    A file that references any other Python global raises `UnsafeCheckpointError`, naming the file and the
    global, instead of running it. Other errors (missing, truncated or corrupt files) are torch's own.
    """
    path = Path(path).expanduser()
    try:
        with torch.serialization.safe_globals([*SAFE_GLOBALS, *extra_globals]):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        if not _refusal(e):
            raise
        detail = [line.strip() for line in str(e).strip().splitlines() if line.strip()]
        reason = next((line for line in detail if "GLOBAL" in line or "global" in line), detail[0] if detail else "")
        raise UnsafeCheckpointError(
            f"refusing to load {str(path)!r}: it references Python objects outside the weights-only allow-list, "
            f"which would run code when unpickled ({reason}); visionzoo never does that. If you trust the file, "
            "re-save only its tensors (torch.save(model.state_dict(), ...)) or convert it with "
            "tools/convert_checkpoint.py."
        ) from e
