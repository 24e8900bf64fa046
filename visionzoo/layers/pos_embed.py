"""Resampling of learned absolute position embeddings to another token grid (2D bicubic, 3D trilinear)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .microbatch import graph_capture

__all__ = ["resample_abs_pos_embed"]


def resample_abs_pos_embed(
    pos_embed: Tensor, new_grid: Sequence[int], old_grid: Sequence[int], num_prefix_tokens: int = 0, mode: str = "bicubic"
) -> Tensor:
    """(1, prefix + prod(old_grid), C) -> (1, prefix + prod(new_grid), C); prefix rows are kept as they are.

    2D grids use anti-aliased bicubic interpolation (the same computation as timm's
    ``resample_abs_pos_embed``, so timm's dynamic-size ViTs are matched exactly); 3D grids use
    trilinear interpolation. ``mode="bilinear"`` (2D, no anti-aliasing, half-pixel centres) is the resampling
    of the official PVT code. While exporting, the resampling is always traced, so the exported graph
    follows the input size even when the example input has the training grid.
    """
    new_grid, old_grid = tuple(new_grid), tuple(old_grid)
    if not graph_capture() and new_grid == old_grid:
        return pos_embed
    prefix, grid_embed = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    dim = grid_embed.shape[-1]
    nd = len(old_grid)
    channels_first = (0, nd + 1, *range(1, nd + 1))
    grid = grid_embed.float().reshape(1, *old_grid, dim).permute(channels_first)
    if nd == 2:
        grid = F.interpolate(grid, size=new_grid, mode=mode, antialias=mode == "bicubic")
    else:
        grid = F.interpolate(grid, size=new_grid, mode="trilinear", align_corners=False)
    grid_embed = grid.permute(0, *range(2, nd + 2), 1).reshape(1, -1, dim).to(pos_embed.dtype)
    return torch.cat([prefix, grid_embed], dim=1) if num_prefix_tokens else grid_embed
