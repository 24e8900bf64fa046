"""Checkpoint files: atomic writes, and loading that never executes pickled code.

Both live in `visionzoo.utils.files` (the one implementation the library and the tools share) and are
re-exported here for the engine's callers.

Writing: `atomic_write` puts bytes in a temporary file of the same folder, fsyncs it, then
``os.replace``-s it over the destination, so a reader (or a resume after a crash) sees the old file or the
new one, never a partial one. `VisionzooRunner.save_checkpoint` and the ``last_checkpoint`` pointer
both go through it.

Loading: `load_checkpoint_file` is `visionzoo.utils.safe_torch_load` (``torch.load(weights_only=True)`` with a
small allow-list of numpy value types); `VisionzooRunner.load_checkpoint` reads local files through it, so
``--resume``, ``load_from`` and ``tools/test.py`` all use it, while mmengine's global loader is left as it is for
any other OpenMMLab model in the same process. mmengine's ``HistoryBuffer`` is *not*
allow-listed: its ``__getstate__`` pickles its statistics functions through ``builtins.getattr``, and
allowing ``getattr`` in the unpickler would let a crafted file reach any attribute of any object
(arbitrary code). Instead `plain_message_hub` stores the buffers as tensors when saving and
`restore_message_hub` rebuilds them after loading.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

from ..utils.files import (
    SAFE_GLOBALS,
    atomic_symlink,
    atomic_write,
    atomic_write_text,
    is_temp_path,
    safe_torch_load,
    temp_path_for,
)
from ..utils.files import UnsafeCheckpointError as CheckpointSecurityError

__all__ = [
    "atomic_write", "atomic_write_text", "atomic_symlink", "temp_path_for", "is_temp_path", "load_checkpoint_file",
    "SAFE_GLOBALS", "to_plain", "plain_message_hub", "restore_message_hub", "CheckpointSecurityError",
    "checkpoint_to_run",
]

_BUFFER_MARK = "_visionzoo_history_buffer"


def load_checkpoint_file(filename: str | os.PathLike, map_location: Any = None) -> Any:
    """``torch.load(filename, weights_only=True)`` allowing only `SAFE_GLOBALS`; refuses anything else.

    Raises `CheckpointSecurityError` (naming the file and the offending global) instead of running code.
    """
    path = Path(filename).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist.")
    return safe_torch_load(path, map_location=map_location)


def checkpoint_to_run(cfg: Any, checkpoint: str | os.PathLike | None, purpose: str = "run") -> Path | None:
    """The existing `checkpoint` file, or None where the config's model dict names its own weights (a ``name.tag``
    with ``pretrained=True``, or ``checkpoint_path=``); anything else is a FileNotFoundError saying what to pass."""
    if checkpoint is None:
        model_cfg = cfg.get("model") or {}
        if not (model_cfg.get("pretrained") or model_cfg.get("checkpoint_path")):
            raise FileNotFoundError(
                f"no weights to {purpose}: pass CHECKPOINT, or name published weights with --cfg-options "
                "model.name=<model>.<tag> +model.pretrained=True (or +model.checkpoint_path=FILE).")
        return None
    path = Path(checkpoint).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist.")
    return path


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
