"""Reading checkpoint files safely and loading them strictly, with errors that say what is wrong.

Pickles are read with `visionzoo.utils.safe_torch_load` (``torch.load(weights_only=True)``, plain numpy
values allowed): a file that would need to run code to load is refused, never executed. Safetensors files are read as such.

What ``tools/train.py`` writes loads here too. Its checkpoints are mmengine's: ``{"meta": {...},
"state_dict": {...}, "optimizer": ..., "message_hub": ..., ...}``, where ``state_dict`` is the engine
wrapper's (``VolumeSegmenter``, ``Detector``, ``ImageClassifier``), which keeps the network as ``self.net``.
`unwrap_state_dict` takes exactly the network's weights: the ``net.`` keys with the prefix stripped; the
wrapper's own tensors (``criterion.*``, ``data_preprocessor.*``, ``loss_fn.*``) are dropped. The same
holds for a bare ``torch.save(wrapper.state_dict())`` (``net.`` keys), a DDP ``module.`` prefix, and
of course a bare ``torch.save(network.state_dict())``.

EMA: mmengine's ``EMAHook.before_save_checkpoint`` swaps the two copies before saving, so a checkpoint of
a run with EMA holds the averaged (EMA) weights in ``state_dict`` ("so that we can directly load the
averaged model weights for deployment") and the raw training weights in ``ema_state_dict`` (as
``module.net.*``, next to the averager's ``steps``). Loading takes ``state_dict``, i.e. the EMA weights,
which are also what the run validated with (the hook swaps them in before every validation).
`checkpoint_meta` returns the file's mmengine ``meta`` (config text ``cfg``, ``dataset_meta`` with the
class names or regions, epoch, iteration).
"""
from __future__ import annotations

import logging
import os
import pickle
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch.nn as nn
from torch import Tensor

from ..utils.files import UnsafeCheckpointError, safe_torch_load
from .converters import convert_state_dict, covered_prefixes, detect_source

__all__ = [
    "CheckpointError",
    "read_checkpoint",
    "unwrap_state_dict",
    "load_state_dict_strict",
    "load_checkpoint",
    "prepare_state_dict",
    "COVERS_METADATA_KEY",
    "checkpoint_meta",
    "trained_model_name",
    "is_training_checkpoint",
    "NETWORK_PREFIX",
    "WRAPPER_OWN_PREFIXES",
]

_logger = logging.getLogger(__name__)

# Wrapper keys used by the official releases we convert: timm/MS Swin/DETR ("model"), CBAM/MONAI ("state_dict").
_WRAPPER_KEYS = ("state_dict", "model", "module", "model_state", "net")
_MAX_LISTED = 12
COVERS_METADATA_KEY = "visionzoo_covers"
"""Safetensors metadata key: comma-separated model prefixes a partial (e.g. encoder-only) file provides."""


NETWORK_PREFIX = "net."
"""Where the engine's wrapper models (``VolumeSegmenter``, ``Detector``, ``ImageClassifier``) keep the network."""
WRAPPER_OWN_PREFIXES = ("criterion.", "data_preprocessor.", "loss_fn.")
"""Tensors of an engine wrapper that are not the network's (loss buffers, e.g. DETR's ``criterion.empty_weight``)."""


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
        obj = safe_torch_load(path, map_location="cpu")
    except UnsafeCheckpointError as e:
        raise CheckpointError(str(e)) from e
    except pickle.UnpicklingError as e:
        raise CheckpointError(f"{path} is not a PyTorch checkpoint or is corrupt ({e})") from e
    except Exception as e:  # the unpickler raises many types (EOFError, IndexError, RuntimeError...) on garbage
        raise CheckpointError(f"{path} is not a PyTorch checkpoint or is truncated/corrupt ({type(e).__name__}: {e})") from e
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a state dict of tensors")
    return dict(obj), {}


def is_training_checkpoint(obj: Mapping[str, Any]) -> bool:
    """True for what ``tools/train.py`` writes: mmengine's ``meta`` + ``state_dict`` whose network keys start ``net.``."""
    sd = obj.get("state_dict")
    return (
        isinstance(obj.get("meta"), Mapping)
        and isinstance(sd, Mapping)
        and any(isinstance(k, str) and k.startswith((NETWORK_PREFIX, "module." + NETWORK_PREFIX)) for k in sd)
    )


def _strip_prefix(tensors: Mapping[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {k[len(prefix):]: v for k, v in tensors.items()}


def unwrap_state_dict(
    obj: Mapping[str, Any], source: str = "checkpoint", network_prefix: str | None = NETWORK_PREFIX
) -> dict[str, Tensor]:
    """Strip the wrappers around weights: ``{"model": ...}``/``{"state_dict": ...}``, ``module.``, and an engine model.

    A training checkpoint (`is_training_checkpoint`) gives its ``state_dict``'s ``net.`` tensors with the prefix
    stripped (the wrapper's own tensors are dropped); so does a bare state dict whose keys are ``net.*`` plus only
    `WRAPPER_OWN_PREFIXES`. With EMA, ``state_dict`` holds the EMA weights (see the module docstring).
    `network_prefix=None` keeps ``net.`` keys as they are (for a model whose own parameters live under ``net.``).
    """
    training = is_training_checkpoint(obj)
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
    if all(k.startswith("module.") for k in tensors):  # DDP
        tensors = _strip_prefix(tensors, "module.")
    if network_prefix:
        network = {k: v for k, v in tensors.items() if k.startswith(network_prefix)}
        others = [k for k in tensors if not k.startswith(network_prefix)]
        # a training checkpoint's state_dict is the wrapper's: everything outside net. belongs to the wrapper
        if network and (training or all(k.startswith(WRAPPER_OWN_PREFIXES) for k in others)):
            if others:
                _logger.debug("%s: dropped the engine wrapper's own tensors %s", source, _top_level(others))
            tensors = _strip_prefix(network, network_prefix)
    return tensors


def checkpoint_meta(path: str | os.PathLike) -> dict[str, Any]:
    """The mmengine ``meta`` of a training checkpoint (``cfg`` text, ``dataset_meta``, epoch, ...), else ``{}``.

    Read like every checkpoint here (weights only; a file that would run code is refused).
    """
    raw, _ = read_checkpoint(path)
    meta = raw.get("meta")
    return dict(meta) if isinstance(meta, Mapping) else {}


def trained_model_name(meta: Mapping[str, Any]) -> str | None:
    """The ``name`` of the ``model = dict(...)`` in a training checkpoint's config text (``meta["cfg"]``), if any."""
    cfg = meta.get("cfg")
    start = re.search(r"^model\s*=\s*dict\(", cfg, re.M) if isinstance(cfg, str) else None
    if not start:
        return None
    depth = 0
    for token in re.finditer(r"[()]|(?<![\w.])name\s*=\s*['\"]([^'\"]+)['\"]", cfg[start.end():]):
        if token.group(0) in "()":
            depth += 1 if token.group(0) == "(" else -1
            if depth < 0:  # the end of model's dict
                return None
        elif depth == 0:  # model's own key, not a nested dict's
            return token.group(1)
    return None


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
        counts = [f"{len(v)} {what}" for v, what in ((missing, "keys missing"), (unexpected, "unexpected keys"),
                                                      (mismatched, "shape mismatches")) if v]
        lines = [f"{source} does not fit {arch}{part}: {', '.join(counts)}"]
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
    metadata = metadata or {}
    own_net = any(k.startswith(NETWORK_PREFIX) for k in model.state_dict())  # a network with its own `net` child
    state_dict = unwrap_state_dict(raw, source=where, network_prefix=None if own_net else NETWORK_PREFIX)
    source = source or metadata.get("visionzoo_layout") or detect_source(model, state_dict)
    converted = convert_state_dict(model, state_dict, source=source)
    covers = tuple(p for p in metadata.get(COVERS_METADATA_KEY, "").split(",") if p) or covered_prefixes(model, source)
    return converted, source, covers


def load_checkpoint(model: nn.Module, path: str | os.PathLike, source: str | None = None) -> None:
    """Read `path`, convert it from its publisher's layout to the model's, and load it strictly."""
    raw, metadata = read_checkpoint(path)
    converted, source, covers = prepare_state_dict(model, raw, metadata, source=source, where=str(path))
    where = str(path)
    if is_training_checkpoint(raw):  # name what it was trained as: the first line of a mismatch then says it all
        trained = trained_model_name(raw["meta"])
        where += f" (a training checkpoint of {trained})" if trained else " (a training checkpoint)"
    load_state_dict_strict(model, converted, source=where, covers=covers)
    _logger.info("loaded %s (%s layout) into %s", path, source, type(model).__name__)
