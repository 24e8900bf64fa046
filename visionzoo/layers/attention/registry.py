"""The token-mixer registry: ``build_attention(dict(type=...))`` builds any registered attention by name.

Each attention module registers its own builders (``register_attention("agent", build_agent)``) at
import time; `visionzoo.layers.attention` imports them all. Builders receive the backbone's keyword
arguments (``dim``, ``num_heads``, ``qkv_bias``, geometry such as ``window_size``/``sr_ratio``/
``input_resolution``, ``num_prefix_tokens``) merged with the user's options, so each builder drops
what it does not use and raises a clear error for what it cannot support.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch.nn as nn

__all__ = ["ATTENTION_TYPES", "register_attention", "build_attention", "drop_unused", "stage_attention_configs"]

ATTENTION_TYPES: dict[str, Callable[..., nn.Module]] = {}


def register_attention(name: str, builder: Callable[..., nn.Module]) -> None:
    """Make a token mixer available to `build_attention` as ``type=name``."""
    if name in ATTENTION_TYPES:
        raise RuntimeError(f"attention type {name!r} is registered twice")
    ATTENTION_TYPES[name] = builder


def build_attention(cfg: str | Mapping[str, Any] | None, default: str, **kwargs: Any) -> nn.Module:
    """Build a token mixer from ``cfg`` (a type name or ``dict(type=..., **options)``) and backbone `kwargs`.

    Options in ``cfg`` override the backbone's `kwargs` (dim, num_heads, window_size, ...).
    """
    if cfg is None:
        cfg = {"type": default}
    elif isinstance(cfg, str):
        cfg = {"type": cfg}
    cfg = dict(cfg)
    name = cfg.pop("type", default)
    if name not in ATTENTION_TYPES:
        raise ValueError(f"Unknown attention type {name!r}; registered types: {', '.join(sorted(ATTENTION_TYPES))}")
    return ATTENTION_TYPES[name](**{**kwargs, **cfg})


def drop_unused(kwargs: dict[str, Any], *names: str) -> dict[str, Any]:
    """`kwargs` without the backbone geometry keys `names` that a mixer has no use for."""
    return {k: v for k, v in kwargs.items() if k not in names}


AttnCfg = str | Mapping[str, Any] | None
# Letters of an attention-type string (``"LLSS"``, ``"AAAB"``) that keep the backbone's own attention:
# S = the standard (softmax/window) mixer of FLatten's strings, B = the baseline mixer of Agent Attention's.
BACKBONE_DEFAULT_LETTERS = "SB"


def stage_attention_configs(attn: AttnCfg | Sequence[AttnCfg], attn_stages: str | None, num_stages: int) -> list[AttnCfg]:
    """Per-stage mixer configs for a hierarchical backbone; ``None`` keeps the backbone's own attention.

    `attn` is one config for every stage or a sequence with one per stage. `attn_stages` is an attention-type
    string as the FLatten/Agent papers write it (``"LLSS"``, ``"AAAB"``): stages marked ``S``/``B`` keep the
    backbone's attention, any other letter uses `attn`.
    """
    if isinstance(attn, Sequence) and not isinstance(attn, str):
        if attn_stages is not None:
            raise ValueError("give either per-stage attn configs or attn_stages, not both")
        if len(attn) != num_stages:
            raise ValueError(f"attn has {len(attn)} per-stage configs but the backbone has {num_stages} stages")
        return list(attn)
    if attn_stages is None:
        return [attn] * num_stages
    if len(attn_stages) != num_stages:
        raise ValueError(
            f"attn_stages {attn_stages!r} has {len(attn_stages)} letters but the backbone has {num_stages} stages; "
            f"write one letter per stage (S/B keep the backbone's attention, another letter uses attn)"
        )
    if attn is None and any(c not in BACKBONE_DEFAULT_LETTERS for c in attn_stages):
        raise ValueError(f"attn_stages {attn_stages!r} marks stages for another attention but attn= is not given")
    return [None if c in BACKBONE_DEFAULT_LETTERS else attn for c in attn_stages]
