"""Patch embedding for 2D images and 3D volumes, with the input checks every backbone relies on."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn as nn
from torch import Tensor

from .helpers import pad_end, pads_to_multiple, to_ntuple

__all__ = ["PatchEmbed", "check_image_input"]


def check_image_input(x: Tensor, in_chans: int, spatial_dims: int = 2, min_size: Sequence[int] | None = None) -> None:
    """Raise a ValueError that names the problem and its fix if `x` is not a (B, C, *spatial) float batch."""
    layout = "(B, C, H, W)" if spatial_dims == 2 else "(B, C, D, H, W)"
    if not isinstance(x, Tensor):
        raise ValueError(f"expected a torch.Tensor {layout}, got {type(x).__name__}")
    if x.ndim != spatial_dims + 2:
        hint = " Add the batch dimension with x.unsqueeze(0)." if x.ndim == spatial_dims + 1 else ""
        raise ValueError(f"expected a {spatial_dims + 2}D input {layout}, got shape {tuple(x.shape)}.{hint}")
    if not x.is_floating_point():
        raise ValueError(
            f"expected a floating-point input, got {x.dtype}. Convert and normalise it first, "
            "e.g. x.float() / 255 followed by the model's mean/std (model.pretrained_cfg['mean'/'std'])."
        )
    if x.shape[1] != in_chans:
        hint = " Is the tensor channels-last? Use x.permute(0, 3, 1, 2)." if x.shape[-1] == in_chans else ""
        raise ValueError(
            f"expected {in_chans} input channels, got {x.shape[1]} (input shape {tuple(x.shape)}).{hint} "
            f"Build the model with in_chans={x.shape[1]} to accept this input."
        )
    if min_size is not None:
        spatial = tuple(x.shape[2:])
        if any(s < m for s, m in zip(spatial, min_size)):
            raise ValueError(
                f"input of spatial size {spatial} is smaller than one patch {tuple(min_size)}; "
                "resize it to at least the patch size"
            )


class PatchEmbed(nn.Module):
    """Split an image (or volume) into non-overlapping patches and project each to `embed_dim`.

    ``forward(x[B, C, *spatial]) -> (tokens[B, N, embed_dim], grid)``. Sizes that are not multiples of
    the patch are zero-padded at the end (bottom/right/back), so every pixel is seen.
    """

    def __init__(
        self,
        patch_size: int | Sequence[int] = 16,
        in_chans: int = 3,
        embed_dim: int = 768,
        norm_layer: Callable[[int], nn.Module] | None = None,
        spatial_dims: int = 2,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"PatchEmbed supports 2D and 3D inputs, got spatial_dims={spatial_dims}")
        self.spatial_dims = spatial_dims
        self.patch_size = to_ntuple(patch_size, spatial_dims, "patch_size")
        self.in_chans = in_chans
        self.embed_dim = embed_dim
        conv = nn.Conv2d if spatial_dims == 2 else nn.Conv3d
        self.proj = conv(in_chans, embed_dim, kernel_size=self.patch_size, stride=self.patch_size, bias=bias)
        self.norm = norm_layer(embed_dim) if norm_layer else nn.Identity()

    def grid_size(self, spatial: Sequence[int]) -> tuple[int, ...]:
        """Token grid for an input of spatial size `spatial` (ceil division, matching the padding)."""
        return tuple(-(-s // p) for s, p in zip(spatial, self.patch_size))

    def forward(self, x: Tensor) -> tuple[Tensor, tuple[int, ...]]:
        check_image_input(x, self.in_chans, self.spatial_dims, self.patch_size)
        x = self.proj(pad_end(x, pads_to_multiple(x.shape[2:], self.patch_size), channels_last=False))
        grid = tuple(x.shape[2:])  # symbolic sizes stay symbolic while exporting
        x = x.flatten(2).transpose(1, 2)
        return self.norm(x), grid
