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

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import trunc_normal_
from torch import Tensor

from ...utils.precision import no_autocast
from ..pos_embed import resample_abs_pos_embed
from .base import MultiHeadMixer, check_grid, reference_grid
from .registry import register_attention

__all__ = ["FocusedLinearAttention"]


class FocusedLinearAttention(MultiHeadMixer):
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
            sr_ratio: PVT spatial reduction of keys/values (1 = none; see `visionzoo.layers.attention.base` for
                grids smaller than the ratio); implies ``split_qkv``.
            linear: PVTv2-li keys/values pooled to 7x7; implies ``split_qkv``.
            split_qkv: separate ``q`` and ``kv`` projections (the official PVT layout) instead of a fused ``qkv``.
            attn_drop: accepted for interface compatibility; linear attention has no attention matrix to drop.
        """
        super().__init__(dim, num_heads, num_prefix_tokens=num_prefix_tokens)
        if num_prefix_tokens and (sr_ratio > 1 or linear):
            raise ValueError("focused linear attention with spatially reduced keys cannot take prefix (class) tokens")
        self.focusing_factor = focusing_factor
        ref_grid = reference_grid(input_resolution, "focused linear")
        self.split_qkv = split_qkv or sr_ratio > 1 or linear
        self._init_qkv("split" if self.split_qkv else "fused", bias=qkv_bias)
        self._init_kv_reduction(sr_ratio, linear)
        self.ref_grid = self.reduced_grid(ref_grid)
        self._init_proj(proj_drop)
        self.dwc = nn.Conv2d(self.head_dim, self.head_dim, kernel_size, padding=kernel_size // 2, groups=self.head_dim)
        self.scale = nn.Parameter(torch.zeros(1, 1, dim))
        self.positional_encoding = nn.Parameter(torch.zeros(1, math.prod(self.ref_grid), dim))
        trunc_normal_(self.positional_encoding, std=0.02)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_heads={self.num_heads}, focusing_factor={self.focusing_factor}, ref_grid={self.ref_grid}"

    def _focus(self, x: Tensor, scale: Tensor) -> Tensor:
        x = (F.relu(x) + 1e-6) / scale
        norm = x.norm(dim=-1, keepdim=True)
        x = x**self.focusing_factor
        return x / x.norm(dim=-1, keepdim=True) * norm

    def _linear_attention(self, q: Tensor, k: Tensor, v: Tensor, pos: Tensor) -> Tensor:
        """Focused maps and normalised linear attention: q, k, `pos` (B, L, C), v heads -> (B, heads, N, d), `v`'s dtype.

        Always fp32, also under autocast or in a half-precision module: the cubed map overflows fp16 (its
        norm squares it again) and the normaliser loses bf16's precision, giving NaNs under AMP (official
        FLatten issue #15). In fp32 these are the same operations as before, bit for bit.
        """
        with no_autocast(v.device.type):
            scale = F.softplus(self.scale.float())
            q, k = self._focus(q.float(), scale), self._focus(k.float() + pos.float(), scale)
            q, k, vf = self.split_heads(q), self.split_heads(k), v.float()
            m = k.shape[-2]
            z = 1.0 / (q @ k.mean(dim=-2, keepdim=True).transpose(-2, -1) + 1e-6)
            kv = (k.transpose(-2, -1) * m**-0.5) @ (vf * m**-0.5)
            return (q @ kv * z).to(v.dtype)

    def forward(self, x: Tensor, shape: Sequence[int]) -> Tensor:
        b, n, c = x.shape
        p = self.num_prefix_tokens
        h, w = check_grid(x, shape, p, "focused linear attention")
        q, k, v, kv_grid = self.qkv_tokens(x, (h, w))
        pos = resample_abs_pos_embed(self.positional_encoding, kv_grid, self.ref_grid)
        if p:
            pos = F.pad(pos, (0, 0, p, 0))
        v = self.split_heads(v)
        out = self._linear_attention(q, k, v, pos).transpose(1, 2).reshape(b, n, c)

        v = v[:, :, p:]  # grid tokens: (B, heads, h*w, d)
        if self.linear or self.sr_ratio > 1:
            # official FLatten-PVT: reduced V stretched back to N tokens by 1D linear interpolation over the sequence
            v = F.interpolate(v.transpose(-2, -1).reshape(b * self.num_heads, self.head_dim, -1), size=h * w, mode="linear")
            v = v.view(b, self.num_heads, self.head_dim, h * w).transpose(-2, -1)
        v = v.reshape(b * self.num_heads, h, w, self.head_dim).permute(0, 3, 1, 2)  # channels-last: faster depthwise conv
        local = self.dwc(v).reshape(b, c, h * w).transpose(1, 2)
        out = torch.cat([out[:, :p], out[:, p:] + local], dim=1) if p else out + local
        return self.project(out)


register_attention("focused_linear", FocusedLinearAttention)
