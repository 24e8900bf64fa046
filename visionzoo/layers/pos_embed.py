"""Resampling of learned absolute position embeddings to another token grid (2D bicubic, 3D trilinear)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from timm.layers import resample_abs_pos_embed as _resample_2d
from torch import Tensor

__all__ = ["resample_abs_pos_embed"]


def resample_abs_pos_embed(
    pos_embed: Tensor, new_grid: Sequence[int], old_grid: Sequence[int], num_prefix_tokens: int = 0
) -> Tensor:
    """(1, prefix + prod(old_grid), C) -> (1, prefix + prod(new_grid), C); prefix rows are kept as they are.

    2D grids use timm's anti-aliased bicubic resampling (bit-identical to timm's dynamic-size ViT);
    3D grids use trilinear interpolation.
    """
    new_grid, old_grid = tuple(new_grid), tuple(old_grid)
    if new_grid == old_grid:
        return pos_embed
    if len(new_grid) == 2:
        return _resample_2d(pos_embed, new_size=list(new_grid), old_size=list(old_grid), num_prefix_tokens=num_prefix_tokens)
    prefix, grid_embed = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    dim = grid_embed.shape[-1]
    vol = grid_embed.float().reshape(1, *old_grid, dim).permute(0, 4, 1, 2, 3)
    vol = F.interpolate(vol, size=new_grid, mode="trilinear", align_corners=False)
    grid_embed = vol.permute(0, 2, 3, 4, 1).reshape(1, -1, dim).to(pos_embed.dtype)
    return torch.cat([prefix, grid_embed], dim=1) if num_prefix_tokens else grid_embed
