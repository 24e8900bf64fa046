"""UNETR-style convolutional decoders for transformer encoders, 2D and 3D (Hatamizadeh et al., WACV 2022 / BrainLes 2021).

Both decoders are built from `visionzoo.layers.conv_blocks` (MONAI's ``UnetrBasicBlock``,
``UnetrUpBlock``, ``UnetrPrUpBlock`` and ``UnetOutBlock`` computations and parameter names, run in
channels-last memory) and differ in where their skip features come from:

* `SwinUNETRDecoder`: the raw input plus five hierarchical maps (strides 2, 4, 8, 16, 32) of a
  Swin encoder;
* `UNETRDecoder`: the raw input plus four same-resolution (stride 16) ViT token maps, progressively
  upsampled.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch.nn as nn
from torch import Tensor

from ..layers.conv_blocks import EncoderConvBlock, OutBlock, ProjectionUpBlock, UpBlock

__all__ = ["SwinUNETRDecoder", "UNETRDecoder"]


class SwinUNETRDecoder(nn.Module):
    """Swin UNETR decoder: residual conv skips at every scale, transposed-conv upsampling, 1x1 output conv.

    ``forward(image, features) -> logits``; `features` are the encoder's five channels-first maps with
    F, 2F, 4F, 8F, 16F channels at strides 2 to 32 (F = `feature_size`).
    """

    def __init__(
        self, in_chans: int, num_classes: int, feature_size: int, spatial_dims: int = 3, norm_name: str | tuple = "instance"
    ) -> None:
        super().__init__()
        f = feature_size

        def skip(channels_in: int, channels_out: int) -> EncoderConvBlock:
            return EncoderConvBlock(spatial_dims, channels_in, channels_out, norm_name)

        def up(channels_in: int, channels_out: int) -> UpBlock:
            return UpBlock(spatial_dims, channels_in, channels_out, norm_name)

        self.skip0 = skip(in_chans, f)  # full resolution, from the image itself
        self.skip1 = skip(f, f)
        self.skip2 = skip(2 * f, 2 * f)
        self.skip3 = skip(4 * f, 4 * f)
        self.bottleneck = skip(16 * f, 16 * f)
        self.up4 = up(16 * f, 8 * f)
        self.up3 = up(8 * f, 4 * f)
        self.up2 = up(4 * f, 2 * f)
        self.up1 = up(2 * f, f)
        self.up0 = up(f, f)
        self.out = OutBlock(spatial_dims, f, num_classes)

    def forward(self, image: Tensor, features: Sequence[Tensor]) -> Tensor:
        f0, f1, f2, f3, f4 = features
        x = self.up4(self.bottleneck(f4), f3)
        x = self.up3(x, self.skip3(f2))
        x = self.up2(x, self.skip2(f1))
        x = self.up1(x, self.skip1(f0))
        x = self.up0(x, self.skip0(image))
        return self.out(x)


class UNETRDecoder(nn.Module):
    """UNETR decoder: ViT maps from blocks 3, 6, 9 upsampled 2x/4x/8x to skip scales, the last one decoded up.

    ``forward(image, features, final) -> logits``; `features` are three channels-first token maps
    (stride 16, `hidden_size` channels), `final` the normalised last-block map.
    """

    def __init__(
        self,
        in_chans: int,
        num_classes: int,
        hidden_size: int,
        feature_size: int = 16,
        spatial_dims: int = 3,
        norm_name: str | tuple = "instance",
        conv_block: bool = True,
        res_block: bool = True,
    ) -> None:
        super().__init__()
        f = feature_size

        def pr_up(channels_out: int, num_layer: int) -> ProjectionUpBlock:
            return ProjectionUpBlock(spatial_dims, hidden_size, channels_out, num_layer, norm_name, conv_block, res_block)

        def up(channels_in: int, channels_out: int) -> UpBlock:
            return UpBlock(spatial_dims, channels_in, channels_out, norm_name, res_block)

        self.skip0 = EncoderConvBlock(spatial_dims, in_chans, f, norm_name, res_block)
        self.skip1 = pr_up(2 * f, num_layer=2)
        self.skip2 = pr_up(4 * f, num_layer=1)
        self.skip3 = pr_up(8 * f, num_layer=0)
        self.up3 = up(hidden_size, 8 * f)
        self.up2 = up(8 * f, 4 * f)
        self.up1 = up(4 * f, 2 * f)
        self.up0 = up(2 * f, f)
        self.out = OutBlock(spatial_dims, f, num_classes)

    def forward(self, image: Tensor, features: Sequence[Tensor], final: Tensor) -> Tensor:
        h3, h6, h9 = features
        x = self.up3(final, self.skip3(h9))
        x = self.up2(x, self.skip2(h6))
        x = self.up1(x, self.skip1(h3))
        x = self.up0(x, self.skip0(image))
        return self.out(x)
