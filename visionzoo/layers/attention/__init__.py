"""The shared library of attention blocks (token mixers).

Every token mixer has one interface::

    mixer(x: Tensor[B, N, C], shape: tuple[int, ...]) -> Tensor[B, N, C]

``x`` is a token sequence and ``shape`` its spatial grid, (H, W) or (D, H, W), so blocks that need
geometry (windows, convolutions on V, pooled agents) can recover it; blocks that do not ignore it.
Prefix tokens (a class token) come first in ``x`` and are declared to the mixer at construction
(``num_prefix_tokens``) by backbones that have them. No mixer assumes a square grid or a fixed size.

Backbones build their mixer from a config, ``attn=dict(type="window", ...)``, through
`build_attention`, so any registered attention can be tried in any backbone whose geometry it
supports. Softmax attention runs through `scaled_dot_product_attention`, which switches between
fused SDPA and explicit math (`explicit_attention()`; ONNX export and FLOP counting use the latter).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch.nn as nn

from .functional import explicit_attention, scaled_dot_product_attention, use_explicit_attention
from .softmax import MultiHeadAttention, SelfAttention
from .window import WindowAttention

__all__ = [
    "ATTENTION_TYPES",
    "register_attention",
    "build_attention",
    "explicit_attention",
    "use_explicit_attention",
    "scaled_dot_product_attention",
    "SelfAttention",
    "MultiHeadAttention",
    "WindowAttention",
]

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


def _softmax_builder(dim: int, num_heads: int, **kwargs: Any) -> nn.Module:
    kwargs.pop("window_size", None)
    kwargs.pop("shift_size", None)
    kwargs.pop("num_prefix_tokens", None)
    return SelfAttention(dim, num_heads, **kwargs)


def _window_builder(dim: int, num_heads: int, num_prefix_tokens: int = 0, **kwargs: Any) -> nn.Module:
    if num_prefix_tokens:
        raise ValueError(
            "window attention cannot mix prefix (class) tokens: use it in a backbone without a class token, "
            "e.g. a ViT with class_token=False, global_pool='avg'"
        )
    return WindowAttention(dim, num_heads, **kwargs)


register_attention("softmax", _softmax_builder)
register_attention("window", _window_builder)
