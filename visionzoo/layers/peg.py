"""CPVT's position encoding generator (PEG): a conditional position encoding from a depthwise conv over the token grid.

``x + dwconv3x3(x)`` on the (H, W) grid of the tokens (Chu et al., "Conditional Positional Encodings for
Vision Transformers", ICLR 2023). The encoding follows the input size, so no table needs resampling; Twins
places one after the first block of every stage.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
from torch import Tensor

__all__ = ["PositionEncodingGenerator"]


class PositionEncodingGenerator(nn.Module):
    """``forward(x[B, prefix + H * W, C], shape=(H, W))``: grid tokens get ``+ dwconv(grid)``, prefix tokens pass.

    ``proj`` is the depthwise conv (the official ``PosCNN``/timm ``PosConv`` wrap it as ``proj.0``).
    """

    def __init__(self, dim: int, kernel_size: int = 3, num_prefix_tokens: int = 0) -> None:
        super().__init__()
        self.num_prefix_tokens = num_prefix_tokens
        self.proj = nn.Conv2d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)

    def forward(self, x: Tensor, shape: Sequence[int]) -> Tensor:
        b, n, c = x.shape
        p = self.num_prefix_tokens
        if len(shape) != 2 or shape[0] * shape[1] + p != n:
            raise ValueError(f"PositionEncodingGenerator got {n} tokens with grid {tuple(shape)} and {p} prefix tokens")
        grid = x[:, p:].transpose(1, 2).reshape(b, c, *shape)
        grid = (grid + self.proj(grid)).flatten(2).transpose(1, 2)
        return torch.cat([x[:, :p], grid], dim=1) if p else grid
