"""Swin UNETR (Hatamizadeh et al., BrainLes 2021): a 2D/3D Swin encoder with a residual U-Net decoder.

The encoder is assembled from the shared layers — `PatchEmbed`, `SwinStage` blocks (the same
`WindowAttention` as the 2D Swin classifier) and `PatchMerging` — following MONAI's
``SwinUNETR``: stages merge patches at their *end*, each scale's output is layer-normalised without
affine parameters, and v2 adds a residual conv block before each stage. MONAI's and the
research-contributions BRATS21 checkpoints load through `visionzoo.weights.converters.swin_unetr`.
Any input size runs (padded to a multiple of 32 and cropped back).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..backbones.swin import SWIN_MERGE_ORDER_2D, PatchMerging, SwinStage
from ..heads import SwinUNETRDecoder
from ..layers import PatchEmbed, check_image_input, to_ntuple
from ..layers.conv_blocks import EncoderConvBlock
from ..registry import register_model
from .segmentation import run_padded

__all__ = ["SwinUNETR", "SwinUNETREncoder", "MERGE_ORDERS"]

# Neighbour order of the 2x2x2 concatenation: MONAI's "merging" (v0.9.0, used by the BRATS21 release)
# and "mergingv2" (plain raster order); both use Swin's order in 2D.
MERGE_ORDERS = {
    "merging": ((0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (1, 0, 1), (0, 1, 1), (1, 1, 1)),
    "mergingv2": ((0, 0, 0), (0, 0, 1), (0, 1, 0), (0, 1, 1), (1, 0, 0), (1, 0, 1), (1, 1, 0), (1, 1, 1)),
}


def _channels_first(x: Tensor) -> Tensor:
    return x.permute(0, x.ndim - 1, *range(1, x.ndim - 1))


def _channels_last(x: Tensor) -> Tensor:
    return x.permute(0, *range(2, x.ndim), 1)


class SwinUNETREncoder(nn.Module):
    """Hierarchical Swin encoder: ``forward(x) -> [F, 2F, 4F, 8F, 16F]`` channels-first maps at strides 2..32."""

    def __init__(
        self,
        in_chans: int,
        embed_dim: int = 48,
        patch_size: int = 2,
        depths: Sequence[int] = (2, 2, 2, 2),
        num_heads: Sequence[int] = (3, 6, 12, 24),
        window_size: int | Sequence[int] = 7,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        patch_norm: bool = False,
        normalize: bool = True,
        spatial_dims: int = 3,
        downsample: str = "merging",
        use_v2: bool = False,
        attn: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if downsample not in MERGE_ORDERS:
            raise ValueError(f"downsample must be one of {sorted(MERGE_ORDERS)}, got {downsample!r}")
        self.spatial_dims = spatial_dims
        self.normalize = normalize
        self.use_v2 = use_v2
        self.patch_embed = PatchEmbed(
            patch_size, in_chans, embed_dim, norm_layer=nn.LayerNorm if patch_norm else None, spatial_dims=spatial_dims
        )
        self.pos_drop = nn.Dropout(drop_rate)
        window = to_ntuple(window_size, spatial_dims, "window_size")
        order = MERGE_ORDERS[downsample] if spatial_dims == 3 else SWIN_MERGE_ORDER_2D
        dpr = torch.linspace(0, drop_path_rate, sum(depths)).split(list(depths))
        dims = [embed_dim * 2**i for i in range(len(depths))]
        self.stages = nn.ModuleList(
            SwinStage(
                dim,
                dim,
                depth,
                heads,
                window_size=window,
                downsample=False,
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                proj_drop=drop_rate,
                attn_drop=attn_drop_rate,
                drop_path=rates.tolist(),
                attn=attn,  # default window attention; in 3D the 3D types (softmax, window) fit
                spatial_dims=spatial_dims,
                shrunk_window_bias="truncated",  # MONAI's bias for windows shrunk to small grids
            )
            for dim, depth, heads, rates in zip(dims, depths, num_heads, dpr)
        )
        self.merges = nn.ModuleList(PatchMerging(dim, 2 * dim, order=order) for dim in dims)
        self.res_blocks = (
            nn.ModuleList(EncoderConvBlock(spatial_dims, dim, dim, "instance") for dim in dims)
            if use_v2
            else None
        )

    def _output(self, x: Tensor) -> Tensor:
        """Channels-first view of a channels-last grid: already the decoder's channels-last memory, no copy."""
        if self.normalize:
            x = F.layer_norm(x, x.shape[-1:])
        return _channels_first(x.contiguous())

    def forward(self, x: Tensor) -> list[Tensor]:
        tokens, grid = self.patch_embed(x)
        h = self.pos_drop(tokens).view(x.shape[0], *grid, -1)  # channels-last grid
        outputs = [self._output(h)]
        for i, (stage, merge) in enumerate(zip(self.stages, self.merges)):
            if self.res_blocks is not None:
                h = _channels_last(self.res_blocks[i](_channels_first(h))).contiguous()
            h = merge(stage(h))
            outputs.append(self._output(h))
        return outputs


class SwinUNETR(nn.Module):
    """Swin UNETR segmenter: ``forward(x[B, in_chans, *spatial]) -> logits[B, num_classes, *spatial]``."""

    def __init__(
        self,
        in_chans: int = 1,
        num_classes: int = 2,
        feature_size: int = 48,
        spatial_dims: int = 3,
        use_v2: bool = False,
        depths: Sequence[int] = (2, 2, 2, 2),
        num_heads: Sequence[int] = (3, 6, 12, 24),
        window_size: int | Sequence[int] = 7,
        patch_size: int = 2,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        norm_name: str | tuple = "instance",
        normalize: bool = True,
        patch_norm: bool = False,
        downsample: str = "merging",
        attn: dict[str, Any] | None = None,
        img_size: Any = None,
    ) -> None:
        """
        Args:
            feature_size: F, the width of the first stage (48 in the paper; a multiple of 12).
            downsample: "merging" (MONAI's default, BRATS21 release) or "mergingv2" neighbour order.
            attn: token mixer of every encoder block, default window attention (``dict(type="window", ...)``
                overrides its options); in 3D the types that work on 3D grids (softmax, window), others raise.
            img_size: deprecated and ignored (any size runs), accepted so old configs keep working.
        """
        super().__init__()
        if img_size is not None:
            import warnings

            warnings.warn("SwinUNETR img_size is deprecated and ignored: any input size works", DeprecationWarning, stacklevel=2)
        if feature_size % 12:
            raise ValueError(f"feature_size must be a multiple of 12 (heads 3-6-12-24 split it), got {feature_size}")
        if len(depths) != 4 or len(num_heads) != 4:
            raise ValueError(f"Swin UNETR has 4 stages: got depths={tuple(depths)}, num_heads={tuple(num_heads)}")
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.spatial_dims = spatial_dims
        self.stride = patch_size * 2 ** len(depths)
        self.encoder = SwinUNETREncoder(
            in_chans,
            feature_size,
            patch_size,
            depths,
            num_heads,
            window_size,
            mlp_ratio,
            qkv_bias,
            drop_rate,
            attn_drop_rate,
            drop_path_rate,
            patch_norm,
            normalize,
            spatial_dims,
            downsample,
            use_v2,
            attn,
        )
        self.decoder = SwinUNETRDecoder(in_chans, num_classes, feature_size, spatial_dims, norm_name)

    def _forward(self, x: Tensor) -> Tensor:
        return self.decoder(x, self.encoder(x))

    def forward(self, x: Tensor) -> Tensor:
        check_image_input(x, self.in_chans, self.spatial_dims)
        if math.prod(-(-s // self.stride) for s in x.shape[2:]) < 2:
            raise ValueError(
                f"input of spatial size {tuple(x.shape[2:])} is too small for Swin UNETR: its bottleneck (stride "
                f"{self.stride}) would hold a single voxel, which instance norm cannot normalise; use at least "
                f"{2 * self.stride} voxels along one axis"
            )
        return run_padded(self._forward, x, self.stride)


_SEG_CFG = dict(first_conv=None, classifier="decoder.out.conv.conv", fixed_input_size=False, img_size_free=True)


@register_model(**_SEG_CFG, input_size=(1, 96, 96, 96), paper="https://arxiv.org/abs/2201.01266")
def swin_unetr(**kwargs: Any) -> SwinUNETR:
    """Swin UNETR, MONAI's architecture: patch 2, depths 2-2-2-2, heads 3-6-12-24, window 7, feature 48."""
    return SwinUNETR(**kwargs)


@register_model(**_SEG_CFG, input_size=(4, 128, 128, 128), paper="https://arxiv.org/abs/2201.01266")
def swin_unetr_brats(**kwargs: Any) -> SwinUNETR:
    """Swin UNETR for BraTS: 4 MRI modalities (FLAIR, T1ce, T1, T2) in, 3 sigmoid channels (TC, WT, ET) out."""
    return SwinUNETR(**{"in_chans": 4, "num_classes": 3, "feature_size": 48, **kwargs})
