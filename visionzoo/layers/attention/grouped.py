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

from torch import Tensor

from ..helpers import all_zero, pad_end, pads_to_multiple, to_ntuple
from .base import MultiHeadMixer, check_grid
from .registry import register_attention
from .window import window_partition, window_reverse

__all__ = ["LocallyGroupedAttention"]


class LocallyGroupedAttention(MultiHeadMixer):
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
        super().__init__(dim, num_heads, attn_drop=attn_drop)
        self.window_size = to_ntuple(window_size, 2, "window_size")
        self._init_qkv("fused", bias=qkv_bias)
        self._init_proj(proj_drop)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_heads={self.num_heads}, window_size={self.window_size}"

    def forward(self, x: Tensor, shape: Sequence[int]) -> Tensor:
        b, n, c = x.shape
        shape = check_grid(x, shape, 0, "LocallyGroupedAttention")
        pads = pads_to_multiple(shape, self.window_size)
        grid = tuple(s + p for s, p in zip(shape, pads))
        x = pad_end(x.view(b, *shape, c), pads, channels_last=True)
        windows = window_partition(x, self.window_size)  # B * nW, ws * ws, C
        out = window_reverse(self.attend(*self.qkv_heads(windows)), self.window_size, grid)
        if not all_zero(pads):
            out = out[:, : shape[0], : shape[1]]
        return self.project(out.reshape(b, n, c))


register_attention("locally_grouped", LocallyGroupedAttention, prefix_tokens=False)
