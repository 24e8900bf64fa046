"""UNETR (Hatamizadeh et al., WACV 2022): a plain ViT encoder (patch 16) with a convolutional U-Net decoder, 2D/3D.

The encoder is visionzoo's `VisionTransformer` in 3D (or 2D) form without class token; the decoder
reads the raw outputs of blocks 3, 6 and 9 and the normalised final tokens, as MONAI's ``UNETR``.
MONAI checkpoints load through the converter at the end of this module. Any input size runs (padded to a
multiple of 16, position embedding resampled).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import torch.nn as nn
from torch import Tensor

from ..backbones.vit import VisionTransformer
from ..heads import UNETRDecoder
from ..layers import check_image_input
from ..registry import register_model
from ..weights.converters import StateDict, register_converter, register_detector
from .segmentation import run_padded

__all__ = ["UNETR"]

PATCH_SIZE = 16
SKIP_BLOCKS = (3, 6, 9)


class UNETR(nn.Module):
    """UNETR segmenter: ``forward(x[B, in_chans, *spatial]) -> logits[B, num_classes, *spatial]``."""

    def __init__(
        self,
        in_chans: int = 1,
        num_classes: int = 2,
        img_size: int | Sequence[int] = 96,
        feature_size: int = 16,
        hidden_size: int = 768,
        mlp_dim: int = 3072,
        num_heads: int = 12,
        spatial_dims: int = 3,
        norm_name: str | tuple = "instance",
        conv_block: bool = True,
        res_block: bool = True,
        dropout_rate: float = 0.0,
        qkv_bias: bool = False,
        num_layers: int = 12,
    ) -> None:
        """
        Args:
            img_size: the size the position embedding is laid out for (other sizes resample it).
            hidden_size, mlp_dim, num_heads: ViT width, MLP width and heads (ViT-B: 768, 3072, 12).
        """
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size {hidden_size} must be divisible by num_heads {num_heads}")
        if num_layers <= max(SKIP_BLOCKS):
            raise ValueError(f"UNETR reads blocks {SKIP_BLOCKS}: num_layers must exceed {max(SKIP_BLOCKS)}")
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.spatial_dims = spatial_dims
        self.encoder = VisionTransformer(
            img_size=img_size,
            patch_size=PATCH_SIZE,
            in_chans=in_chans,
            num_classes=0,
            global_pool="",
            embed_dim=hidden_size,
            depth=num_layers,
            num_heads=num_heads,
            mlp_ratio=mlp_dim / hidden_size,
            qkv_bias=qkv_bias,
            class_token=False,
            proj_drop_rate=dropout_rate,
            attn_drop_rate=dropout_rate,
            norm_layer=partial(nn.LayerNorm, eps=1e-5),
            spatial_dims=spatial_dims,
        )
        self.decoder = UNETRDecoder(in_chans, num_classes, hidden_size, feature_size, spatial_dims, norm_name, conv_block, res_block)

    def _forward(self, x: Tensor) -> Tensor:
        final, skips = self.encoder.forward_intermediates(x, indices=list(SKIP_BLOCKS))
        grid = self.encoder.patch_embed.grid_size(x.shape[2:])
        final = final.transpose(1, 2).reshape(x.shape[0], -1, *grid)
        return self.decoder(x, skips, final)

    def forward(self, x: Tensor) -> Tensor:
        check_image_input(x, self.in_chans, self.spatial_dims)
        return run_padded(self._forward, x, PATCH_SIZE)


@register_model(
    first_conv=None,
    classifier="decoder.out.conv.conv",
    fixed_input_size=False,
    input_size=(1, 96, 96, 96),
    paper="https://arxiv.org/abs/2103.10504",
    tiny=dict(hidden_size=48, mlp_dim=96, num_heads=4, img_size=32),
    tiny_input_size=(1, 32, 32, 32),
)
def unetr(**kwargs: Any) -> UNETR:
    """UNETR with a ViT-B/16 encoder (hidden 768, MLP 3072, 12 heads, 12 blocks) and feature 16 decoder."""
    return UNETR(**kwargs)


# --- checkpoint converters ------------------------------------------------------------------------
# UNETR checkpoints: MONAI's ``UNETR`` state dict (``proj_type="conv"``).
#
# Key mapping, MONAI -> visionzoo:
#
# =============================================  ===============================================
# ``vit.patch_embedding.patch_embeddings.*``     ``encoder.patch_embed.proj.*``
# ``vit.patch_embedding.position_embeddings``    ``encoder.pos_embed``
# ``vit.blocks.{i}.attn.out_proj.*``             ``encoder.blocks.{i}.attn.proj.*``
# ``vit.blocks.{i}.mlp.linear1`` / ``linear2``   ``encoder.blocks.{i}.mlp.fc1`` / ``fc2``
# ``vit.blocks.{i}.{norm1,norm2,attn.qkv}``      ``encoder.blocks.{i}.{norm1,norm2,attn.qkv}``
# ``vit.norm.*``                                 ``encoder.norm.*``
# ``encoder1`` ... ``encoder4``                  ``decoder.skip0`` ... ``decoder.skip3``
# ``decoder5`` ... ``decoder2``                  ``decoder.up3`` ... ``decoder.up0``
# ``out``                                        ``decoder.out``
# ``vit.blocks.{i}.norm_cross_attn.*``,          dropped: MONAI builds them even without
# ``vit.blocks.{i}.cross_attn.*``                cross-attention, and never uses them
# =============================================  ===============================================
_DECODER = {
    "encoder1": "skip0",
    "encoder2": "skip1",
    "encoder3": "skip2",
    "encoder4": "skip3",
    "decoder5": "up3",
    "decoder4": "up2",
    "decoder3": "up1",
    "decoder2": "up0",
    "out": "out",
}
_VIT = (
    ("vit.patch_embedding.patch_embeddings.", "encoder.patch_embed.proj."),
    ("vit.patch_embedding.position_embeddings", "encoder.pos_embed"),
    ("vit.norm.", "encoder.norm."),
    ("vit.blocks.", "encoder.blocks."),
)


@register_converter(UNETR, "monai")
def convert_monai_unetr(state_dict: Mapping[str, Tensor], model: nn.Module) -> StateDict:
    """MONAI UNETR -> visionzoo UNETR (see the mapping above)."""
    out: StateDict = {}
    for key, value in state_dict.items():
        if ".norm_cross_attn." in key or ".cross_attn." in key:
            continue
        head, _, rest = key.partition(".")
        if head in _DECODER:
            out[f"decoder.{_DECODER[head]}.{rest}"] = value
            continue
        for old, new in _VIT:
            if key.startswith(old):
                key = new + key[len(old):]
                break
        else:
            raise KeyError(f"unrecognised UNETR key {key!r}: is this a MONAI UNETR checkpoint?")
        key = key.replace(".attn.out_proj.", ".attn.proj.").replace(".mlp.linear1.", ".mlp.fc1.").replace(".mlp.linear2.", ".mlp.fc2.")
        out[key] = value
    return out


@register_detector(UNETR)
def detect_unetr_layout(state_dict: Mapping[str, Tensor]) -> str:
    """"monai" for MONAI's names (``vit.*``), else "visionzoo"."""
    return "monai" if any(k.startswith("vit.") for k in state_dict) else "visionzoo"
