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

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import trunc_normal_
from torch import Tensor

from ..microbatch import graph_capture
from .base import MultiHeadMixer, check_grid, reference_grid
from .registry import register_attention

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


class AgentAttention(MultiHeadMixer):
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
        linear: bool = False,
    ) -> None:
        """
        Args:
            input_resolution: token grid (H, W) at the model's reference size; sizes the row/column biases.
            agent_num: number of agent tokens, a square (agents are pooled to a sqrt x sqrt grid).
            sr_ratio: PVT spatial reduction of keys/values (1 = none; see `visionzoo.layers.attention.base` for
                grids smaller than the ratio); implies ``split_qkv``.
            split_qkv: separate ``q`` and ``kv`` projections (the official PVT layout) instead of a fused ``qkv``.
            linear: PVTv2-li's 7x7 key/value pooling: not part of agent attention (an error if True).
        """
        super().__init__(dim, num_heads, attn_drop=attn_drop, num_prefix_tokens=num_prefix_tokens)
        pool = math.isqrt(max(agent_num, 0))
        if agent_num < 1 or pool * pool != agent_num:
            raise ValueError(f"agent_num must be a perfect square (agents are pooled to a k x k grid), got {agent_num}")
        if linear:
            raise ValueError(
                "agent attention has no PVTv2-li ('linear') key/value pooling: build the backbone with linear=False"
            )
        if num_prefix_tokens and sr_ratio > 1:
            raise ValueError("agent attention with spatially reduced keys cannot take prefix (class) tokens")
        self.agent_num = agent_num
        self.pool_size = (pool, pool)
        h, w = self.ref_grid = reference_grid(input_resolution, "agent")
        self.split_qkv = split_qkv or sr_ratio > 1
        self._init_qkv("split" if self.split_qkv else "fused", bias=qkv_bias)
        self._init_kv_reduction(sr_ratio)
        hk, wk = self.reduced_grid(self.ref_grid)
        self._init_proj(proj_drop)
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

    def forward(self, x: Tensor, shape: Sequence[int]) -> Tensor:
        b, n, c = x.shape
        p = self.num_prefix_tokens
        h, w = check_grid(x, shape, p, "agent attention")
        q, k, v, kv_grid = self.qkv_tokens(x, (h, w))
        q_grid = q[:, p:].transpose(1, 2).reshape(b, c, h, w)
        agents = F.adaptive_avg_pool2d(q_grid, self.pool_size).flatten(2).transpose(1, 2)  # B, agents, C
        q, k, v, agents = self.split_heads(q), self.split_heads(k), self.split_heads(v), self.split_heads(agents)

        agent_v = self.attend_heads(agents, k, v, bias=self._agent_key_bias(kv_grid).to(q.dtype))
        out = self.attend(q, agents, agent_v, bias=self._query_agent_bias((h, w)).to(q.dtype))

        v = v[:, :, p:].transpose(1, 2).reshape(b, *kv_grid, c).permute(0, 3, 1, 2)  # channels-last: faster depthwise conv
        if kv_grid != (h, w):
            v = F.interpolate(v, size=(h, w), mode="bilinear", align_corners=False)
        local = self.dwc(v).flatten(2).transpose(1, 2)
        out = torch.cat([out[:, :p], out[:, p:] + local], dim=1) if p else out + local
        return self.project(out)


register_attention("agent", AgentAttention)
