"""What the token mixers share: heads, the q/k/v projections, one qkv -> heads -> attention -> proj path,
the spatial reduction of keys/values (PVT's ``sr``), and the checks of a token grid.

`MultiHeadMixer` is the base class of every multi-head mixer. Its parts are created by helper calls
(`_init_qkv`, `_init_kv_reduction`, `_init_proj`) in the order each published layout creates them, so
parameter names stay those of the official checkpoints (``qkv`` or ``q``/``kv``, ``sr``/``norm``, ``proj``)
and seeded initialisations do not change.

Spatial reduction (one implementation, used by spatial-reduction, focused linear and agent attention):
``sr_ratio > 1`` reduces the key/value grid with a stride-``sr`` ``sr x sr`` conv and a LayerNorm; ``linear``
(PVTv2-li) pools it to ``pool_size x pool_size`` first, then a 1x1 conv, LayerNorm and GELU. Prefix tokens join
the reduced keys/values unreduced. A grid that is not a multiple of ``sr`` is reduced to ``floor(H / sr) x
floor(W / sr)`` cells as in the official code and timm (``sr_pad=True``: zero-padded to the next multiple);
**a grid smaller than ``sr`` along a side is zero-padded to one cell** (the official code fails there), for every
mixer alike.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
from torch import Tensor

from ..helpers import pad_end
from .functional import scaled_dot_product_attention

__all__ = ["MultiHeadMixer", "check_grid", "reference_grid", "QKV_LAYOUTS"]

QKV_LAYOUTS = ("fused", "split", "separate")


def check_grid(x: Tensor, shape: Sequence[int], num_prefix_tokens: int, name: str, spatial_dims: Sequence[int] = (2,)) -> tuple:
    """`shape` as a tuple when `x` holds `num_prefix_tokens` + prod(shape) tokens of a supported grid, else a clear error."""
    shape = tuple(shape)  # no int(): symbolic sizes must stay symbolic under torch.export
    if len(shape) not in spatial_dims:
        dims = "/".join(f"{d}D" for d in spatial_dims)
        raise ValueError(f"{name} works on {dims} token grids, got grid {shape}")
    expected = num_prefix_tokens
    count = 1
    for s in shape:
        count = count * s
    if x.shape[1] != expected + count:
        sizes = " * ".join("DHW"[-len(shape):])
        raise ValueError(
            f"{name} got {x.shape[1]} tokens with grid {shape} and {num_prefix_tokens} prefix tokens; "
            f"expected prefix + {sizes} tokens for grid {shape}"
        )
    return shape


def reference_grid(input_resolution: Sequence[int] | None, name: str) -> tuple[int, int]:
    """The 2D token grid at the model's reference size, or an error saying that the mixer's tables need it."""
    if input_resolution is None or len(input_resolution) != 2:
        raise ValueError(
            f"{name} attention needs the 2D token grid at the model's reference size (input_resolution=(H, W)), "
            f"got {input_resolution!r}: it sizes the attention's position tables; build it in a backbone that knows "
            f"its img_size (ViT, Swin, PVT, Twins, BiFormer) or pass input_resolution"
        )
    return int(input_resolution[0]), int(input_resolution[1])


class MultiHeadMixer(nn.Module):
    """Base of the multi-head token mixers: ``num_heads`` heads of ``head_dim`` channels and the shared paths.

    Attributes set here: ``dim``, ``num_heads``, ``head_dim``, ``scale`` (softmax scale, ``head_dim ** -0.5``
    unless given), ``attn_drop`` (a rate, applied inside the kernel in training), ``num_prefix_tokens``.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        head_dim: int | None = None,
        attn_drop: float = 0.0,
        scale: float | None = None,
        num_prefix_tokens: int = 0,
    ) -> None:
        super().__init__()
        if head_dim is None:
            if dim % num_heads:
                raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}; pass head_dim explicitly")
            head_dim = dim // num_heads
        self.dim = dim
        self.num_heads = num_heads
        self.head_dim = head_dim
        self.scale = head_dim**-0.5 if scale is None else scale
        self.attn_drop = attn_drop
        self.num_prefix_tokens = num_prefix_tokens

    @property
    def attn_dim(self) -> int:
        return self.num_heads * self.head_dim

    # --- parts, created in each layout's own order ---------------------------------------------------
    def _init_qkv(self, layout: str = "fused", bias: bool = False, kdim: int | None = None, vdim: int | None = None) -> None:
        """``"fused"``: one ``qkv``; ``"split"``: ``q`` and ``kv`` (PVT); ``"separate"``: ``q_proj``/``k_proj``/``v_proj``."""
        if layout not in QKV_LAYOUTS:
            raise ValueError(f"qkv layout must be one of {QKV_LAYOUTS}, got {layout!r}")
        self.qkv_layout = layout
        dim, attn_dim = self.dim, self.attn_dim
        if layout == "fused":
            self.qkv = nn.Linear(dim, attn_dim * 3, bias=bias)
        elif layout == "split":
            self.q = nn.Linear(dim, attn_dim, bias=bias)
            self.kv = nn.Linear(dim, attn_dim * 2, bias=bias)
        else:
            self.q_proj = nn.Linear(dim, attn_dim, bias=bias)
            self.k_proj = nn.Linear(kdim or dim, attn_dim, bias=bias)
            self.v_proj = nn.Linear(vdim or dim, attn_dim, bias=bias)

    def _init_proj(self, proj_drop: float = 0.0, bias: bool = True) -> None:
        self.proj = nn.Linear(self.attn_dim, self.dim, bias=bias)
        self.proj_drop = nn.Dropout(proj_drop)

    def _init_kv_reduction(self, sr_ratio: int = 1, linear: bool = False, pool_size: int = 7, sr_pad: bool = False) -> None:
        """PVT's key/value reduction under the official names ``sr`` (+ ``norm``, ``act``); see the module docstring."""
        if sr_ratio < 1:
            raise ValueError(f"sr_ratio must be >= 1, got {sr_ratio}")
        self.sr_ratio = sr_ratio
        self.linear = linear
        self.sr_pad = sr_pad
        self.kv_pool_size = pool_size
        # Absent modules stay None so that state-dict keys match the official layouts exactly.
        self.pool = nn.AdaptiveAvgPool2d(pool_size) if linear else None
        if linear:
            self.sr = nn.Conv2d(self.dim, self.dim, kernel_size=1)
        else:
            self.sr = nn.Conv2d(self.dim, self.dim, kernel_size=sr_ratio, stride=sr_ratio) if sr_ratio > 1 else None
        self.norm = nn.LayerNorm(self.dim) if self.sr is not None else None
        self.act = nn.GELU() if linear else None

    # --- spatial reduction ----------------------------------------------------------------------------
    def reduced_grid(self, grid: Sequence[int]) -> tuple[int, ...]:
        """The key/value grid for token grid `grid` (the same sizes `reduce_kv` produces)."""
        if self.sr is None:
            return tuple(grid)
        if self.pool is not None:
            return (self.kv_pool_size,) * len(grid)
        r = self.sr_ratio
        return tuple(-(-g // r) if self.sr_pad else max(g // r, 1) for g in grid)

    def _sr_pads(self, h: int, w: int) -> tuple[int, int]:
        r = self.sr_ratio
        if self.sr_pad:
            return (-h) % r, (-w) % r
        return max(r - h, 0), max(r - w, 0)  # at least one reduced cell per side

    def reduce_kv(self, x: Tensor, shape: Sequence[int]) -> tuple[Tensor, tuple[int, ...]]:
        """Key/value source tokens (B, prefix + M, C): prefix tokens, then the reduced grid; and that grid's size."""
        if self.sr is None:
            return x, tuple(shape)
        b, _, c = x.shape
        h, w = shape
        p = self.num_prefix_tokens
        grid = x[:, p:].transpose(1, 2).reshape(b, c, h, w)
        if self.pool is not None:
            grid = self.pool(grid)
        else:
            grid = pad_end(grid, self._sr_pads(h, w), channels_last=False)
        grid = self.sr(grid)
        kv = self.norm(grid.flatten(2).transpose(1, 2))
        if self.act is not None:
            kv = self.act(kv)
        return (torch.cat([x[:, :p], kv], dim=1) if p else kv), (grid.shape[-2], grid.shape[-1])

    # --- the qkv -> heads -> attention -> proj path -------------------------------------------------
    def qkv_tokens(self, x: Tensor, shape: Sequence[int] | None = None) -> tuple[Tensor, Tensor, Tensor, tuple | None]:
        """q, k, v as tokens (B, L, heads * d) and the key grid; ``"split"`` takes keys/values from `reduce_kv`."""
        if self.qkv_layout == "fused":
            q, k, v = self.qkv(x).chunk(3, dim=-1)
            return q, k, v, None if shape is None else tuple(shape)
        kv_tokens, kv_grid = self.reduce_kv(x, shape)
        k, v = self.kv(kv_tokens).chunk(2, dim=-1)
        return self.q(x), k, v, kv_grid

    def qkv_heads(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The fused ``qkv`` projection of `x` (B, N, C) split into q, k, v heads (B, heads, N, d)."""
        b, n, _ = x.shape
        return self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)

    def kv_heads(self, tokens: Tensor) -> tuple[Tensor, Tensor]:
        """The ``kv`` projection of key/value source tokens (B, M, C) split into k, v heads (B, heads, M, d)."""
        b = tokens.shape[0]
        return self.kv(tokens).reshape(b, -1, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)

    def split_heads(self, x: Tensor) -> Tensor:
        """(..., L, heads * d) -> (..., heads, L, d)."""
        return x.unflatten(-1, (self.num_heads, -1)).transpose(-3, -2)

    @staticmethod
    def merge_heads(x: Tensor) -> Tensor:
        """(B, heads, L, d) -> (B, L, heads * d)."""
        return x.transpose(1, 2).flatten(2)

    def attend_heads(self, q: Tensor, k: Tensor, v: Tensor, bias: Tensor | None = None) -> Tensor:
        """Softmax attention of head tensors (B, heads, L, d) -> (B, heads, L, d), dropout in training."""
        dropout = self.attn_drop if self.training else 0.0
        return scaled_dot_product_attention(q, k, v, bias=bias, dropout_p=dropout, scale=self.scale)

    def attend(self, q: Tensor, k: Tensor, v: Tensor, bias: Tensor | None = None) -> Tensor:
        """Softmax attention of head tensors (B, heads, L, d) -> merged tokens (B, L, heads * d)."""
        return self.merge_heads(self.attend_heads(q, k, v, bias))

    def project(self, x: Tensor) -> Tensor:
        return self.proj_drop(self.proj(x))
