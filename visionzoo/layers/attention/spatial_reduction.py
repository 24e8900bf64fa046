"""Spatial-reduction attention (PVT v1/v2 SRA, Twins GSA): every token queries a spatially reduced set of keys/values.

Queries come from all N tokens; keys and values from the grid reduced by a strided ``sr x sr`` convolution and
a LayerNorm (``sr_ratio > 1``), so the cost is O(N * N / sr^2). PVTv2's linear variant (``linear=True``)
reduces any grid to a fixed 7x7 by adaptive average pooling, then 1x1 conv, LayerNorm and GELU: O(N * 49).
Twins' global sub-sampled attention (GSA) is this block with its ``sr_ratio``; Twins-PCPVT uses it in every
block. Parameter names (``q``, ``kv``, ``sr``, ``norm``, ``proj``) are those of the official PVT, PVTv2 and
Twins code and of timm, so their checkpoints map one to one.

Grids that are not multiples of ``sr_ratio``: the strided reduction covers ``floor(H / sr) x floor(W / sr)``
cells as in the official code and timm (the trailing rows/columns still query, they are not keys), unless
``sr_pad=True`` zero-pads the grid to the next multiple; a grid smaller than ``sr`` along a side is always
padded to one cell (the official code fails there). Prefix tokens (a class token) are declared with
``num_prefix_tokens``: they query like the others and join the reduced keys/values unreduced.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn
from torch import Tensor

from ..helpers import pad_end
from .functional import scaled_dot_product_attention
from .registry import drop_unused, register_attention

__all__ = ["SpatialReductionAttention"]


class SpatialReductionAttention(nn.Module):
    """SRA / GSA token mixer: ``forward(x[B, N, C], shape=(H, W)) -> [B, N, C]`` (N = prefix + H * W)."""

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        sr_ratio: int = 1,
        linear: bool = False,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        num_prefix_tokens: int = 0,
        pool_size: int = 7,
        sr_pad: bool = False,
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        if sr_ratio < 1:
            raise ValueError(f"sr_ratio must be >= 1, got {sr_ratio}")
        self.dim = dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.sr_ratio = sr_ratio
        self.linear = linear
        self.sr_pad = sr_pad
        self.num_prefix_tokens = num_prefix_tokens
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, dim * 2, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        # Absent modules stay None so that state-dict keys match the official layouts exactly.
        self.pool = nn.AdaptiveAvgPool2d(pool_size) if linear else None
        if linear:
            self.sr = nn.Conv2d(dim, dim, kernel_size=1)
        else:
            self.sr = nn.Conv2d(dim, dim, kernel_size=sr_ratio, stride=sr_ratio) if sr_ratio > 1 else None
        self.norm = nn.LayerNorm(dim) if self.sr is not None else None
        self.act = nn.GELU() if linear else None

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_heads={self.num_heads}, sr_ratio={self.sr_ratio}, linear={self.linear}"

    def reduce(self, x: Tensor, shape: Sequence[int]) -> Tensor:
        """Key/value tokens: prefix tokens followed by the reduced grid, (B, prefix + M, C)."""
        if self.sr is None:
            return x
        b, n, c = x.shape
        h, w = shape
        p = self.num_prefix_tokens
        grid = x[:, p:].transpose(1, 2).reshape(b, c, h, w)
        if self.pool is not None:
            grid = self.pool(grid)
        else:
            grid = pad_end(grid, self._pads(h, w), channels_last=False)
        kv = self.norm(self.sr(grid).flatten(2).transpose(1, 2))
        if self.act is not None:
            kv = self.act(kv)
        return torch.cat([x[:, :p], kv], dim=1) if p else kv

    def _pads(self, h: int, w: int) -> tuple[int, int]:
        r = self.sr_ratio
        if self.sr_pad:
            return (-h) % r, (-w) % r
        return max(r - h, 0), max(r - w, 0)  # at least one reduced cell per side

    def forward(self, x: Tensor, shape: Sequence[int]) -> Tensor:
        b, n, c = x.shape
        if len(shape) != 2 or shape[0] * shape[1] + self.num_prefix_tokens != n:
            raise ValueError(
                f"SpatialReductionAttention got {n} tokens with grid {tuple(shape)} and "
                f"{self.num_prefix_tokens} prefix tokens; expected prefix + H * W tokens of a 2D grid"
            )
        q = self.q(x).reshape(b, n, self.num_heads, self.head_dim).transpose(1, 2)
        kv = self.kv(self.reduce(x, shape))
        k, v = kv.reshape(b, -1, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        dropout = self.attn_drop if self.training else 0.0
        x = scaled_dot_product_attention(q, k, v, dropout_p=dropout, scale=self.scale)
        return self.proj_drop(self.proj(x.transpose(1, 2).reshape(b, n, c)))


def _build(dim: int, num_heads: int, **kwargs: Any) -> nn.Module:
    kwargs = drop_unused(kwargs, "input_resolution", "window_size", "shift_size")
    return SpatialReductionAttention(dim, num_heads, **kwargs)


register_attention("spatial_reduction", _build)
