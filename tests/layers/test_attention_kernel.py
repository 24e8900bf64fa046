"""The shared softmax attention kernel: fused SDPA and explicit math agree with a naive formula."""
import math

import pytest
import torch

from visionzoo.layers import explicit_attention, scaled_dot_product_attention, use_explicit_attention


def naive_attention(q, k, v, bias=None, scale=None):
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    out = torch.empty(*q.shape[:-1], v.shape[-1])
    for b in range(q.shape[0]):
        for h in range(q.shape[1]):
            scores = q[b, h] @ k[b, h].T * scale
            if bias is not None:
                scores = scores + bias.expand(q.shape[0], q.shape[1], -1, -1)[b, h]
            weights = torch.exp(scores - scores.max(dim=-1, keepdim=True).values)
            out[b, h] = (weights / weights.sum(dim=-1, keepdim=True)) @ v[b, h]
    return out


@pytest.mark.parametrize("explicit", [False, True])
@pytest.mark.parametrize("with_bias", [False, True])
def test_kernel_matches_naive(explicit, with_bias):
    q, k, v = torch.randn(2, 3, 5, 8), torch.randn(2, 3, 7, 8), torch.randn(2, 3, 7, 4)
    bias = torch.randn(1, 3, 5, 7) if with_bias else None
    with explicit_attention(explicit):
        out = scaled_dot_product_attention(q, k, v, bias=bias, scale=0.3)
    torch.testing.assert_close(out, naive_attention(q, k, v, bias, 0.3), atol=1e-5, rtol=1e-5)


def test_explicit_context_restores_previous_state():
    assert not use_explicit_attention()
    with explicit_attention():
        assert use_explicit_attention()
        with explicit_attention(False):
            assert not use_explicit_attention()
        assert use_explicit_attention()
    assert not use_explicit_attention()


def test_explicit_path_is_visible_to_flop_counter():
    from torch.utils.flop_counter import FlopCounterMode

    q = k = v = torch.randn(1, 2, 16, 8)
    with explicit_attention(), FlopCounterMode(display=False) as counter:
        scaled_dot_product_attention(q, k, v)
    assert counter.get_total_flops() == 2 * (2 * 2 * 16 * 16 * 8)  # QK^T and AV, 2 FLOPs per MAC
