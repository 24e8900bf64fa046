"""Reading checkpoint files safely and loading them strictly, with errors that say what is wrong.

Pickles are read with ``torch.load(weights_only=True)``: a file that would need to run code to load
is refused, never executed. Safetensors files are read as such.
"""
from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from torch import Tensor

__all__ = [
    "CheckpointError",
    "read_checkpoint",
    "unwrap_state_dict",
    "load_state_dict_strict",
    "load_checkpoint",
    "prepare_state_dict",
    "COVERS_METADATA_KEY",
]

_logger = logging.getLogger(__name__)

# Wrapper keys used by the official releases we convert: timm/MS Swin/DETR ("model"), CBAM/MONAI ("state_dict").
_WRAPPER_KEYS = ("state_dict", "model", "module", "model_state", "net")
_MAX_LISTED = 12
COVERS_METADATA_KEY = "visionzoo_covers"
"""Safetensors metadata key: comma-separated model prefixes a partial (e.g. encoder-only) file provides."""


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be used: missing, corrupt, unsafe, or for another architecture."""


def _is_safetensors(path: Path) -> bool:
    if path.suffix == ".safetensors":
        return True
    try:
        with open(path, "rb") as f:
            header = f.read(9)
        return len(header) == 9 and header[8:9] == b"{"
    except OSError:
        return False


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, str]]:
    """Read a .pth/.pt/.bin pickle (weights only) or a .safetensors file -> (raw object, metadata)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file not found: {path}. Check the path (absolute paths avoid surprises).")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path} is empty (0 bytes): the download or copy was interrupted; fetch it again")
    if _is_safetensors(path):
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="pt", device="cpu") as f:
                metadata = dict(f.metadata() or {})
                return {k: f.get_tensor(k) for k in f.keys()}, metadata
        except (SafetensorError, OSError, ValueError) as e:
            raise CheckpointError(f"{path} is not a readable safetensors file ({e}); it may be truncated or corrupt") from e
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "Weights only load failed" in str(e) or "Unsupported global" in str(e):
            raise CheckpointError(
                f"refusing to load {path}: it contains Python objects that would run code when unpickled, "
                "which visionzoo never does. If you trust the file, re-save only its tensors "
                "(torch.save(model.state_dict(), ...)) or convert it with tools/convert_checkpoint.py."
            ) from e
        raise CheckpointError(f"{path} is not a PyTorch checkpoint or is corrupt ({e})") from e
    except Exception as e:  # the unpickler raises many types (EOFError, IndexError, RuntimeError...) on garbage
        raise CheckpointError(f"{path} is not a PyTorch checkpoint or is truncated/corrupt ({type(e).__name__}: {e})") from e
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a state dict of tensors")
    return dict(obj), {}


def unwrap_state_dict(obj: Mapping[str, Any], source: str = "checkpoint") -> dict[str, Tensor]:
    """Strip the wrappers publishers put around weights: ``{"model": ...}``/``{"state_dict": ...}`` and ``module.``."""
    sd: Mapping[str, Any] = obj
    for _ in range(3):  # nested wrappers, e.g. {"state_dict": {"model": ...}}
        inner = next((sd[k] for k in _WRAPPER_KEYS if isinstance(sd.get(k), Mapping)), None)
        if inner is None:
            break
        sd = inner
    tensors = {k: v for k, v in sd.items() if isinstance(v, Tensor)}
    if not tensors:
        raise CheckpointError(
            f"{source} holds no tensors (top-level keys: {sorted(obj)[:_MAX_LISTED]}); it is not a model checkpoint"
        )
    if all(k.startswith("module.") for k in tensors):
        tensors = {k[len("module."):]: v for k, v in tensors.items()}
    return tensors


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    return shown + (f", ... ({len(items) - _MAX_LISTED} more)" if len(items) > _MAX_LISTED else "")


def _top_level(keys: list[str]) -> str:
    return ", ".join(sorted({k.split(".", 1)[0] + ".*" for k in keys}))


def load_state_dict_strict(
    model: nn.Module, state_dict: Mapping[str, Tensor], source: str = "checkpoint", covers: Sequence[str] = ()
) -> None:
    """Load `state_dict` into `model`; any missing, unexpected or mis-shaped key is an error that lists them.

    `covers` (model key prefixes, e.g. ``("encoder.",)``) makes it an explicit partial load: strict on
    the covered keys, the rest keeps its fresh initialisation and the log names it.
    """
    own = model.state_dict()
    prefixes = tuple(covers)
    scope = [k for k in own if not prefixes or k.startswith(prefixes)]
    if prefixes and not scope:
        raise CheckpointError(f"{source} covers {', '.join(prefixes)}, which match no parameter of the model")
    missing = [k for k in scope if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own or (prefixes and not k.startswith(prefixes))]
    mismatched = [
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in scope
        if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or mismatched:
        arch = getattr(model, "pretrained_cfg", {}).get("architecture", type(model).__name__)
        part = f" (its {', '.join(prefixes)} part)" if prefixes else ""
        lines = [f"{source} does not fit {arch}{part}:"]
        if mismatched:
            lines.append(f"  {len(mismatched)} shape mismatches: {_listing(mismatched)}")
        if missing:
            lines.append(f"  {len(missing)} keys missing from the checkpoint: {_listing(missing)}")
        if unexpected:
            lines.append(f"  {len(unexpected)} unexpected keys in the checkpoint: {_listing(unexpected)}")
        lines.append(
            "  The checkpoint is probably for another architecture or variant (or a different num_classes/in_chans): "
            "pick the matching model name, or pass the model's num_classes/in_chans."
        )
        raise CheckpointError("\n".join(lines))
    if not prefixes:
        model.load_state_dict(state_dict, strict=True)
        return
    model.load_state_dict({**own, **state_dict}, strict=True)
    fresh = [k for k in own if k not in state_dict]
    _logger.warning(
        "partial load: %s holds only %s; loaded its %d tensors strictly, %s (%d tensors) keep their fresh initialisation",
        source, ", ".join(p + "*" for p in prefixes), len(scope), _top_level(fresh) or "nothing", len(fresh),
    )


def prepare_state_dict(
    model: nn.Module,
    raw: Mapping[str, Any],
    metadata: Mapping[str, str] | None = None,
    source: str | None = None,
    where: str = "checkpoint",
) -> tuple[dict[str, Tensor], str, tuple[str, ...]]:
    """Unwrap and convert a read checkpoint for `model` -> (state dict, layout it came from, covered prefixes).

    The layout is `source` if given, else the file's ``visionzoo_layout`` metadata, else detected.
    """
    from .converters import convert_state_dict, covered_prefixes, detect_source

    metadata = metadata or {}
    state_dict = unwrap_state_dict(raw, source=where)
    source = source or metadata.get("visionzoo_layout") or detect_source(model, state_dict)
    converted = convert_state_dict(model, state_dict, source=source)
    covers = tuple(p for p in metadata.get(COVERS_METADATA_KEY, "").split(",") if p) or covered_prefixes(model, source)
    return converted, source, covers


def load_checkpoint(model: nn.Module, path: str | os.PathLike, source: str | None = None) -> None:
    """Read `path`, convert it from its publisher's layout to the model's, and load it strictly."""
    raw, metadata = read_checkpoint(path)
    converted, source, covers = prepare_state_dict(model, raw, metadata, source=source, where=str(path))
    load_state_dict_strict(model, converted, source=str(path), covers=covers)
    _logger.info("loaded %s (%s layout) into %s", path, source, type(model).__name__)
