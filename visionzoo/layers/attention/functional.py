"""Softmax attention kernel shared by every block, with a switch between fused SDPA and explicit math.

The fused path (`torch.nn.functional.scaled_dot_product_attention`) is the default. The explicit path
spells out ``softmax(q k^T * scale + bias) v`` with plain matmuls: ONNX exporters and
`torch.utils.flop_counter` see every op there (the counter reports fused SDPA on CPU as 0 FLOPs).
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["explicit_attention", "use_explicit_attention", "scaled_dot_product_attention"]

_EXPLICIT = False


@contextlib.contextmanager
def explicit_attention(enabled: bool = True) -> Iterator[None]:
    """Within this context every visionzoo attention block uses the explicit-math path (process-wide)."""
    global _EXPLICIT
    previous, _EXPLICIT = _EXPLICIT, enabled
    try:
        yield
    finally:
        _EXPLICIT = previous


def use_explicit_attention() -> bool:
    """True when blocks must use explicit math: inside `explicit_attention()` or during ONNX export."""
    return _EXPLICIT or torch.onnx.is_in_onnx_export()


def scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    bias: Tensor | None = None,
    dropout_p: float = 0.0,
    scale: float | None = None,
) -> Tensor:
    """``softmax(q @ k^T * scale + bias) @ v`` for (B, heads, L, D) tensors; `bias` broadcasts to (B, heads, L, S).

    A bias that needs a gradient (a learned relative position bias, in training) also takes the explicit
    path: fused SDPA cannot differentiate its mask and falls back to a slower "safe softmax" math kernel.
    """
    learned_bias = bias is not None and bias.requires_grad and torch.is_grad_enabled()
    if not (use_explicit_attention() or learned_bias):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=dropout_p, scale=scale)
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    attn = (q * scale) @ k.transpose(-2, -1)
    if bias is not None:
        attn = attn + bias
    attn = attn.softmax(dim=-1, dtype=torch.float32).to(v.dtype)  # fp32 statistics under bf16/fp16 too
    if dropout_p > 0.0:
        attn = F.dropout(attn, p=dropout_p)
    return attn @ v
