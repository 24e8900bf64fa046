"""Agent attention (Han et al., ECCV 2024): a few pooled agent tokens relay softmax attention between queries and keys.

Follows the official LeapLabTHU/Agent-Attention code:

* agents ``A`` = adaptive average pooling of the query grid to ``sqrt(agent_num)^2`` tokens;
* ``agent_v = softmax(A K^T * scale + B_ak) V`` then ``out = softmax(Q A^T * scale + B_qa) agent_v``,
  both with the shared softmax kernel, so the cost is O(N * agent_num);
* agent biases: ``an_bias``/``na_bias`` (heads, agents, 7, 7) bilinearly resized to the key/query grid,
  plus factorised row/column biases ``ah_bias``/``aw_bias`` (agent -> key) and ``ha_bias``/``wa_bias``
  (query -> agent) laid out on the reference grid;
* a 3x3 depthwise conv on V (per channel) added to the output.

With prefix (class) tokens, as Agent-DeiT: agents pool grid queries only; the class token is a key
(bias ``ac_bias``) and a query (bias ``ca_bias``) like any other token, and gets no depthwise term.
With ``sr_ratio > 1`` (PVT) keys/values come from the spatially reduced grid and V is bilinearly
upsampled to the query grid before the depthwise conv.

The official code sizes the row/column biases for the 224^2 token grid and fails at other sizes.
Here they are linearly resampled (``align_corners=False``, like the official bilinear resize of
``an_bias``/``na_bias``) to the actual grid, so any size runs and 224^2 reproduces the official outputs
exactly. Parameter names are the official ones (``qkv`` or ``q``/``kv`` + ``sr``/``norm``, ``dwc``,
``proj`` and the ``*_bias`` tables).
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

from ..microbatch import graph_capture
from .focused_linear import add_key_value_reduction, check_grid, reduce_key_values, reference_grid
from .functional import scaled_dot_product_attention
from .registry import drop_unused, register_attention

__all__ = ["AgentAttention", "resample_axis_bias"]

BIAS_GRID = 7  # an_bias / na_bias are (heads, agents, 7, 7) tables in every official model


def resample_axis_bias(bias: Tensor, size: int, dim: int) -> Tensor:
    """Linearly resample dimension `dim` of a row/column bias table to `size` (identity at the same size)."""
    if not graph_capture() and bias.shape[dim] == size:
        return bias
    moved = bias.movedim(dim, -1)
    lead = moved.shape[:-1]
    out = F.interpolate(moved.reshape(1, -1, moved.shape[-1]), size=size, mode="linear", align_corners=False)
    return out.reshape(*lead, size).movedim(-1, dim)


class AgentAttention(nn.Module):
    """Agent attention token mixer: ``forward(x[B, prefix + H*W, C], (H, W)) -> [B, prefix + H*W, C]``."""

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        input_resolution: Sequence[int] | None = None,
        agent_num: int = 49,
        qkv_bias: bool = False,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        sr_ratio: int = 1,
        split_qkv: bool = False,
        num_prefix_tokens: int = 0,
    ) -> None:
        """
        Args:
            input_resolution: token grid (H, W) at the model's reference size; sizes the row/column biases.
            agent_num: number of agent tokens, a square (agents are pooled to a sqrt x sqrt grid).
            sr_ratio: PVT spatial reduction of keys/values (1 = none); implies ``split_qkv``.
            split_qkv: separate ``q`` and ``kv`` projections (the official PVT layout) instead of a fused ``qkv``.
        """
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        pool = math.isqrt(max(agent_num, 0))
        if agent_num < 1 or pool * pool != agent_num:
            raise ValueError(f"agent_num must be a perfect square (agents are pooled to a k x k grid), got {agent_num}")
        if num_prefix_tokens and sr_ratio > 1:
            raise ValueError("agent attention with spatially reduced keys cannot take prefix (class) tokens")
        self.dim = dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.agent_num = agent_num
        self.pool_size = (pool, pool)
        self.num_prefix_tokens = num_prefix_tokens
        self.attn_drop = attn_drop
        h, w = reference_grid(input_resolution, name="agent")
        hk, wk = reference_grid(input_resolution, sr_ratio, name="agent")
        self.ref_grid = (h, w)
        self.split_qkv = split_qkv or sr_ratio > 1
        if self.split_qkv:
            self.q = nn.Linear(dim, dim, bias=qkv_bias)
            self.kv = nn.Linear(dim, dim * 2, bias=qkv_bias)
        else:
            self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        add_key_value_reduction(self, dim, sr_ratio)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self.dwc = nn.Conv2d(dim, dim, kernel_size=3, padding=1, groups=dim)
        self.an_bias = nn.Parameter(torch.zeros(num_heads, agent_num, BIAS_GRID, BIAS_GRID))
        self.na_bias = nn.Parameter(torch.zeros(num_heads, agent_num, BIAS_GRID, BIAS_GRID))
        self.ah_bias = nn.Parameter(torch.zeros(1, num_heads, agent_num, hk, 1))
        self.aw_bias = nn.Parameter(torch.zeros(1, num_heads, agent_num, 1, wk))
        self.ha_bias = nn.Parameter(torch.zeros(1, num_heads, h, 1, agent_num))
        self.wa_bias = nn.Parameter(torch.zeros(1, num_heads, 1, w, agent_num))
        if num_prefix_tokens:
            self.ac_bias = nn.Parameter(torch.zeros(1, num_heads, agent_num, num_prefix_tokens))
            self.ca_bias = nn.Parameter(torch.zeros(1, num_heads, num_prefix_tokens, agent_num))
        for name, param in self.named_parameters(recurse=False):
            if name.endswith("_bias"):
                trunc_normal_(param, std=0.02)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_heads={self.num_heads}, agent_num={self.agent_num}, ref_grid={self.ref_grid}"

    def _agent_key_bias(self, grid: tuple[int, int]) -> Tensor:
        """(1, heads, agents, prefix + h*w) bias of agent -> key scores on the key grid."""
        n = grid[0] * grid[1]
        table = F.interpolate(self.an_bias, size=grid, mode="bilinear", align_corners=False)
        axes = resample_axis_bias(self.ah_bias, grid[0], 3) + resample_axis_bias(self.aw_bias, grid[1], 4)
        bias = table.reshape(1, self.num_heads, self.agent_num, n) + axes.reshape(1, self.num_heads, self.agent_num, n)
        return torch.cat([self.ac_bias, bias], dim=-1) if self.num_prefix_tokens else bias

    def _query_agent_bias(self, grid: tuple[int, int]) -> Tensor:
        """(1, heads, prefix + h*w, agents) bias of query -> agent scores on the query grid."""
        n = grid[0] * grid[1]
        table = F.interpolate(self.na_bias, size=grid, mode="bilinear", align_corners=False)
        table = table.reshape(1, self.num_heads, self.agent_num, n).transpose(-2, -1)
        axes = resample_axis_bias(self.ha_bias, grid[0], 2) + resample_axis_bias(self.wa_bias, grid[1], 3)
        bias = table + axes.reshape(1, self.num_heads, n, self.agent_num)
        return torch.cat([self.ca_bias, bias], dim=-2) if self.num_prefix_tokens else bias

    def _heads(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, x: Tensor, shape: Sequence[int]) -> Tensor:
        b, n, c = x.shape
        p = self.num_prefix_tokens
        h, w = check_grid(x, shape, p, "agent")
        if self.split_qkv:
            q = self.q(x)
            kv_tokens, kv_grid = reduce_key_values(self, x, (h, w))
            k, v = self.kv(kv_tokens).chunk(2, dim=-1)
        else:
            q, k, v = self.qkv(x).chunk(3, dim=-1)
            kv_grid = (h, w)
        q_grid = q[:, p:].transpose(1, 2).reshape(b, c, h, w)
        agents = F.adaptive_avg_pool2d(q_grid, self.pool_size).flatten(2).transpose(1, 2)  # B, agents, C
        q, k, v, agents = self._heads(q), self._heads(k), self._heads(v), self._heads(agents)

        dropout = self.attn_drop if self.training else 0.0
        bias = self._agent_key_bias(kv_grid).to(q.dtype)
        agent_v = scaled_dot_product_attention(agents, k, v, bias=bias, dropout_p=dropout, scale=self.scale)
        bias = self._query_agent_bias((h, w)).to(q.dtype)
        out = scaled_dot_product_attention(q, agents, agent_v, bias=bias, dropout_p=dropout, scale=self.scale)
        out = out.transpose(1, 2).reshape(b, n, c)

        v = v[:, :, p:].transpose(1, 2).reshape(b, *kv_grid, c).permute(0, 3, 1, 2)  # channels-last: faster depthwise conv
        if kv_grid != (h, w):
            v = F.interpolate(v, size=(h, w), mode="bilinear", align_corners=False)
        local = self.dwc(v).flatten(2).transpose(1, 2)
        out = torch.cat([out[:, :p], out[:, p:] + local], dim=1) if p else out + local
        return self.proj_drop(self.proj(out))


def _agent_builder(dim: int, num_heads: int, **kwargs: Any) -> nn.Module:
    """Builder for ``type="agent"``; a backbone that passes ``sr_ratio`` (PVT) gets the ``q``/``kv`` layout."""
    kwargs.setdefault("split_qkv", "sr_ratio" in kwargs)
    if kwargs.pop("linear", False):
        raise ValueError("agent attention has no PVTv2-li ('linear') key/value pooling: build the backbone with linear=False")
    return AgentAttention(dim, num_heads, **drop_unused(kwargs, "window_size", "shift_size"))


register_attention("agent", _agent_builder)
