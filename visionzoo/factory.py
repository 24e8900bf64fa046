"""The factory: `create_model` builds a registered model and loads its weights; `convert_checkpoint` writes them.

This module sits above the registry's tables (`visionzoo.registry`) and the weights machinery
(`visionzoo.weights`: entries, converters, checkpoint reading, download/cache) and below every model family,
so a model that builds another by name (DETR's backbone) can use it. Its public name is `visionzoo.create_model`.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch.nn as nn

from .layers.features import FeatureExtractor
from .registry import (
    _FACTORY,
    check_model_kwargs,
    get_pretrained_cfg,
    list_pretrained,
    model_entrypoint,
    resolve_weight_entry,
    split_model_name_tag,
)
from .utils.files import atomic_write
from .weights.checkpoint import COVERS_METADATA_KEY, load_checkpoint, load_state_dict_strict, prepare_state_dict, read_checkpoint
from .weights.hub import _offline, cache_dir, hf_cache_dir, sha256_file
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
    feature_cls: str | None = None,
    pretrained_cfg: str | dict[str, Any] | None = None,
    pretrained_cfg_overlay: dict[str, Any] | None = None,
    cache_dir: str | os.PathLike | None = None,
    **overrides: Any,
) -> nn.Module:
    """Build a registered model, optionally with pretrained or checkpoint weights.

    `model_name` may carry a weight tag (``"vit_small_patch16_224.augreg_in21k_ft_in1k"``) or be a Hugging Face
    Hub repository in timm's format (``"hf-hub:org/repo"``: its ``config.json`` names the architecture and
    `pretrained_cfg`); `name` is an alias so that a config's ``model=dict(name=..., ...)`` can be passed as
    ``create_model(**cfg.model)``. `checkpoint_path` loads a file in the layout the model's original authors
    published (converted, strictly). `features_only=True` returns a wrapper whose forward gives a list of NCHW
    feature maps (``feature_cls="getter"``, timm's FeatureGetterNet, is the only kind: it calls
    ``forward_intermediates``).

    As timm's: `pretrained_cfg` (a tag name, or a dict over the registered cfg) and `pretrained_cfg_overlay`
    (a dict merged over it) set the model's `pretrained_cfg`; their ``file``, ``url`` or ``hf_hub_id`` say where
    pretrained weights come from (always through the family's converter). `cache_dir` is the download and cache
    directory of this call (visionzoo's cache and the Hugging Face hub cache).
    """
    if model_name is None and name is None:
        raise ValueError("create_model() needs a model name, e.g. create_model('vit_small_patch16_224')")
    if model_name is not None and name is not None and model_name != name:
        raise ValueError(f"create_model() got two names: {model_name!r} and name={name!r}")
    model_name = model_name or name
    overrides.pop("type", None)  # tolerated so registry-style dicts (type=...) also work
    if feature_cls not in (None, "getter"):
        raise ValueError(f"feature_cls={feature_cls!r} is not supported: visionzoo's features_only wrapper is timm's 'getter' kind")
    if pretrained_cfg is not None and not isinstance(pretrained_cfg, (str, dict)):
        raise ValueError(f"pretrained_cfg must be a tag name or a dict, got {type(pretrained_cfg).__name__}")
    with _cache_dir(cache_dir):
        hub_cfg: dict[str, Any] = {}
        if model_name.startswith("hf-hub:"):
            model_name, hub_cfg, hub_model_args = _hub_model_config(model_name[len("hf-hub:"):])
            overrides = {**hub_model_args, **overrides}
        arch, tag = split_model_name_tag(model_name)
        entrypoint = model_entrypoint(arch)  # unknown names: a ValueError listing the closest registered ones
        if pretrained and checkpoint_path:
            raise ValueError("pass either pretrained=True or checkpoint_path=..., not both")
        if isinstance(pretrained_cfg, str):
            tag = pretrained_cfg  # a tag name overrides the one in model_name
        overlay = {**hub_cfg, **(pretrained_cfg if isinstance(pretrained_cfg, dict) else {}), **(pretrained_cfg_overlay or {})}
        overlay.pop("architecture", None)
        if tag is None and overlay.get("tag") and f"{arch}.{overlay['tag']}" in list_pretrained(f"{arch}.{overlay['tag']}"):
            tag = overlay["tag"]
        location = {k: overlay[k] for k in ("file", "url", "hf_hub_id") if overlay.get(k)}

        entry = None
        if pretrained or tag is not None:
            tag, entry = resolve_weight_entry(arch, tag)
            if pretrained and entry is None and not location:
                raise ValueError(
                    f"{arch} has no registered pretrained weights; list_pretrained() shows the ones that do. "
                    "Use checkpoint_path= (or pretrained_cfg_overlay=dict(file=...)) to load a local file."
                )

        kwargs = dict(overrides)
        for key, value in (("num_classes", num_classes), ("in_chans", in_chans), ("img_size", img_size)):
            if value is not None:
                kwargs[key] = value
        check_model_kwargs(kwargs)

        cfg = get_pretrained_cfg(f"{arch}.{tag}" if tag else arch)
        cfg.update(overlay)
        if pretrained and num_classes is None and "num_classes" not in overrides and cfg.get("num_classes") is not None:
            kwargs["num_classes"] = cfg["num_classes"]  # build the head the weights were trained with
        model = entrypoint(**kwargs)
        _complete_cfg(model, cfg)
        model.pretrained_cfg = cfg
        model.default_cfg = cfg

        if pretrained:
            _load_pretrained(model, arch, tag, entry, location)
        elif checkpoint_path:
            load_checkpoint(model, checkpoint_path)

    if features_only:
        model = FeatureExtractor(model, out_indices=out_indices)
    elif out_indices is not None:
        _logger.warning("out_indices=%s is ignored unless features_only=True", out_indices)
    return model


_FACTORY[:] = [create_model]  # our entrypoints called the timm way (pretrained_cfg=...) build through create_model


@contextlib.contextmanager
def _cache_dir(cache_dir: str | os.PathLike | None):
    """Within: visionzoo's cache and the Hugging Face hub cache are `cache_dir` (timm's per-call cache_dir)."""
    if cache_dir is None:
        yield
        return
    root = str(Path(cache_dir).expanduser())
    saved = {k: os.environ.get(k) for k in ("VISIONZOO_HOME", "HF_HUB_CACHE")}
    os.environ["VISIONZOO_HOME"], os.environ["HF_HUB_CACHE"] = root, root
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _hub_download(repo_id: str, filename: str) -> str:
    from huggingface_hub import hf_hub_download

    return hf_hub_download(
        repo_id, filename=filename, cache_dir=hf_cache_dir(), local_files_only=_offline(),
        endpoint=os.environ.get("HF_ENDPOINT") or None,
    )


def _hub_model_config(repo_id: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """timm's Hub format: ``config.json`` -> (``architecture[.tag]``, its pretrained_cfg with ``hf_hub_id``, model_args)."""
    with open(_hub_download(repo_id, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    arch = config.get("architecture")
    if not arch:
        raise ValueError(f"hf-hub:{repo_id}: config.json names no 'architecture'")
    hub_cfg = dict(config.get("pretrained_cfg") or {})
    model_args = dict(config.get("model_args") or {})
    for key in ("num_classes", "label_names", "label_descriptions"):
        if key in config and key not in hub_cfg:
            hub_cfg[key] = config[key]
    hub_cfg.pop("label_names", None), hub_cfg.pop("label_descriptions", None)
    hub_cfg.update(hf_hub_id=repo_id, url=None, file=None)
    if config.get("num_classes") is not None:
        model_args.setdefault("num_classes", config["num_classes"])
    return split_model_name_tag(arch)[0], hub_cfg, model_args


def _complete_cfg(model: nn.Module, cfg: dict[str, Any]) -> None:
    """Fill what the model itself knows: `num_classes`, and `pool_size` (the last feature map at `input_size`)."""
    if isinstance(getattr(model, "num_classes", None), int):
        cfg["num_classes"] = model.num_classes
    if cfg.get("pool_size") is None:
        info = getattr(model, "feature_info", None)
        size = cfg.get("input_size")
        try:
            reduction = info[-1]["reduction"] if info is not None and len(info) else None
        except (TypeError, KeyError, IndexError):
            reduction = None
        if reduction and size and len(size) > 1:
            cfg["pool_size"] = tuple(max(1, int(s) // int(reduction)) for s in size[1:])


def _load_pretrained(model: nn.Module, arch: str, tag: str | None, entry: Any, location: dict[str, Any]) -> None:
    """Registered weights, redirected by ``file``/``url``/``hf_hub_id`` of the cfg where those differ from the entry."""
    if entry is not None and location:
        same = all(getattr(entry, k) == v for k, v in location.items())
        if not same:
            key = "file" if "file" in location else "hf_hub_id" if "hf_hub_id" in location else "url"
            changes = {"file": None, "url": None, "hf_hub_id": None, key: location[key]}
            if key != "url":
                changes["archive_member"] = None
            if key != "hf_hub_id":
                changes["hf_filename"] = None
            if key != "file":
                changes["sha256"] = None
            if key == "hf_hub_id":
                changes["hf_filename"] = _hub_weight_file(location[key])
            entry = dataclasses.replace(entry, **changes)
            digest = hashlib.sha256(str(location[key]).encode()).hexdigest()[:10]
            tag = f"{tag}-{key}-{digest}"  # its own cache path: never mistaken for the registered file
    if entry is not None:
        load_pretrained(model, arch, tag, entry)
        return
    # no registered entry: the redirected file in whatever layout the family's converters detect
    if "file" in location:
        path = location["file"]
    elif "hf_hub_id" in location:
        path = _hub_download(location["hf_hub_id"], _hub_weight_file(location["hf_hub_id"]))
    else:
        from .weights.hub import download_url

        path = cache_dir() / "checkpoints" / f"{arch}.url-{hashlib.sha256(location['url'].encode()).hexdigest()[:10]}" / Path(location["url"].split("?")[0]).name
        if not path.is_file():
            download_url(location["url"], path, sha256=None, progress=True)
    load_checkpoint(model, path)


def _hub_weight_file(repo_id: str) -> str:
    """``model.safetensors`` if the repository has it (timm's Hub format), else ``pytorch_model.bin``."""
    try:
        _hub_download(repo_id, "model.safetensors")
        return "model.safetensors"
    except Exception:  # noqa: BLE001 - absent, or not cached offline: the legacy name
        return "pytorch_model.bin"


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
