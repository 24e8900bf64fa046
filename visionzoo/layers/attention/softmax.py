"""Global softmax multi-head attention: a self-attention token mixer and a general query/key/value attention."""
from __future__ import annotations

from collections.abc import Sequence

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .functional import scaled_dot_product_attention

__all__ = ["SelfAttention", "MultiHeadAttention"]


def _head_dim(dim: int, num_heads: int, head_dim: int | None) -> int:
    if head_dim is not None:
        return head_dim
    if dim % num_heads:
        raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}; pass head_dim explicitly")
    return dim // num_heads


class SelfAttention(nn.Module):
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
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = _head_dim(dim, num_heads, head_dim)
        self.scale = self.head_dim**-0.5
        attn_dim = self.head_dim * num_heads
        self.qkv = nn.Linear(dim, attn_dim * 3, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(attn_dim, dim, bias=proj_bias)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: Tensor, shape: Sequence[int] | None = None, attn_bias: Tensor | None = None) -> Tensor:
        b, n, _ = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        dropout = self.attn_drop if self.training else 0.0
        x = scaled_dot_product_attention(q, k, v, bias=attn_bias, dropout_p=dropout, scale=self.scale)
        x = x.transpose(1, 2).reshape(b, n, -1)
        return self.proj_drop(self.proj(x))

    def forward_queries(self, x: Tensor, num_queries: int) -> Tensor:
        """Output for the first `num_queries` tokens only, each still attending to all N tokens.

        Equal to ``forward(x)[:, :num_queries]`` at a fraction of the cost; a classifier that pools
        only the class token needs nothing else from its last block.
        """
        b, n, _ = x.shape
        attn_dim = self.num_heads * self.head_dim
        weight, bias = self.qkv.weight, self.qkv.bias
        q = F.linear(x[:, :num_queries], weight[:attn_dim], None if bias is None else bias[:attn_dim])
        kv = F.linear(x, weight[attn_dim:], None if bias is None else bias[attn_dim:])
        q = q.view(b, num_queries, self.num_heads, self.head_dim).transpose(1, 2)
        k, v = kv.view(b, n, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        dropout = self.attn_drop if self.training else 0.0
        out = scaled_dot_product_attention(q, k, v, dropout_p=dropout, scale=self.scale)
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(b, num_queries, -1)))


class MultiHeadAttention(nn.Module):
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
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = _head_dim(dim, num_heads, head_dim)
        self.scale = self.head_dim**-0.5
        attn_dim = self.head_dim * num_heads
        self.q_proj = nn.Linear(dim, attn_dim, bias=qkv_bias)
        self.k_proj = nn.Linear(kdim or dim, attn_dim, bias=qkv_bias)
        self.v_proj = nn.Linear(vdim or dim, attn_dim, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(attn_dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def _heads(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor | None = None,
        key_padding_mask: Tensor | None = None,
        attn_bias: Tensor | None = None,
    ) -> Tensor:
        value = key if value is None else value
        q = self._heads(self.q_proj(query))
        k = self._heads(self.k_proj(key))
        v = self._heads(self.v_proj(value))
        bias = attn_bias
        if key_padding_mask is not None:
            pad = q.new_zeros(key_padding_mask.shape).masked_fill(key_padding_mask, float("-inf"))
            pad = pad[:, None, None, :]
            bias = pad if bias is None else bias + pad
        dropout = self.attn_drop if self.training else 0.0
        x = scaled_dot_product_attention(q, k, v, bias=bias, dropout_p=dropout, scale=self.scale)
        b, _, l, _ = x.shape
        x = x.transpose(1, 2).reshape(b, l, -1)
        return self.proj_drop(self.proj(x))
