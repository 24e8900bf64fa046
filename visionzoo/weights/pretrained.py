"""Loading registered pretrained weights into a freshly built model, adapting head and stem as timm does."""
from __future__ import annotations

import logging

import torch.nn as nn
from timm.models import adapt_input_conv

from ..registry import model_entrypoint, resolve_weight_entry, split_model_name_tag
from .checkpoint import load_state_dict_strict, prepare_state_dict, read_checkpoint
from .entry import WeightEntry
from .hub import resolve_weight_file

__all__ = ["load_pretrained", "weight_entry"]

_logger = logging.getLogger(__name__)


def weight_entry(name: str) -> tuple[str, WeightEntry]:
    """``"name.tag"`` (or ``"name"`` for its default tag) -> (``"name.tag"``, its registered `WeightEntry`)."""
    arch, tag = split_model_name_tag(name)
    model_entrypoint(arch)  # unknown names: a ValueError listing the closest registered ones
    tag, entry = resolve_weight_entry(arch, tag)
    if entry is None:
        raise ValueError(f"{arch} has no registered pretrained weights; visionzoo.list_pretrained() lists those that do")
    return f"{arch}.{tag}", entry


def load_pretrained(model: nn.Module, arch: str, tag: str, entry: WeightEntry, progress: bool = True) -> None:
    """Fetch (or find) the weights of ``arch.tag``, convert them and load them strictly into `model`.

    A model built with another `num_classes` keeps its freshly initialised classifier; one built with
    another `in_chans` gets the pretrained first convolution adapted (timm's `adapt_input_conv`).
    Weights of part of the model (an encoder-only release) load strictly into that part; the log
    names what stays freshly initialised.
    """
    name_tag = f"{arch}.{tag}"
    path = resolve_weight_file(name_tag, entry, progress=progress)
    raw, metadata = read_checkpoint(path)
    state_dict, _, covers = prepare_state_dict(
        model, raw, metadata, source=metadata.get("visionzoo_layout") or entry.source, where=str(path)
    )
    own = model.state_dict()
    cfg = getattr(model, "pretrained_cfg", {})

    first_conv = cfg.get("first_conv")
    key = f"{first_conv}.weight" if first_conv else None
    if key and key in state_dict and key in own and state_dict[key].shape[1] != own[key].shape[1]:
        in_chans = own[key].shape[1]
        state_dict[key] = adapt_input_conv(in_chans, state_dict[key])
        _logger.info("adapted %s of %s from %d to %d input channels", key, name_tag, entry.input_size[0], in_chans)

    classifier = cfg.get("classifier")
    if classifier:
        for suffix in ("weight", "bias"):
            key = f"{classifier}.{suffix}"
            if key in state_dict and (key not in own or own[key].shape != state_dict[key].shape):
                del state_dict[key]
                if key in own:
                    state_dict[key] = own[key]
                _logger.info("%s: classifier %s re-initialised for num_classes=%s", name_tag, key, getattr(model, "num_classes", "?"))
    load_state_dict_strict(model, state_dict, source=f"pretrained weights {name_tag} ({path})", covers=covers)
