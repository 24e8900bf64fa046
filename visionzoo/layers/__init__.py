"""Shared building blocks: attention (token mixers), transformer block, patch/position embeddings.

Layers never import backbones or heads. Where a timm layer is exactly what we need (Mlp, DropPath,
LayerScale, trunc_normal_), it is reused rather than rewritten.
"""
from timm.layers import DropPath, LayerScale, Mlp, trunc_normal_

from .attention import (
    ATTENTION_TYPES,
    MultiHeadAttention,
    SelfAttention,
    WindowAttention,
    build_attention,
    explicit_attention,
    register_attention,
    scaled_dot_product_attention,
    use_explicit_attention,
)
from .blocks import TransformerBlock
from .patch_embed import PatchEmbed, check_image_input, to_ntuple
from .pos_embed import resample_abs_pos_embed

__all__ = [
    "ATTENTION_TYPES",
    "DropPath",
    "LayerScale",
    "Mlp",
    "MultiHeadAttention",
    "PatchEmbed",
    "SelfAttention",
    "TransformerBlock",
    "WindowAttention",
    "build_attention",
    "check_image_input",
    "explicit_attention",
    "register_attention",
    "resample_abs_pos_embed",
    "scaled_dot_product_attention",
    "to_ntuple",
    "trunc_normal_",
    "use_explicit_attention",
]
