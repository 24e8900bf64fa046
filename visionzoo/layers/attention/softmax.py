"""Global softmax multi-head attention: a self-attention token mixer and a general query/key/value attention."""
from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor

from .base import MultiHeadMixer
from .registry import register_attention

__all__ = ["SelfAttention", "MultiHeadAttention"]


class SelfAttention(MultiHeadMixer):
    """Multi-head self-attention over all N tokens (ViT's MSA): ``forward(x[B, N, C], shape=None) -> [B, N, C]``.

    Parameter names (``qkv``, ``proj``) match timm's ``Attention`` so ViT checkpoints map one to one.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        qkv_bias: bool = False,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        head_dim: int | None = None,
        proj_bias: bool = True,
    ) -> None:
        super().__init__(dim, num_heads, head_dim=head_dim, attn_drop=attn_drop)
        self._init_qkv("fused", bias=qkv_bias)
        self._init_proj(proj_drop, bias=proj_bias)

    def forward(self, x: Tensor, shape: Sequence[int] | None = None, attn_bias: Tensor | None = None) -> Tensor:
        return self.project(self.attend(*self.qkv_heads(x), bias=attn_bias))

    def forward_queries(self, x: Tensor, num_queries: int) -> Tensor:
        """Output for the first `num_queries` tokens only, each still attending to all N tokens.

        Equal to ``forward(x)[:, :num_queries]`` at a fraction of the cost; a classifier that pools
        only the class token needs nothing else from its last block.
        """
        b, n, _ = x.shape
        attn_dim = self.attn_dim
        weight, bias = self.qkv.weight, self.qkv.bias
        q = F.linear(x[:, :num_queries], weight[:attn_dim], None if bias is None else bias[:attn_dim])
        kv = F.linear(x, weight[attn_dim:], None if bias is None else bias[attn_dim:])
        k, v = kv.view(b, n, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        return self.project(self.attend(self.split_heads(q), k, v))


class MultiHeadAttention(MultiHeadMixer):
    """Attention of queries over separate keys and values (cross-attention, DETR-style self-attention).

    ``forward(query[B, L, C], key[B, S, C], value=None, key_padding_mask=None, attn_bias=None) -> [B, L, C]``;
    `key_padding_mask` is (B, S), True where a key is padding. Separate ``q_proj``/``k_proj``/``v_proj``
    let callers add position embeddings to queries and keys but not to values.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        kdim: int | None = None,
        vdim: int | None = None,
        head_dim: int | None = None,
    ) -> None:
        super().__init__(dim, num_heads, head_dim=head_dim, attn_drop=attn_drop)
        self._init_qkv("separate", bias=qkv_bias, kdim=kdim, vdim=vdim)
        self._init_proj(proj_drop)

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor | None = None,
        key_padding_mask: Tensor | None = None,
        attn_bias: Tensor | None = None,
    ) -> Tensor:
        value = key if value is None else value
        q = self.split_heads(self.q_proj(query))
        k = self.split_heads(self.k_proj(key))
        v = self.split_heads(self.v_proj(value))
        bias = attn_bias
        if key_padding_mask is not None:
            pad = q.new_zeros(key_padding_mask.shape).masked_fill(key_padding_mask, float("-inf"))
            pad = pad[:, None, None, :]
            bias = pad if bias is None else bias + pad
        return self.project(self.attend(q, k, v, bias=bias))


register_attention("softmax", SelfAttention, spatial_dims=(1, 2, 3))
