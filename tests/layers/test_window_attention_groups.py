"""Shifted-window attention runs one call per distinct shift mask with a broadcast bias; the result equals the single
call with a materialised per-window bias bit for bit, forward and (to rounding) backward."""
import pytest
import torch

import visionzoo.layers.attention.window as window_module
from visionzoo.layers.attention.window import WindowAttention


@pytest.mark.parametrize("spatial_dims, shape, batch", [(3, (14, 21, 9), 2), (3, (28, 28, 28), 1), (2, (35, 28), 3)])
def test_grouped_masks_equal_the_full_masked_call(monkeypatch, spatial_dims, shape, batch):
    torch.manual_seed(0)
    attn = WindowAttention(24, 3, window_size=7, shift_size=3, spatial_dims=spatial_dims)
    with torch.no_grad():
        attn.relative_position_bias_table.normal_()
    x = torch.randn(batch, int(torch.tensor(shape).prod()), 24, requires_grad=True)
    split = attn(x, shape)
    (groups,) = attn._group_cache.values()  # the grouped path ran
    assert len(groups) == (8 if spatial_dims == 3 else 4)
    assert sum(not pattern.any() for pattern, _ in groups) == 1  # the windows the shift leaves whole
    split.square().sum().backward()
    grads = [x.grad.clone(), attn.relative_position_bias_table.grad.clone()]
    x.grad = None
    attn.zero_grad()
    monkeypatch.setattr(window_module, "graph_capture", lambda: True)  # the one masked call (export path)
    full = attn(x, shape)
    assert torch.equal(split, full)
    full.square().sum().backward()
    for a, b in zip(grads, [x.grad, attn.relative_position_bias_table.grad]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_a_module_moved_to_bf16_after_an_fp32_call_gets_bf16_masks():
    torch.manual_seed(0)
    attn = WindowAttention(24, 3, window_size=7, shift_size=3, spatial_dims=3)
    x = torch.randn(1, 14 * 14 * 14, 24)
    with torch.no_grad():
        ref = attn(x, (14, 14, 14))
        out = attn.to(torch.bfloat16)(x.to(torch.bfloat16), (14, 14, 14))
    assert out.dtype == torch.bfloat16 and (out.float() - ref).abs().max() <= 2e-2 * ref.abs().max()
    dtypes = {pattern.dtype for groups in attn._group_cache.values() for pattern, _ in groups}
    assert dtypes == {torch.float32, torch.bfloat16}  # one cached grouping per dtype: no fp32 mask on bf16 scores


def test_explicit_attention_keeps_one_call_over_all_windows():
    """Exporters, the FLOP counter and attention maps see one softmax over every window, in window order."""
    from visionzoo.layers.attention import explicit_attention

    torch.manual_seed(0)
    attn = WindowAttention(24, 3, window_size=7, shift_size=3, spatial_dims=2)
    x = torch.randn(2, 35 * 28, 24)
    with torch.no_grad():
        fused = attn(x, (35, 28))
        attn._group_cache.clear()
        with explicit_attention():
            explicit = attn(x, (35, 28))
    assert not attn._group_cache
    torch.testing.assert_close(explicit, fused, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("grid, window, shift", [((14, 21, 14), (7, 7, 7), (3, 3, 3)), ((35, 28), (7, 7), (3, 3)),
                                                 ((12, 9), (6, 3), (3, 1))])
def test_mask_groups_are_the_distinct_masks(grid, window, shift):
    """Grouping by each token's first same-region token finds exactly the distinct whole masks."""
    mask = window_module.shifted_window_mask(grid, window, shift)
    attn = WindowAttention(8, 2, window_size=window, shift_size=shift, spatial_dims=len(grid))
    groups = attn._mask_groups(mask, ("test",))
    patterns, inverse = torch.unique(mask.flatten(1), dim=0, return_inverse=True)
    assert len(groups) == len(patterns)
    covered = torch.cat([windows for _, windows in groups]).sort().values
    assert torch.equal(covered, torch.arange(mask.shape[0]))
    for pattern, windows in groups:
        assert torch.equal(mask[windows], pattern.expand(len(windows), *pattern.shape))
        assert inverse[windows].unique().numel() == 1  # one distinct mask per group


def test_inference_bias_cache_follows_weight_updates():
    """Tiles reuse the gathered bias while no gradient is needed; an in-place update or a new state dict is seen."""
    torch.manual_seed(0)
    attn = WindowAttention(24, 3, window_size=7, shift_size=3, spatial_dims=3).eval()
    x = torch.randn(1, 14 * 14 * 14, 24)
    with torch.no_grad():
        first = attn(x, (14, 14, 14))
        assert attn._bias_cache and torch.equal(attn(x, (14, 14, 14)), first)
        attn.relative_position_bias_table.add_(1.0)
        updated = attn(x, (14, 14, 14))
    attn._bias_cache.clear()
    with torch.no_grad():
        assert torch.equal(attn(x, (14, 14, 14)), updated) and not torch.equal(updated, first)
        state = {k: v + 0.5 if k.endswith("bias_table") else v for k, v in attn.state_dict().items()}
        attn.load_state_dict(state)
        loaded = attn(x, (14, 14, 14))
    attn._bias_cache.clear()
    with torch.no_grad():
        assert torch.equal(attn(x, (14, 14, 14)), loaded) and not torch.equal(loaded, updated)
    y = attn(x, (14, 14, 14))  # with autograd: computed afresh, gradients reach the table
    y.sum().backward()
    assert attn.relative_position_bias_table.grad is not None
