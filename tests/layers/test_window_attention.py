"""Window attention (2D and 3D) against a naive per-window loop written from the Swin paper's definition."""
import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from visionzoo.layers import WindowAttention, explicit_attention
from visionzoo.layers.attention.window import (
    relative_position_index,
    shifted_window_mask,
    window_partition,
    window_reverse,
)


def naive_window_attention(attn: WindowAttention, x: torch.Tensor, shape) -> torch.Tensor:
    """Loop over windows and token pairs; bias read from the table by relative offset, shift regions masked."""
    b, n, c = x.shape
    nd = len(shape)
    window = [min(g, w) for g, w in zip(shape, attn.window_size)]
    shift = [0 if g <= w else s for g, w, s in zip(shape, attn.window_size, attn.shift_size)]
    padded = [math.ceil(g / w) * w for g, w in zip(shape, window)]
    grid = x.view(b, *shape, c)
    pad_arg = []
    for g, p in zip(reversed(shape), reversed(padded)):
        pad_arg += [0, p - g]

    def roll(t, sign):
        return torch.roll(t, [sign * s for s in shift], dims=list(range(1, nd + 1)))

    if attn.shift_first:
        grid = F.pad(roll(grid, -1), [0, 0] + pad_arg)
    else:
        grid = roll(F.pad(grid, [0, 0] + pad_arg), -1)

    def region(pos):
        label = 0
        for p, length, w, s in zip(pos, padded, window, shift):
            r = 0 if s == 0 or p < length - w else (1 if p < length - s else 2)
            label = label * 3 + r
        return label

    def table_row(pi, pj):
        row = 0
        for d in range(nd):
            tw = attn.window_size[d]
            stride = math.prod(2 * t - 1 for t in attn.window_size[d + 1:])
            row += (pi[d] - pj[d] + tw - 1) * stride
        return row

    heads, hd = attn.num_heads, attn.head_dim
    out = torch.zeros_like(grid)
    starts = itertools.product(*[range(0, p, w) for p, w in zip(padded, window)])
    offsets = list(itertools.product(*[range(w) for w in window]))
    for start in starts:
        positions = [tuple(s + o for s, o in zip(start, off)) for off in offsets]
        tokens = torch.stack([grid[(slice(None),) + p] for p in positions], dim=1)  # B, Nw, C
        q, k, v = attn.qkv(tokens).view(b, len(positions), 3, heads, hd).unbind(2)
        result = torch.zeros(b, len(positions), heads, hd)
        for h in range(heads):
            for i, pi in enumerate(positions):
                scores = []
                for j, pj in enumerate(positions):
                    score = (q[:, i, h] * k[:, j, h]).sum(-1) * attn.scale
                    score = score + attn.relative_position_bias_table[table_row(offsets[i], offsets[j]), h]
                    if any(shift) and region(pi) != region(pj):
                        score = score - 100.0
                    scores.append(score)
                weights = torch.softmax(torch.stack(scores, dim=-1), dim=-1)
                result[:, i, h] = (weights[:, :, None] * v[:, :, h]).sum(1)
        projected = attn.proj(result.reshape(b, len(positions), heads * hd))
        for i, p in enumerate(positions):
            out[(slice(None),) + p] = projected[:, i]

    crop = (slice(None),) + tuple(slice(0, g) for g in shape)
    out = roll(out[crop], 1) if attn.shift_first else roll(out, 1)[crop]
    return out.reshape(b, n, c)


CASES_2D = [
    # grid, window, shift, shift_first
    ((6, 6), 3, 0, False),
    ((6, 6), 3, 1, False),
    ((5, 7), 3, 1, False),  # padding, rectangular
    ((5, 7), 3, 1, True),  # timm's shift-then-pad order
    ((2, 8), 4, 2, False),  # grid smaller than window along one dim: window shrinks, no shift there
]


@pytest.mark.parametrize("grid,window,shift,shift_first", CASES_2D)
@pytest.mark.parametrize("explicit", [False, True])
def test_window_attention_2d_matches_naive(grid, window, shift, shift_first, explicit):
    attn = WindowAttention(8, 2, window_size=window, shift_size=shift, shift_first=shift_first).eval()
    with torch.no_grad():
        attn.relative_position_bias_table.normal_(0, 1.0)
    x = torch.randn(2, math.prod(grid), 8)
    with torch.no_grad(), explicit_attention(explicit):
        out = attn(x, grid)
        ref = naive_window_attention(attn, x, grid)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("grid,window,shift", [((4, 4, 4), 2, 1), ((3, 5, 4), (2, 3, 2), (1, 1, 1)), ((2, 4, 4), 3, 1)])
def test_window_attention_3d_matches_naive(grid, window, shift):
    attn = WindowAttention(6, 2, window_size=window, shift_size=shift, spatial_dims=3).eval()
    with torch.no_grad():
        attn.relative_position_bias_table.normal_(0, 1.0)
    x = torch.randn(1, math.prod(grid), 6)
    with torch.no_grad():
        torch.testing.assert_close(attn(x, grid), naive_window_attention(attn, x, grid), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("grid,window", [((6, 8), (3, 2)), ((4, 6, 2), (2, 3, 1))])
def test_partition_roundtrip(grid, window):
    x = torch.randn(2, *grid, 5)
    windows = window_partition(x, window)
    assert windows.shape == (2 * math.prod(g // w for g, w in zip(grid, window)), math.prod(window), 5)
    # the first window holds the top-left block in raster order
    first = x[(0,) + tuple(slice(0, w) for w in window)].reshape(-1, 5)
    torch.testing.assert_close(windows[0], first)
    torch.testing.assert_close(window_reverse(windows, window, grid), x)


def test_relative_position_index_matches_timm_2d():
    from timm.models.swin_transformer import get_relative_position_index

    torch.testing.assert_close(relative_position_index((7, 5)), get_relative_position_index(7, 5))


def test_relative_position_index_3d_matches_monai():
    from monai.networks.nets.swin_unetr import WindowAttention as MonaiWindowAttention

    ref = MonaiWindowAttention(dim=8, num_heads=2, window_size=(3, 4, 2))
    torch.testing.assert_close(relative_position_index((3, 4, 2)), ref.relative_position_index)


def test_shift_mask_matches_monai_3d():
    from monai.networks.nets.swin_unetr import compute_mask

    ours = shifted_window_mask((8, 6, 4), (4, 3, 2), (2, 1, 1))
    ref = compute_mask([8, 6, 4], (4, 3, 2), (2, 1, 1), torch.device("cpu"))
    torch.testing.assert_close(ours, ref)


def test_window_attention_rejects_wrong_token_count():
    attn = WindowAttention(8, 2, window_size=3)
    with pytest.raises(ValueError, match="grid"):
        attn(torch.randn(1, 10, 8), (3, 3))


def test_shift_must_be_smaller_than_window():
    with pytest.raises(ValueError, match="shift_size"):
        WindowAttention(8, 2, window_size=3, shift_size=3)
