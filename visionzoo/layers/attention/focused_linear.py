"""Focused linear attention (FLatten; Han et al., ICCV 2023): linear-cost global attention with a focusing map.

Follows the official LeapLabTHU/FLatten-Transformer code in its current, numerically stabilised form
(May 2024: the k-sum normaliser is written as a mean and both factors of ``k^T v`` are scaled by
``n^-1/2``, which is the same function as the released models were trained with, but stays finite in
fp16):

* ``phi(x) = relu(x) + 1e-6`` divided by a learnable per-channel ``softplus(scale)``;
* focusing: ``phi(x) ** p`` (p = 3) re-scaled to the norm of ``phi(x)`` (norms over all channels);
* ``out = phi(q) (phi(k)^T v / n) / (phi(q) . mean(phi(k)) + 1e-6)`` per head over the n keys, in O(N d^2);
* a rank-restoring depthwise ``kernel_size`` conv on V (one ``head_dim``-channel kernel shared by all
  heads) added to the output;
* a learnable positional encoding (1, N_ref, C) added to K, laid out on the reference key grid
  (the token grid at the model's training size, spatially reduced where K/V are).

The released models fix the input size through that encoding; here it is resampled (bicubic,
anti-aliased, as the ViT position embedding) to the actual key grid, so any size runs and the
reference size reproduces the official outputs exactly. Parameter names are the official ones:
``qkv`` (Swin) or ``q``/``kv`` with ``sr``/``norm`` (PVT, ``split_qkv=True``), ``dwc``, ``scale``,
``positional_encoding``, ``proj``.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import trunc_normal_
from torch import Tensor

from ..pos_embed import resample_abs_pos_embed
from .registry import drop_unused, register_attention

__all__ = ["FocusedLinearAttention", "add_key_value_reduction", "reduce_key_values", "reference_grid", "check_grid"]

LINEAR_POOL_SIZE = 7  # PVTv2-li pools keys/values to 7x7


def reference_grid(
    input_resolution: Sequence[int] | None, sr_ratio: int = 1, linear: bool = False, name: str = ""
) -> tuple[int, int]:
    """The (h, w) key grid at the model's reference size: the token grid, reduced by `sr_ratio` or pooled (PVTv2-li)."""
    if input_resolution is None or len(input_resolution) != 2:
        raise ValueError(
            f"{name} attention needs the 2D token grid at the model's reference size (input_resolution=(H, W)), "
            f"got {input_resolution!r}: it sizes the attention's position tables"
        )
    if linear:
        return LINEAR_POOL_SIZE, LINEAR_POOL_SIZE
    h, w = (int(s) for s in input_resolution)
    return h // sr_ratio, w // sr_ratio


def check_grid(x: Tensor, shape: Sequence[int], num_prefix_tokens: int, name: str) -> tuple[int, int]:
    """The (H, W) grid of `x` = prefix tokens + H*W grid tokens, or a clear error."""
    if len(shape) != 2:
        raise ValueError(f"{name} attention works on 2D token grids, got grid {tuple(shape)}")
    h, w = shape
    if x.shape[1] != num_prefix_tokens + h * w:
        raise ValueError(
            f"{name} attention got {x.shape[1]} tokens for grid {tuple(shape)} with {num_prefix_tokens} prefix tokens"
        )
    return h, w


def add_key_value_reduction(module: nn.Module, dim: int, sr_ratio: int = 1, linear: bool = False) -> None:
    """Give `module` PVT's key/value reduction under the official names: ``sr`` (conv) + ``norm`` (+ ``act``).

    ``sr_ratio > 1``: a stride-`sr_ratio` conv; ``linear`` (PVTv2-li): average pooling to 7x7, a 1x1 conv
    and GELU after the norm. Neither: no reduction.
    """
    module.sr_ratio = sr_ratio
    module.linear = linear
    if linear:
        module.sr = nn.Conv2d(dim, dim, kernel_size=1)
        module.norm = nn.LayerNorm(dim)
        module.act = nn.GELU()
    elif sr_ratio > 1:
        module.sr = nn.Conv2d(dim, dim, kernel_size=sr_ratio, stride=sr_ratio)
        module.norm = nn.LayerNorm(dim)


def reduce_key_values(module: nn.Module, x: Tensor, shape: tuple[int, int]) -> tuple[Tensor, tuple[int, int]]:
    """Grid tokens (B, H*W, C) -> the key/value source of `module` (see `add_key_value_reduction`) and its grid."""
    if not (module.linear or module.sr_ratio > 1):
        return x, shape
    b, _, c = x.shape
    grid = x.transpose(1, 2).reshape(b, c, *shape)
    if module.linear:
        grid = F.adaptive_avg_pool2d(grid, LINEAR_POOL_SIZE)
    elif shape[0] < module.sr_ratio or shape[1] < module.sr_ratio:
        raise ValueError(f"grid {tuple(shape)} is smaller than the spatial-reduction ratio {module.sr_ratio}")
    grid = module.sr(grid)
    out = module.norm(grid.flatten(2).transpose(1, 2))
    if module.linear:
        out = module.act(out)
    return out, (grid.shape[-2], grid.shape[-1])


class FocusedLinearAttention(nn.Module):
    """Focused linear attention token mixer: ``forward(x[B, prefix + H*W, C], (H, W)) -> [B, prefix + H*W, C]``.

    Prefix (class) tokens take part as queries, keys and values; the positional encoding and the
    depthwise conv apply to grid tokens only.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        input_resolution: Sequence[int] | None = None,
        qkv_bias: bool = False,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        sr_ratio: int = 1,
        linear: bool = False,
        split_qkv: bool = False,
        focusing_factor: float = 3,
        kernel_size: int = 5,
        num_prefix_tokens: int = 0,
    ) -> None:
        """
        Args:
            input_resolution: token grid (H, W) at the model's reference size; sizes the positional encoding.
            sr_ratio: PVT spatial reduction of keys/values (1 = none); implies ``split_qkv``.
            linear: PVTv2-li keys/values pooled to 7x7; implies ``split_qkv``.
            split_qkv: separate ``q`` and ``kv`` projections (the official PVT layout) instead of a fused ``qkv``.
            attn_drop: accepted for interface compatibility; linear attention has no attention matrix to drop.
        """
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        if num_prefix_tokens and (sr_ratio > 1 or linear):
            raise ValueError("focused linear attention with spatially reduced keys cannot take prefix (class) tokens")
        self.dim = dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.focusing_factor = focusing_factor
        self.num_prefix_tokens = num_prefix_tokens
        self.ref_grid = reference_grid(input_resolution, sr_ratio, linear, name="focused linear")
        self.split_qkv = split_qkv or sr_ratio > 1 or linear
        if self.split_qkv:
            self.q = nn.Linear(dim, dim, bias=qkv_bias)
            self.kv = nn.Linear(dim, dim * 2, bias=qkv_bias)
        else:
            self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        add_key_value_reduction(self, dim, sr_ratio, linear)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self.dwc = nn.Conv2d(self.head_dim, self.head_dim, kernel_size, padding=kernel_size // 2, groups=self.head_dim)
        self.scale = nn.Parameter(torch.zeros(1, 1, dim))
        self.positional_encoding = nn.Parameter(torch.zeros(1, math.prod(self.ref_grid), dim))
        trunc_normal_(self.positional_encoding, std=0.02)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_heads={self.num_heads}, focusing_factor={self.focusing_factor}, ref_grid={self.ref_grid}"

    def _project(self, x: Tensor, shape: tuple[int, int]) -> tuple[Tensor, Tensor, Tensor, tuple[int, int]]:
        if not self.split_qkv:
            q, k, v = self.qkv(x).chunk(3, dim=-1)
            return q, k, v, shape
        kv_tokens, kv_grid = reduce_key_values(self, x, shape)
        k, v = self.kv(kv_tokens).chunk(2, dim=-1)
        return self.q(x), k, v, kv_grid

    def _focus(self, x: Tensor, scale: Tensor) -> Tensor:
        x = (F.relu(x) + 1e-6) / scale
        norm = x.norm(dim=-1, keepdim=True)
        x = x**self.focusing_factor
        return x / x.norm(dim=-1, keepdim=True) * norm

    def _heads(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, x: Tensor, shape: Sequence[int]) -> Tensor:
        b, n, c = x.shape
        p = self.num_prefix_tokens
        h, w = check_grid(x, shape, p, "focused linear")
        q, k, v, kv_grid = self._project(x, (h, w))
        pos = resample_abs_pos_embed(self.positional_encoding, kv_grid, self.ref_grid)
        if p:
            pos = F.pad(pos, (0, 0, p, 0))
        scale = F.softplus(self.scale)
        q, k = self._focus(q, scale), self._focus(k + pos, scale)
        q, k, v = self._heads(q), self._heads(k), self._heads(v)

        m = k.shape[-2]
        z = 1.0 / (q @ k.mean(dim=-2, keepdim=True).transpose(-2, -1) + 1e-6)
        kv = (k.transpose(-2, -1) * m**-0.5) @ (v * m**-0.5)
        out = (q @ kv * z).transpose(1, 2).reshape(b, n, c)

        v = v[:, :, p:]  # grid tokens: (B, heads, h*w, d)
        if self.linear or self.sr_ratio > 1:
            # official FLatten-PVT: reduced V stretched back to N tokens by 1D linear interpolation over the sequence
            v = F.interpolate(v.transpose(-2, -1).reshape(b * self.num_heads, self.head_dim, -1), size=h * w, mode="linear")
            v = v.view(b, self.num_heads, self.head_dim, h * w).transpose(-2, -1)
        v = v.reshape(b * self.num_heads, h, w, self.head_dim).permute(0, 3, 1, 2)  # channels-last: faster depthwise conv
        local = self.dwc(v).reshape(b, c, h * w).transpose(1, 2)
        out = torch.cat([out[:, :p], out[:, p:] + local], dim=1) if p else out + local
        return self.proj_drop(self.proj(out))


def _focused_linear_builder(dim: int, num_heads: int, **kwargs: Any) -> nn.Module:
    """Builder for ``type="focused_linear"``; a backbone that passes ``sr_ratio`` (PVT) gets the ``q``/``kv`` layout."""
    kwargs.setdefault("split_qkv", "sr_ratio" in kwargs)
    return FocusedLinearAttention(dim, num_heads, **drop_unused(kwargs, "window_size", "shift_size"))


register_attention("focused_linear", _focused_linear_builder)
