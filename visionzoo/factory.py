"""The factory: `create_model` builds a registered model and loads its weights; `convert_checkpoint` writes them.

This module sits above the registry's tables (`visionzoo.registry`) and the weights machinery
(`visionzoo.weights`: entries, converters, checkpoint reading, download/cache) and below every model family,
so a model that builds another by name (DETR's backbone) can use it. Its public name is `visionzoo.create_model`.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch.nn as nn

from .layers.features import FeatureExtractor
from .registry import get_pretrained_cfg, list_pretrained, model_entrypoint, resolve_weight_entry, split_model_name_tag
from .utils.files import atomic_write
from .weights.checkpoint import COVERS_METADATA_KEY, load_checkpoint, load_state_dict_strict, prepare_state_dict, read_checkpoint
from .weights.hub import sha256_file
from .weights.pretrained import load_pretrained

__all__ = ["create_model", "convert_checkpoint"]

_logger = logging.getLogger(__name__)


def create_model(
    model_name: str | None = None,
    pretrained: bool = False,
    checkpoint_path: str | None = None,
    *,
    name: str | None = None,
    num_classes: int | None = None,
    in_chans: int | None = None,
    img_size: int | tuple[int, ...] | None = None,
    features_only: bool = False,
    out_indices: Iterable[int] | None = None,
    **overrides: Any,
) -> nn.Module:
    """Build a registered model, optionally with pretrained or checkpoint weights.

    `model_name` may carry a weight tag (``"vit_small_patch16_224.augreg_in21k_ft_in1k"``); `name` is an
    alias so that a config's ``model=dict(name=..., ...)`` can be passed as ``create_model(**cfg.model)``.
    `checkpoint_path` loads a file in the layout the model's original authors published (converted,
    strictly). `features_only=True` returns a wrapper whose forward gives a list of NCHW feature maps.
    """
    if model_name is None and name is None:
        raise ValueError("create_model() needs a model name, e.g. create_model('vit_small_patch16_224')")
    if model_name is not None and name is not None and model_name != name:
        raise ValueError(f"create_model() got two names: {model_name!r} and name={name!r}")
    model_name = model_name or name
    overrides.pop("type", None)  # tolerated so registry-style dicts (type=...) also work
    arch, tag = split_model_name_tag(model_name)
    entrypoint = model_entrypoint(arch)  # unknown names: a ValueError listing the closest registered ones
    if pretrained and checkpoint_path:
        raise ValueError("pass either pretrained=True or checkpoint_path=..., not both")

    entry = None
    if pretrained or tag is not None:
        tag, entry = resolve_weight_entry(arch, tag)
        if pretrained and entry is None:
            raise ValueError(
                f"{arch} has no registered pretrained weights; list_pretrained() shows the ones that do. "
                "Use checkpoint_path= to load a local file."
            )

    kwargs = dict(overrides)
    for key, value in (("num_classes", num_classes), ("in_chans", in_chans), ("img_size", img_size)):
        if value is not None:
            kwargs[key] = value

    if pretrained and num_classes is None and entry.num_classes is not None:
        kwargs["num_classes"] = entry.num_classes  # build the head the weights were trained with
    model = entrypoint(**kwargs)
    cfg = get_pretrained_cfg(f"{arch}.{tag}" if tag else arch)
    model.pretrained_cfg = cfg
    model.default_cfg = cfg

    if pretrained:
        load_pretrained(model, arch, tag, entry)
    elif checkpoint_path:
        load_checkpoint(model, checkpoint_path)

    if features_only:
        model = FeatureExtractor(model, out_indices=out_indices)
    elif out_indices is not None:
        _logger.warning("out_indices=%s is ignored unless features_only=True", out_indices)
    return model


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
    return f"{arch}.{tag}" in list_pretrained(f"{arch}.{tag}")
