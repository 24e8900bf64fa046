"""Spatial-reduction attention (PVT v1/v2 SRA, Twins GSA): every token queries a spatially reduced set of keys/values.

Queries come from all N tokens; keys and values from the grid reduced by a strided ``sr x sr`` convolution and
a LayerNorm (``sr_ratio > 1``), so the cost is O(N * N / sr^2). PVTv2's linear variant (``linear=True``)
reduces any grid to a fixed 7x7 by adaptive average pooling, then 1x1 conv, LayerNorm and GELU: O(N * 49).
Twins' global sub-sampled attention (GSA) is this block with its ``sr_ratio``; Twins-PCPVT uses it in every
block. Parameter names (``q``, ``kv``, ``sr``, ``norm``, ``proj``) are those of the official PVT, PVTv2 and
Twins code and of timm, so their checkpoints map one to one.

Prefix tokens (a class token) are declared with ``num_prefix_tokens``: they query like the others and join the
reduced keys/values unreduced. The reduction is the one shared by every mixer with reduced keys/values
(`visionzoo.layers.attention.base`): grids that are not multiples of ``sr_ratio`` are reduced to
``floor(H / sr) x floor(W / sr)`` cells as in the official code and timm (the trailing rows/columns still
query, they are not keys), unless ``sr_pad=True`` zero-pads the grid to the next multiple; a grid smaller than
``sr`` along a side is always padded to one cell (the official code fails there).
"""
from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from .base import MultiHeadMixer, check_grid
from .registry import register_attention

__all__ = ["SpatialReductionAttention"]


class SpatialReductionAttention(MultiHeadMixer):
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
        super().__init__(dim, num_heads, attn_drop=attn_drop, num_prefix_tokens=num_prefix_tokens)
        self._init_qkv("split", bias=qkv_bias)
        self._init_proj(proj_drop)
        self._init_kv_reduction(sr_ratio, linear, pool_size=pool_size, sr_pad=sr_pad)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_heads={self.num_heads}, sr_ratio={self.sr_ratio}, linear={self.linear}"

    def reduce(self, x: Tensor, shape: Sequence[int]) -> Tensor:
        """Key/value tokens: prefix tokens followed by the reduced grid, (B, prefix + M, C)."""
        return self.reduce_kv(x, shape)[0]

    def forward(self, x: Tensor, shape: Sequence[int]) -> Tensor:
        check_grid(x, shape, self.num_prefix_tokens, "SpatialReductionAttention")
        q = self.split_heads(self.q(x))
        k, v = self.kv_heads(self.reduce(x, shape))
        return self.project(self.attend(q, k, v))


register_attention("spatial_reduction", SpatialReductionAttention)
