"""Global self-attention and general q/k/v attention against naive formulas and torch.nn.MultiheadAttention."""
import pytest
import torch
import torch.nn as nn

from visionzoo.layers import MultiHeadAttention, SelfAttention, build_attention, explicit_attention

from .test_attention_kernel import naive_attention


@pytest.mark.parametrize("explicit", [False, True])
def test_self_attention_matches_naive(explicit):
    attn = SelfAttention(dim=12, num_heads=3, qkv_bias=True).eval()
    x = torch.randn(2, 10, 12)
    with torch.no_grad(), explicit_attention(explicit):
        out = attn(x, (2, 5))
        qkv = attn.qkv(x).view(2, 10, 3, 3, 4)
        q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))
        ref = attn.proj(naive_attention(q, k, v).transpose(1, 2).reshape(2, 10, 12))
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_multi_head_attention_matches_torch_mha_with_padding_mask():
    dim, heads = 16, 4
    ours = MultiHeadAttention(dim, heads).eval()
    ref = nn.MultiheadAttention(dim, heads, batch_first=True).eval()
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight]))
        ref.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias]))
        ref.out_proj.weight.copy_(ours.proj.weight)
        ref.out_proj.bias.copy_(ours.proj.bias)
    query, key, value = torch.randn(2, 5, dim), torch.randn(2, 9, dim), torch.randn(2, 9, dim)
    padding = torch.zeros(2, 9, dtype=torch.bool)
    padding[1, 6:] = True
    with torch.no_grad():
        expected, _ = ref(query, key, value, key_padding_mask=padding)
        for explicit in (False, True):
            with explicit_attention(explicit):
                torch.testing.assert_close(ours(query, key, value, key_padding_mask=padding), expected, atol=1e-5, rtol=1e-5)


def test_build_attention_rejects_unknown_type_and_lists_known():
    with pytest.raises(ValueError, match="registered types: .*softmax.*window"):
        build_attention(dict(type="nope"), default="softmax", dim=8, num_heads=2)


def test_window_attention_refuses_class_token():
    with pytest.raises(ValueError, match="class token"):
        build_attention("window", default="softmax", dim=8, num_heads=2, num_prefix_tokens=1)


def test_head_dim_must_divide():
    with pytest.raises(ValueError, match="not divisible"):
        SelfAttention(dim=10, num_heads=3)


def test_forward_queries_equals_leading_rows_of_full_attention():
    attn = SelfAttention(dim=12, num_heads=3, qkv_bias=True).eval()
    x = torch.randn(2, 10, 12)
    with torch.no_grad():
        torch.testing.assert_close(attn.forward_queries(x, 3), attn(x)[:, :3], atol=1e-6, rtol=1e-5)


def test_transformer_block_prefix_matches_full_block():
    from visionzoo.layers import TransformerBlock

    block = TransformerBlock(12, SelfAttention(12, 3, qkv_bias=True)).eval()
    x = torch.randn(2, 10, 12)
    assert block.supports_prefix_only
    with torch.no_grad():
        torch.testing.assert_close(block.forward_prefix(x, (3, 3), 1), block(x, (3, 3))[:, :1], atol=1e-6, rtol=1e-5)
