"""DETR's post-norm transformer: encoder over the flattened feature map, decoder over learned object queries.

Position embeddings are added to queries and keys, never to values (the paper's Fig. 10). Attention is the
shared `visionzoo.layers.MultiHeadAttention` (separate ``q_proj``/``k_proj``/``v_proj``; the official
packed ``in_proj_weight`` is split by the checkpoint converter) and the feed-forward the shared `Mlp`
(ReLU, dropout after the activation and after the output projection, as ``linear2(dropout(relu(linear1)))``
followed by ``dropout2`` in the official layers). The decoder returns every layer's output through the
shared final LayerNorm: the auxiliary predictions of the paper.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
from torch import Tensor

from ...layers import Mlp, MultiHeadAttention

__all__ = ["DETREncoderLayer", "DETRDecoderLayer", "DETREncoder", "DETRDecoder", "DETRTransformer"]


class _SelfAttentionLayer(nn.Module):
    """What both layers open with: self-attention (``self_attn``), its dropout (``drop1``) and post-norm (``norm1``)."""

    def __init__(self, dim: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(dim, num_heads, attn_drop=dropout)
        self.drop1 = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(dim)


class DETREncoderLayer(_SelfAttentionLayer):
    """Post-norm self-attention layer: ``x = norm1(x + attn(x + pos, x + pos, x)); x = norm2(x + mlp(x))``."""

    def __init__(self, dim: int, num_heads: int, dim_feedforward: int, dropout: float = 0.1) -> None:
        super().__init__(dim, num_heads, dropout)
        self.mlp = Mlp(dim, dim_feedforward, act_layer=nn.ReLU, drop=dropout)
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, src: Tensor, pos: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        qk = src + pos
        src = self.norm1(src + self.drop1(self.self_attn(qk, qk, src, key_padding_mask=key_padding_mask)))
        return self.norm2(src + self.mlp(src))


class DETRDecoderLayer(_SelfAttentionLayer):
    """Post-norm decoder layer: query self-attention, cross-attention to the encoder memory, feed-forward."""

    def __init__(self, dim: int, num_heads: int, dim_feedforward: int, dropout: float = 0.1) -> None:
        super().__init__(dim, num_heads, dropout)
        self.cross_attn = MultiHeadAttention(dim, num_heads, attn_drop=dropout)
        self.drop2 = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, dim_feedforward, act_layer=nn.ReLU, drop=dropout)
        self.norm3 = nn.LayerNorm(dim)

    def forward(
        self, tgt: Tensor, memory: Tensor, pos: Tensor, query_pos: Tensor, memory_key_padding_mask: Tensor | None = None
    ) -> Tensor:
        q = tgt + query_pos
        tgt = self.norm1(tgt + self.drop1(self.self_attn(q, q, tgt)))
        attn = self.cross_attn(tgt + query_pos, memory + pos, memory, key_padding_mask=memory_key_padding_mask)
        tgt = self.norm2(tgt + self.drop2(attn))
        return self.norm3(tgt + self.mlp(tgt))


class DETREncoder(nn.Module):
    """A stack of encoder layers (no final norm: post-norm layers already end normalised)."""

    def __init__(self, dim: int, num_heads: int, num_layers: int, dim_feedforward: int, dropout: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList(DETREncoderLayer(dim, num_heads, dim_feedforward, dropout) for _ in range(num_layers))

    def forward(self, src: Tensor, pos: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        for layer in self.layers:
            src = layer(src, pos, key_padding_mask)
        return src


class DETRDecoder(nn.Module):
    """A stack of decoder layers and one shared final LayerNorm, applied to every layer's output.

    ``forward -> (num_layers, B, Q, C)`` when `return_intermediate`, else ``(1, B, Q, C)`` (last layer only).
    """

    def __init__(
        self, dim: int, num_heads: int, num_layers: int, dim_feedforward: int, dropout: float, return_intermediate: bool = True
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(DETRDecoderLayer(dim, num_heads, dim_feedforward, dropout) for _ in range(num_layers))
        self.norm = nn.LayerNorm(dim)
        self.return_intermediate = return_intermediate

    def forward(
        self, tgt: Tensor, memory: Tensor, pos: Tensor, query_pos: Tensor, memory_key_padding_mask: Tensor | None = None
    ) -> Tensor:
        outputs = []
        for layer in self.layers:
            tgt = layer(tgt, memory, pos, query_pos, memory_key_padding_mask)
            if self.return_intermediate:
                outputs.append(self.norm(tgt))
        return torch.stack(outputs) if self.return_intermediate else self.norm(tgt)[None]


class DETRTransformer(nn.Module):
    """DETR's encoder-decoder: ``forward(src[B, C, H, W], mask[B, H, W] | None, query_embed[(B,) Q, C], pos[B, C, H, W])``.

    Returns ``(hs[L, B, Q, C], memory[B, C, H, W])``: the decoder's normalised outputs of every layer
    (``L = num_decoder_layers``, or 1 without `return_intermediate`) and the encoder output. `mask` is
    True at padding; None means every position is valid. The decoder starts from zeros; the queries enter
    as position embeddings (``query_pos``) in every layer, as in the paper. Its sizes are given, as those of its
    encoder and decoder are; the paper's (256 wide, 8 heads, 6 + 6 layers, FFN 2048) are the DETR model's defaults.
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        num_encoder_layers: int,
        num_decoder_layers: int,
        dim_feedforward: int,
        dropout: float = 0.1,
        return_intermediate: bool = True,
    ) -> None:
        super().__init__()
        if num_decoder_layers < 1:
            raise ValueError(f"DETR needs at least one decoder layer, got num_decoder_layers={num_decoder_layers}")
        self.d_model = d_model
        self.nhead = nhead
        self.encoder = DETREncoder(d_model, nhead, num_encoder_layers, dim_feedforward, dropout)
        self.decoder = DETRDecoder(d_model, nhead, num_decoder_layers, dim_feedforward, dropout, return_intermediate)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The official initialisation: Xavier-uniform on every weight matrix, zero attention biases.

        The official packed (3C, C) ``in_proj_weight`` gets one Xavier bound, ``sqrt(6 / 4C)``; the
        separate q/k/v projections here are drawn with that same bound.
        """
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        for m in self.modules():
            if isinstance(m, MultiHeadAttention):
                for proj in (m.q_proj, m.k_proj, m.v_proj):
                    bound = math.sqrt(6.0 / (proj.in_features + 3 * proj.out_features))
                    nn.init.uniform_(proj.weight, -bound, bound)
                    if proj.bias is not None:
                        nn.init.zeros_(proj.bias)
                nn.init.zeros_(m.proj.bias)

    def forward(self, src: Tensor, mask: Tensor | None, query_embed: Tensor, pos_embed: Tensor) -> tuple[Tensor, Tensor]:
        b, c, h, w = src.shape
        if c != self.d_model:
            raise ValueError(f"src has {c} channels, the transformer expects d_model={self.d_model}")
        src = src.flatten(2).transpose(1, 2)
        pos = pos_embed.flatten(2).transpose(1, 2)
        key_padding_mask = None if mask is None else mask.flatten(1)
        query_pos = query_embed.expand(b, -1, -1) if query_embed.ndim == 2 else query_embed
        memory = self.encoder(src, pos, key_padding_mask)
        hs = self.decoder(torch.zeros_like(query_pos), memory, pos, query_pos, key_padding_mask)
        return hs, memory.transpose(1, 2).reshape(b, c, h, w)
