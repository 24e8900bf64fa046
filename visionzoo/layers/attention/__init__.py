"""The shared library of attention blocks (token mixers).

Every token mixer has one interface::

    mixer(x: Tensor[B, N, C], shape: tuple[int, ...]) -> Tensor[B, N, C]

``x`` is a token sequence and ``shape`` its spatial grid, (H, W) or (D, H, W), so blocks that need
geometry (windows, convolutions on V, pooled agents) can recover it; blocks that do not ignore it.
Prefix tokens (a class token) come first in ``x`` and are declared to the mixer at construction
(``num_prefix_tokens``) by backbones that have them. No mixer assumes a square grid or a fixed size.

Backbones build their mixer from a config, ``attn=dict(type="window", ...)``, through
`build_attention` with one `AttentionContext` describing the place (width, heads, reference token grid,
prefix tokens, geometry options); each registered mixer declares what it uses, so any registered
attention can be tried in any backbone whose geometry it supports (see `visionzoo.layers.attention.registry`).
Softmax attention runs through `scaled_dot_product_attention`, which switches between fused SDPA and explicit math (`explicit_attention()`; ONNX export and FLOP counting use the latter).
"""
from __future__ import annotations

from . import registry as _registry
from .registry import (
    ATTENTION_TYPES,
    AttentionContext,
    AttentionType,
    attention_stage_mask,
    block_attention_configs,
    build_attention,
    parse_attention_config,
    register_attention,
    stage_attention_configs,
)
from .functional import explicit_attention, scaled_dot_product_attention, use_explicit_attention
from .base import MultiHeadMixer
from .softmax import MultiHeadAttention, SelfAttention  # registers softmax
from .window import WindowAttention  # registers window
from .routing import BiLevelRoutingAttention, LePESelfAttention  # registers bilevel_routing, softmax_lepe
from .spatial_reduction import SpatialReductionAttention  # registers spatial_reduction
from .grouped import LocallyGroupedAttention  # registers locally_grouped
from .focused_linear import FocusedLinearAttention  # registers focused_linear
from .agent import AgentAttention  # registers agent
from .deformable import (  # registers deformable
    DeformableSelfAttention,
    MultiScaleDeformableAttention,
    multi_scale_deformable_attention,
)

__all__ = [
    *_registry.__all__,
    "MultiHeadMixer",
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
    "MultiScaleDeformableAttention",
    "DeformableSelfAttention",
    "multi_scale_deformable_attention",
]

