"""Converting an official checkpoint into a visionzoo ``.safetensors`` file, strictly, with provenance metadata."""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from ..utils.files import atomic_write
from .checkpoint import COVERS_METADATA_KEY, load_state_dict_strict, prepare_state_dict, read_checkpoint
from .hub import sha256_file

__all__ = ["convert_checkpoint"]

_logger = logging.getLogger(__name__)


def convert_checkpoint(
    model_name: str,
    src: str | os.PathLike,
    dst: str | os.PathLike,
    source: str | None = None,
    tag: str | None = None,
    model_kwargs: dict[str, Any] | None = None,
) -> dict[str, str]:
    """Convert `src` (any layout our converters know, or `source`) for `model_name` into `dst` (.safetensors).

    The weights are loaded strictly into the model first, so a file for another variant fails with the
    missing/unexpected keys listed. Returns the metadata written: model, tag, source file sha256,
    converter source and ``visionzoo_layout="visionzoo"`` (so loading it needs no conversion).
    """
    from safetensors.torch import save_file

    from ..registry import create_model, get_pretrained_cfg, split_model_name_tag

    src, dst = Path(src).expanduser(), Path(dst).expanduser()
    if dst.suffix != ".safetensors":
        raise ValueError(f"the destination must be a .safetensors file, got {dst}")
    if dst.exists() and src.exists() and dst.resolve() == src.resolve():
        raise ValueError(f"source and destination are the same file: {src}")
    arch, name_tag = split_model_name_tag(model_name)
    tag = tag or name_tag
    kwargs = dict(model_kwargs or {})
    cfg = get_pretrained_cfg(f"{arch}.{tag}") if tag and _is_registered(arch, tag) else {}
    if cfg.get("num_classes") is not None:
        kwargs.setdefault("num_classes", cfg["num_classes"])  # the head the release was trained with
    model = create_model(arch, **kwargs)

    raw, metadata = read_checkpoint(src)
    # the layout: `source`, else the file's metadata, else detected — exactly as checkpoint_path= reads it
    state_dict, used, covers = prepare_state_dict(model, raw, metadata, source=source, where=str(src))
    load_state_dict_strict(model, state_dict, source=str(src), covers=covers)
    own = model.state_dict()
    tensors = {k: v.detach().contiguous() for k, v in own.items() if not covers or k.startswith(tuple(covers))}

    out_meta = {
        "format": "pt",
        "visionzoo_layout": "visionzoo",
        "model": arch,
        "converter_source": used,
        "source_file": src.name,
        "source_sha256": sha256_file(src),
    }
    if tag:
        out_meta["tag"] = tag
    if covers:
        out_meta[COVERS_METADATA_KEY] = ",".join(covers)
    if kwargs:
        out_meta["model_kwargs"] = json.dumps(kwargs, sort_keys=True, default=str)
    with atomic_write(dst) as tmp:
        save_file(tensors, str(tmp), metadata=out_meta)
    _logger.info("converted %s (%s layout) -> %s (%d tensors)", src, used, dst, len(tensors))
    return out_meta


def _is_registered(arch: str, tag: str) -> bool:
    from ..registry import list_pretrained

    return f"{arch}.{tag}" in list_pretrained(f"{arch}.{tag}")
