"""Locally-grouped self-attention (Twins-SVT's LSA): full attention inside non-overlapping windows, no position bias.

The grid is split into ``window_size x window_size`` groups and each token attends within its group only,
O(N * ws^2). Grids that are not multiples of the window are zero-padded at the bottom/right before the
``qkv`` projection and cropped afterwards; the padded tokens take part in attention as keys, exactly as in
timm's Twins (the official code requires multiples of the window and agrees there). A grid smaller than
the window is padded to one full window, as in both references. Parameter names (``qkv``, ``proj``) are
those of the official Twins ``GroupAttention`` and timm's ``LocallyGroupedAttn``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch.nn as nn
from torch import Tensor

from ..helpers import all_zero, pad_end, pads_to_multiple, to_ntuple
from .functional import scaled_dot_product_attention
from .registry import drop_unused, register_attention
from .window import window_partition, window_reverse

__all__ = ["LocallyGroupedAttention"]


class LocallyGroupedAttention(nn.Module):
    """LSA token mixer over a 2D grid: ``forward(x[B, H * W, C], shape=(H, W)) -> [B, H * W, C]``."""

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        window_size: int | Sequence[int] = 7,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.dim = dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.window_size = to_ntuple(window_size, 2, "window_size")
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_heads={self.num_heads}, window_size={self.window_size}"

    def forward(self, x: Tensor, shape: Sequence[int]) -> Tensor:
        b, n, c = x.shape
        shape = tuple(shape)
        if len(shape) != 2 or shape[0] * shape[1] != n:
            raise ValueError(f"LocallyGroupedAttention got {n} tokens with grid {shape}; expected a 2D grid of {n} tokens")
        pads = pads_to_multiple(shape, self.window_size)
        grid = tuple(s + p for s, p in zip(shape, pads))
        x = pad_end(x.view(b, *shape, c), pads, channels_last=True)
        windows = window_partition(x, self.window_size)  # B * nW, ws * ws, C
        bw, nw, _ = windows.shape
        qkv = self.qkv(windows).reshape(bw, nw, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        dropout = self.attn_drop if self.training else 0.0
        out = scaled_dot_product_attention(q, k, v, dropout_p=dropout, scale=self.scale)
        out = window_reverse(out.transpose(1, 2).reshape(bw, nw, c), self.window_size, grid)
        if not all_zero(pads):
            out = out[:, : shape[0], : shape[1]]
        out = out.reshape(b, n, c)
        return self.proj_drop(self.proj(out))


def _build(dim: int, num_heads: int, num_prefix_tokens: int = 0, **kwargs: Any) -> nn.Module:
    if num_prefix_tokens:
        raise ValueError(
            "locally-grouped attention cannot mix prefix (class) tokens: use it in a backbone without a class token"
        )
    kwargs = drop_unused(kwargs, "input_resolution", "sr_ratio", "linear", "shift_size")
    return LocallyGroupedAttention(dim, num_heads, **kwargs)


register_attention("locally_grouped", _build)
