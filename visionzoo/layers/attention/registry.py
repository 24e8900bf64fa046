"""The token-mixer registry: ``build_attention(dict(type=...))`` builds any registered attention by name.

Each attention module registers its own builders (``register_attention("agent", build_agent)``) at
import time; `visionzoo.layers.attention` imports them all. Builders receive the backbone's keyword
arguments (``dim``, ``num_heads``, ``qkv_bias``, geometry such as ``window_size``/``sr_ratio``/
``input_resolution``, ``num_prefix_tokens``) merged with the user's options, so each builder drops
what it does not use and raises a clear error for what it cannot support.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch.nn as nn

__all__ = ["ATTENTION_TYPES", "register_attention", "build_attention", "drop_unused"]

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
