"""Shared building blocks: attention (token mixers), transformer block, patch/position embeddings.

Layers never import backbones or heads. Where a timm layer is exactly what we need (DropPath,
LayerScale, trunc_normal_), it is reused rather than rewritten; our Mlp keeps timm's names but bounds
its inference temporaries (see `visionzoo.layers.mlp`).
"""
from timm.layers import DropPath, LayerScale, trunc_normal_

from .attention import (
    ATTENTION_TYPES,
    AttentionContext,
    MultiHeadAttention,
    MultiScaleDeformableAttention,
    SelfAttention,
    WindowAttention,
    build_attention,
    explicit_attention,
    register_attention,
    scaled_dot_product_attention,
    stage_attention_configs,
    use_explicit_attention,
)
from .blocks import TransformerBlock
from .conv_attention import CBAM, CONV_ATTENTION_TYPES, SqueezeExcite, TripletAttention, build_conv_attention, register_conv_attention
from .microbatch import autograd_free, map_microbatches
from .mlp import Mlp
from .helpers import pad_end, pads_to_multiple, to_ntuple
from .patch_embed import PatchEmbed, check_image_input
from .peg import PositionEncodingGenerator
from .pos_embed import resample_abs_pos_embed

__all__ = [
    "ATTENTION_TYPES",
    "AttentionContext",
    "CBAM",
    "CONV_ATTENTION_TYPES",
    "SqueezeExcite",
    "TripletAttention",
    "build_conv_attention",
    "register_conv_attention",
    "DropPath",
    "LayerScale",
    "Mlp",
    "MultiHeadAttention",
    "MultiScaleDeformableAttention",
    "PatchEmbed",
    "PositionEncodingGenerator",
    "SelfAttention",
    "TransformerBlock",
    "WindowAttention",
    "autograd_free",
    "build_attention",
    "map_microbatches",
    "pad_end",
    "pads_to_multiple",
    "check_image_input",
    "explicit_attention",
    "register_attention",
    "resample_abs_pos_embed",
    "scaled_dot_product_attention",
    "stage_attention_configs",
    "to_ntuple",
    "trunc_normal_",
    "use_explicit_attention",
]
