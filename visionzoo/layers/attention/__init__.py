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

from typing import Any

import torch.nn as nn

from .registry import ATTENTION_TYPES, build_attention, drop_unused, register_attention, stage_attention_configs
from .functional import explicit_attention, scaled_dot_product_attention, use_explicit_attention
from .softmax import MultiHeadAttention, SelfAttention
from .window import WindowAttention
from .routing import BiLevelRoutingAttention, LePESelfAttention  # registers bilevel_routing, softmax_lepe
from .agent import AgentAttention
from .focused_linear import FocusedLinearAttention
from .grouped import LocallyGroupedAttention
from .spatial_reduction import SpatialReductionAttention

__all__ = [
    "ATTENTION_TYPES",
    "register_attention",
    "build_attention",
    "stage_attention_configs",
    "explicit_attention",
    "use_explicit_attention",
    "scaled_dot_product_attention",
    "SelfAttention",
    "MultiHeadAttention",
    "WindowAttention",
    "BiLevelRoutingAttention",
    "LePESelfAttention",
    "AgentAttention",
    "FocusedLinearAttention",
    "LocallyGroupedAttention",
    "SpatialReductionAttention",
]


def _softmax_builder(dim: int, num_heads: int, **kwargs: Any) -> nn.Module:
    kwargs = drop_unused(kwargs, "window_size", "shift_size", "num_prefix_tokens", "input_resolution", "sr_ratio", "linear")
    return SelfAttention(dim, num_heads, **kwargs)


def _window_builder(dim: int, num_heads: int, num_prefix_tokens: int = 0, **kwargs: Any) -> nn.Module:
    if num_prefix_tokens:
        raise ValueError(
            "window attention cannot mix prefix (class) tokens: use it in a backbone without a class token, "
            "e.g. a ViT with class_token=False, global_pool='avg'"
        )
    return WindowAttention(dim, num_heads, **drop_unused(kwargs, "input_resolution", "sr_ratio", "linear"))


register_attention("softmax", _softmax_builder)
register_attention("window", _window_builder)
