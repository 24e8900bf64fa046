"""Spatial-reduction attention (PVT/PVTv2/Twins GSA), locally-grouped attention (Twins LSA) and CPVT's PEG
against naive per-token formulas, the registry builders, and ONNX export."""
import pytest
import timm.models.twins as timm_twins
import torch
import torch.nn.functional as F

import visionzoo as vz
from visionzoo.layers import PositionEncodingGenerator, build_attention
from visionzoo.layers.attention import LocallyGroupedAttention, SpatialReductionAttention

from ..conftest import randomize_

BACKBONE_KWARGS = dict(
    dim=16, num_heads=2, sr_ratio=2, qkv_bias=True, attn_drop=0.0, proj_drop=0.0, input_resolution=(6, 6),
    linear=False, num_prefix_tokens=0,
)


def _attend(q, k, v, heads):
    """Naive multi-head softmax attention, one query at a time: q (Nq, C), k/v (Nk, C) -> (Nq, C)."""
    d = q.shape[-1] // heads
    out = torch.zeros_like(q)
    for h in range(heads):
        sl = slice(h * d, (h + 1) * d)
        for i in range(q.shape[0]):
            w = torch.softmax(k[:, sl] @ q[i, sl] * d**-0.5, dim=0)
            out[i, sl] = (w[:, None] * v[:, sl]).sum(0)
    return out


def naive_sra(m: SpatialReductionAttention, x, shape):
    """Keys/values from each sr x sr cell (mean-pooled 7x7 + 1x1 conv + GELU when linear), computed cell by cell."""
    b, n, c = x.shape
    h, w = shape
    p = m.num_prefix_tokens
    out = []
    for bi in range(b):
        grid = x[bi, p:].reshape(h, w, c)
        if m.linear:
            pooled = F.adaptive_avg_pool2d(grid.permute(2, 0, 1), 7).permute(1, 2, 0).reshape(-1, c)
            cells = F.gelu(F.layer_norm(pooled @ m.sr.weight[:, :, 0, 0].T + m.sr.bias, (c,), m.norm.weight, m.norm.bias))
        elif m.sr_ratio > 1:
            r = m.sr_ratio
            hp, wp = max(h, r), max(w, r)  # a grid smaller than sr is zero-padded to one cell
            padded = torch.zeros(hp, wp, c)
            padded[:h, :w] = grid
            rows = []
            for i in range(hp // r):
                for j in range(wp // r):
                    patch = padded[i * r:(i + 1) * r, j * r:(j + 1) * r]  # r, r, C
                    rows.append(torch.einsum("abc,ocab->o", patch, m.sr.weight) + m.sr.bias)
            cells = F.layer_norm(torch.stack(rows), (c,), m.norm.weight, m.norm.bias)
        else:
            cells = grid.reshape(-1, c)
        src = torch.cat([x[bi, :p], cells])
        k, v = m.kv(src).split(c, dim=-1)
        out.append(m.proj(_attend(m.q(x[bi]), k, v, m.num_heads)))
    return torch.stack(out)


def naive_lsa(m: LocallyGroupedAttention, x, shape):
    """Each token attends to the tokens of its ws x ws group on the zero-padded grid."""
    b, n, c = x.shape
    h, w = shape
    wh, ww = m.window_size
    hp, wp = -(-h // wh) * wh, -(-w // ww) * ww
    out = torch.zeros(b, h, w, c)
    for bi in range(b):
        padded = torch.zeros(hp, wp, c)
        padded[:h, :w] = x[bi].reshape(h, w, c)
        for i in range(0, hp, wh):
            for j in range(0, wp, ww):
                group = padded[i:i + wh, j:j + ww].reshape(-1, c)
                q, k, v = m.qkv(group).split(c, dim=-1)
                res = _attend(q, k, v, m.num_heads).reshape(wh, ww, c)
                hh, wwid = min(wh, h - i), min(ww, w - j)
                out[bi, i:i + hh, j:j + wwid] = res[:hh, :wwid]
    return m.proj(out.reshape(b, n, c))


@pytest.mark.parametrize(
    "shape,sr,prefix,linear",
    [((6, 8), 2, 0, False), ((7, 5), 2, 0, False), ((3, 5), 4, 0, False), ((4, 4), 1, 1, False), ((4, 6), 2, 1, False),
     ((9, 10), 1, 0, True), ((3, 4), 1, 0, True)],
)
def test_spatial_reduction_matches_naive(shape, sr, prefix, linear):
    m = randomize_(SpatialReductionAttention(16, 2, sr_ratio=sr, linear=linear, num_prefix_tokens=prefix), std=0.3).eval()
    x = torch.randn(2, prefix + shape[0] * shape[1], 16)
    with torch.no_grad():
        torch.testing.assert_close(m(x, shape), naive_sra(m, x, shape), atol=1e-5, rtol=1e-4)
        with vz.layers.explicit_attention():
            torch.testing.assert_close(m(x, shape), naive_sra(m, x, shape), atol=1e-5, rtol=1e-4)


def test_spatial_reduction_sr_pad_uses_every_token_as_key():
    m = randomize_(SpatialReductionAttention(8, 2, sr_ratio=2, sr_pad=True), std=0.3).eval()
    x = torch.randn(1, 15, 8)
    grid = x.reshape(1, 3, 5, 8).permute(0, 3, 1, 2)
    cells = F.conv2d(F.pad(grid, (0, 1, 0, 1)), m.sr.weight, m.sr.bias, stride=2).flatten(2).transpose(1, 2)
    assert m.reduce(x, (3, 5)).shape == (1, 6, 8)
    torch.testing.assert_close(m.reduce(x, (3, 5)), m.norm(cells))


def test_gsa_is_timm_twins_global_subsampled_attention():
    """Twins' GSA: same parameter names and numbers as timm's GlobalSubSampleAttn."""
    ref = randomize_(timm_twins.GlobalSubSampleAttn(16, 2, sr_ratio=2), std=0.3).eval()
    ours = SpatialReductionAttention(16, 2, sr_ratio=2).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 48, 16)
    with torch.no_grad():
        torch.testing.assert_close(ours(x, (6, 8)), ref(x, (6, 8)), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("shape,window", [((7, 7), 7), ((6, 8), (3, 4)), ((5, 9), 3), ((2, 3), 7)])
def test_locally_grouped_matches_naive_and_timm(shape, window):
    m = randomize_(LocallyGroupedAttention(16, 2, window_size=window), std=0.3).eval()
    x = torch.randn(2, shape[0] * shape[1], 16)
    with torch.no_grad():
        torch.testing.assert_close(m(x, shape), naive_lsa(m, x, shape), atol=1e-5, rtol=1e-4)
        if isinstance(window, int):
            ref = timm_twins.LocallyGroupedAttn(16, 2, ws=window).eval()
            ref.load_state_dict(m.state_dict(), strict=True)
            torch.testing.assert_close(m(x, shape), ref(x, shape), atol=1e-5, rtol=1e-5)


def test_peg_adds_depthwise_conv_and_keeps_prefix():
    m = randomize_(PositionEncodingGenerator(8, num_prefix_tokens=1), std=0.3)
    x = torch.randn(2, 1 + 12, 8)
    y = m(x, (3, 4))
    grid = x[:, 1:].reshape(2, 3, 4, 8)
    expected = torch.zeros_like(grid)
    w, bias = m.proj.weight[:, 0], m.proj.bias
    padded = F.pad(grid, (0, 0, 1, 1, 1, 1))
    for i in range(3):
        for j in range(4):
            expected[:, i, j] = grid[:, i, j] + (padded[:, i:i + 3, j:j + 3] * w.permute(1, 2, 0)).sum((1, 2)) + bias
    torch.testing.assert_close(y[:, 0], x[:, 0])
    torch.testing.assert_close(y[:, 1:], expected.reshape(2, 12, 8), atol=1e-5, rtol=1e-5)
    ref = timm_twins.PosConv(8, 8)
    ref.proj[0].load_state_dict(m.proj.state_dict())
    plain = PositionEncodingGenerator(8)
    plain.load_state_dict(m.state_dict())
    torch.testing.assert_close(plain(x[:, 1:], (3, 4)), ref(x[:, 1:], (3, 4)))


def test_builders_accept_backbone_kwargs_and_reject_prefix_for_groups():
    sra = build_attention(None, "spatial_reduction", **BACKBONE_KWARGS)
    assert isinstance(sra, SpatialReductionAttention) and sra.sr_ratio == 2 and sra.sr is not None
    li = build_attention(dict(type="spatial_reduction", linear=True), "softmax", **BACKBONE_KWARGS)
    assert li.linear and li.pool is not None and li.sr.kernel_size == (1, 1)
    lsa = build_attention(dict(type="locally_grouped", window_size=3), "spatial_reduction", **BACKBONE_KWARGS)
    assert isinstance(lsa, LocallyGroupedAttention) and lsa.window_size == (3, 3)
    softmax = build_attention("softmax", "spatial_reduction", **BACKBONE_KWARGS)
    assert softmax(torch.randn(1, 36, 16), (6, 6)).shape == (1, 36, 16)
    with pytest.raises(ValueError, match="prefix"):
        build_attention("locally_grouped", "spatial_reduction", **{**BACKBONE_KWARGS, "num_prefix_tokens": 1})
    with pytest.raises(ValueError, match="prefix \\+ H \\* W"):
        sra(torch.randn(1, 35, 16), (6, 6))
    with pytest.raises(ValueError, match="not divisible"):
        SpatialReductionAttention(10, 3)


class _Mixers(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.sra = SpatialReductionAttention(16, 2, sr_ratio=2, num_prefix_tokens=1)
        self.li = SpatialReductionAttention(16, 2, linear=True)
        self.lsa = LocallyGroupedAttention(16, 2, window_size=3)
        self.peg = PositionEncodingGenerator(16)

    def forward(self, x):
        grid = x[:, 1:]
        y = self.sra(x, (5, 6))[:, 1:] + self.li(grid, (5, 6))
        return self.peg(self.lsa(y, (5, 6)), (5, 6))


def test_blocks_export_to_onnx(tmp_path):
    model = randomize_(_Mixers(), std=0.2)
    x = torch.randn(1, 31, 16)
    report = vz.export_onnx(model, tmp_path / "m.onnx", x, benchmark=False, verbose=False, optimize=False)
    assert [c["passed"] for c in report.checks] == [True, True]
