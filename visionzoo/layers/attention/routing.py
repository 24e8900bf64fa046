"""Bi-level routing attention (BiFormer, Zhu et al., CVPR 2023) and BiFormer's global attention with LePE.

`BiLevelRoutingAttention` follows the formulation of the released BiFormer-T/S/B checkpoints
(rayleizhu/BiFormer ``ops/bra_legacy.py``; the refactored ``ops/bra_nchw.py`` pads differently and
is not numerically interchangeable):

* the grid is zero-padded at the bottom/right to a multiple of ``n_win`` *before* the qkv projection
  (the official ``auto_pad``), so padded tokens take part as keys with q/k/v equal to the qkv bias,
  and cut off after the attention; the grid is split into ``n_win x n_win`` regions;
* one linear ``qkv`` gives q, k (``qk_dim`` each) and v (``dim``); region-level q/k are the means of
  q/k over each region (not differentiated, the official default), and each query region routes to
  the ``topk`` regions of highest ``(q_r * scale) . k_r``;
* every token attends over all tokens of its region's ``topk`` regions, heads split q/k/v evenly,
  with the scale ``qk_dim ** -0.5`` of the whole q/k width (not per head), as the official code;
* LePE: a depthwise ``side_dwconv`` x ``side_dwconv`` conv of v on the padded grid is added to the
  attention output before the output projection ``wo``.

Two exact kernels compute the token attention. ``"gather"`` copies each query region's routed key and
value regions (``index_select``, then fused SDPA); without autograd it works through the query regions
in chunks of a few MB, so the top-k-times copy of K/V that the official code materialises never exists
at once. ``"dense"`` runs fused SDPA over the whole grid with a region-level mask (-inf outside the
routed regions): more multiply-adds (``n_win**2 / topk`` times) but no copy at all, much faster when a
large share of the regions is routed (BiFormer's third stage: 16 of 49) and the grid is small.
``kernel="auto"`` picks dense when ``4 * topk >= n_win**2`` and the grid has at most `DENSE_MAX_TOKENS`
tokens, gather otherwise; graph captures (ONNX, torch.export) and explicit attention (FLOP counting)
always use gather, whose memory grows linearly with the grid and whose MACs are the algorithm's.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
from torch import Tensor

from ..helpers import pad_end, pads_to_multiple
from ..microbatch import autograd_free, graph_capture
from .base import MultiHeadMixer, check_grid
from .functional import use_explicit_attention
from .registry import register_attention
from .softmax import SelfAttention
from .window import window_partition, window_reverse

__all__ = ["BiLevelRoutingAttention", "LePESelfAttention", "region_mean", "route_regions"]

KERNELS = ("auto", "gather", "dense")
DENSE_MAX_TOKENS = 1024  # the dense kernel's (B, N, N) mask and N^2 scores stay small up to here
_GATHER_CHUNK_BYTES = 4 << 20  # gathered K/V per chunk of query regions (autograd-free only)


def region_mean(x: Tensor, n_win: int) -> Tensor:
    """(B, H, W, C) with H, W multiples of `n_win` -> (B, n_win**2, C) means over each region (raster order).

    Two reductions over one middle dimension each: much faster on CPU than one over two strided dimensions.
    """
    b, h, w, c = x.shape
    rows = x.reshape(b, n_win, h // n_win, w * c).mean(2)
    return rows.view(b, n_win * n_win, w // n_win, c).mean(2)


def route_regions(q_regions: Tensor, k_regions: Tensor, topk: int, scale: float) -> Tensor:
    """Indices (B, R, topk) of the `topk` key regions with the highest ``(q_r * scale) . k_r`` per query region.

    `q_regions`/`k_regions` are (B, R, C) region means; routing is not differentiated (as the official
    default), so they are detached.
    """
    logits = (q_regions.detach() * scale) @ k_regions.detach().transpose(-2, -1)
    return torch.topk(logits, k=topk, dim=-1).indices


class BiLevelRoutingAttention(MultiHeadMixer):
    """Bi-level routing attention token mixer: ``forward(x[B, H*W, C], (H, W)) -> [B, H*W, C]``.

    Parameter names follow the official release: ``qkv`` (its ``qkv.qkv``), ``wo``, ``lepe``.
    Any grid size runs (padded to a multiple of `n_win`); see the module docstring for the kernels.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        n_win: int = 7,
        topk: int = 4,
        qk_dim: int | None = None,
        qk_scale: float | None = None,
        side_dwconv: int = 5,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        kernel: str = "auto",
    ) -> None:
        qk_dim = qk_dim or dim
        if qk_dim % num_heads or dim % num_heads:
            raise ValueError(f"qk_dim {qk_dim} and dim {dim} must both be divisible by num_heads {num_heads}")
        if not 0 < topk <= n_win * n_win:
            raise ValueError(f"topk must be in [1, n_win**2 = {n_win * n_win}], got {topk}")
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
        # one scale for the whole q/k width, not per head (official code)
        super().__init__(dim, num_heads, attn_drop=attn_drop, scale=qk_scale or qk_dim**-0.5)
        self.qk_dim = qk_dim
        self.n_win = n_win
        self.topk = topk
        self.kernel = kernel
        self.qkv = nn.Linear(dim, 2 * qk_dim + dim, bias=qkv_bias)
        self.lepe = nn.Conv2d(dim, dim, side_dwconv, padding=side_dwconv // 2, groups=dim) if side_dwconv > 0 else None
        self.wo = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, qk_dim={self.qk_dim}, num_heads={self.num_heads}, n_win={self.n_win}, topk={self.topk}"

    def _use_dense(self, tokens: int) -> bool:
        if self.kernel != "auto" or graph_capture() or use_explicit_attention():  # export / FLOP counting: gather
            return self.kernel == "dense"
        return 4 * self.topk >= self.n_win**2 and tokens <= DENSE_MAX_TOKENS

    def forward(self, x: Tensor, shape: Sequence[int]) -> Tensor:
        b, n, c = x.shape
        shape = check_grid(x, shape, 0, "BiLevelRoutingAttention")
        pads = pads_to_multiple(shape, (self.n_win, self.n_win))
        x = pad_end(x.reshape(b, *shape, c), pads, channels_last=True)
        grid = (x.shape[1], x.shape[2])
        nw, qk = self.n_win, self.qk_dim
        if self._use_dense(grid[0] * grid[1]):
            qkv = self.qkv(x)  # B, Hp, Wp, 2 * qk_dim + dim
            means = region_mean(qkv, nw)
            out = self._dense(qkv, route_regions(means[..., :qk], means[..., qk: 2 * qk], self.topk, self.scale))
            if self.lepe is not None:
                out = out + self._lepe(qkv[..., 2 * qk:])
        else:  # project in region layout: only x (not the 3x wider qkv) is permuted
            region = (grid[0] // nw, grid[1] // nw)
            regions = window_partition(x, region, counts=(nw, nw)).view(b, nw * nw, region[0] * region[1], c)
            qkv = self.qkv(regions)  # B, R, T, 2 * qk_dim + dim
            del regions  # the region-ordered copy of x is not needed after the projection
            idx = route_regions(qkv[..., :qk].mean(2), qkv[..., qk: 2 * qk].mean(2), self.topk, self.scale)
            out = self._gather(qkv, idx)  # B, R, T, dim
            if self.lepe is None:
                out = window_reverse(out.flatten(0, 1), region, grid, counts=(nw, nw))
            else:
                v = window_reverse(qkv[..., 2 * qk:].flatten(0, 1), region, grid, counts=(nw, nw))
                del qkv  # free the 3x-wide projection before the LePE temporaries
                rh, rw = region
                # adding the regions onto the grid-ordered LePE puts them back in grid order in the same pass
                out = self._lepe(v).view(b, nw, rh, nw, rw, c) + out.view(b, nw, nw, rh, rw, c).transpose(2, 3)
                out = out.reshape(b, *grid, c)
        out = out[:, : shape[0], : shape[1]].reshape(b, n, c)
        return self.proj_drop(self.wo(out))

    def _lepe(self, v: Tensor) -> Tensor:
        """Depthwise conv of v on its grid, channels-last (B, Hp, Wp, dim) in and out."""
        return self.lepe(v.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)

    # --- token-to-token attention over the routed regions ---------------------------------------
    def _gather(self, qkv: Tensor, idx: Tensor) -> Tensor:
        """Attention with the routed key/value regions `idx` copied per query region; (B, R, T, ckv) -> (B, R, T, dim)."""
        b, r, t, ckv = qkv.shape
        qk = self.qk_dim
        # rows of the flattened (B * R) region axis each query region reads
        rows = (idx + torch.arange(b, device=idx.device).view(b, 1, 1) * r).view(b * r, self.topk)
        q = qkv[..., :qk].reshape(b * r, t, qk)
        kv = qkv[..., qk:].reshape(b * r, t, ckv - qk)  # views: index_select makes the only copy
        if not autograd_free():
            return self._attend_gathered(q, kv, rows).transpose(1, 2).reshape(b, r, t, self.dim)
        out = q.new_empty(b * r, t, self.dim)
        heads = out.view(b * r, t, self.num_heads, -1).transpose(1, 2)  # (B * R, h, T, d) view the chunks write into
        step = max(1, _GATHER_CHUNK_BYTES // (self.topk * t * (ckv - qk) * kv.element_size()))
        for start in range(0, b * r, step):
            heads[start: start + step] = self._attend_gathered(q[start: start + step], kv, rows[start: start + step])
        return out.view(b, r, t, self.dim)

    def _attend_gathered(self, q: Tensor, kv: Tensor, rows: Tensor) -> Tensor:
        """q (n, T, qk) attends over the regions `rows` (n, topk) of kv (R', T, qk + dim) -> (n, heads, T, dim / heads)."""
        n, t, _ = q.shape
        kv = kv.index_select(0, rows.reshape(-1)).view(n, self.topk * t, -1)
        k, v = kv[..., : self.qk_dim], kv[..., self.qk_dim:]
        return self.attend_heads(self.split_heads(q), self.split_heads(k), self.split_heads(v))

    def _dense(self, qkv: Tensor, idx: Tensor) -> Tensor:
        """Attention over the whole grid, masked to the routed regions `idx`; (B, Hp, Wp, ckv) -> (B, Hp, Wp, dim)."""
        b, hp, wp, _ = qkv.shape
        qk, nw = self.qk_dim, self.n_win
        rh, rw = hp // nw, wp // nw
        q, k, v = qkv.flatten(1, 2).split([qk, qk, self.dim], dim=-1)
        regions = torch.arange(nw * nw, device=qkv.device)
        routed = (idx.unsqueeze(-1) == regions).any(-2)  # B, R, R: query region -> key region routed
        token_region = regions.view(nw, 1, nw, 1).expand(nw, rh, nw, rw).reshape(-1)  # region of each token
        allowed = routed[:, token_region][:, :, token_region]  # B, N, N
        bias = torch.zeros(allowed.shape, dtype=q.dtype, device=q.device).masked_fill_(~allowed, float("-inf"))
        out = self.attend(self.split_heads(q), self.split_heads(k), self.split_heads(v), bias=bias.unsqueeze(1))
        return out.reshape(b, hp, wp, self.dim)


class LePESelfAttention(SelfAttention):
    """Global multi-head self-attention plus LePE, a depthwise conv of the *input* added before ``proj``.

    BiFormer's last stage (the official ``AttentionLePE``, ``topk=-2``): 8 heads, no qkv bias, scale
    ``(dim / heads) ** -0.5``. ``forward(x[B, H*W, C], (H, W)) -> [B, H*W, C]``; names ``qkv``, ``proj``, ``lepe``.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        qkv_bias: bool = False,
        side_dwconv: int = 5,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        head_dim: int | None = None,
        proj_bias: bool = True,
    ) -> None:
        super().__init__(dim, num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop, proj_drop=proj_drop, head_dim=head_dim,
                         proj_bias=proj_bias)
        self.lepe = nn.Conv2d(dim, dim, side_dwconv, padding=side_dwconv // 2, groups=dim)

    @property
    def forward_queries(self):  # noqa: D102
        # LePE needs the whole grid: no prefix-only forward (hasattr() is False, so blocks never try one)
        raise AttributeError("LePESelfAttention has no forward_queries: LePE needs the token grid")

    def forward(self, x: Tensor, shape: Sequence[int], attn_bias: Tensor | None = None) -> Tensor:
        b, n, c = x.shape
        shape = check_grid(x, shape, 0, "LePESelfAttention")
        lepe = self.lepe(x.view(b, *shape, c).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).reshape(b, n, c)
        return self.project(self.attend(*self.qkv_heads(x), bias=attn_bias) + lepe)


register_attention("bilevel_routing", BiLevelRoutingAttention, prefix_tokens=False)
register_attention("softmax_lepe", LePESelfAttention, prefix_tokens=False)
