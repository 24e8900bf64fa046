"""Focused linear attention against a naive per-query formula written from the FLatten paper, plus ONNX export."""
import pytest
import torch
import torch.nn.functional as F

import visionzoo as vz
from visionzoo.layers import build_attention
from visionzoo.layers.attention import FocusedLinearAttention


def _phi(x, scale, p=3):
    """Focused map of one token vector: relu + eps, divided by softplus(scale), powered and re-normed."""
    x = (F.relu(x) + 1e-6) / F.softplus(scale)
    return x**p * (x.norm() / (x**p).norm())


def naive_focused_linear(attn: FocusedLinearAttention, x, shape, pos):
    """Loop over tokens and heads: out_i = mean_j (q_i.k_j) v_j / (mean_j (q_i.k_j) + 1e-6); per-head 5x5 conv on V."""
    b, n, c = x.shape
    h, w = shape
    heads, d = attn.num_heads, attn.head_dim
    p = attn.num_prefix_tokens
    if attn.split_qkv:
        q = attn.q(x)
        src, grid = x, (h, w)
        if attn.sr_ratio > 1:
            g = F.conv2d(x.transpose(1, 2).reshape(b, c, h, w), attn.sr.weight, attn.sr.bias, stride=attn.sr_ratio)
            grid = g.shape[-2:]
            src = F.layer_norm(g.flatten(2).transpose(1, 2), (c,), attn.norm.weight, attn.norm.bias)
        k, v = attn.kv(src).split(c, dim=-1)
    else:
        q, k, v = attn.qkv(x).split(c, dim=-1)
        grid = (h, w)
    k = k + torch.cat([torch.zeros(1, p, c), pos], dim=1)
    scale = attn.scale[0, 0]
    out = torch.zeros(b, n, c)
    for bi in range(b):
        qs = [_phi(q[bi, i], scale) for i in range(n)]
        ks = [_phi(k[bi, j], scale) for j in range(k.shape[1])]
        for hd in range(heads):
            sl = slice(hd * d, (hd + 1) * d)
            for i in range(n):
                weights = torch.stack([qs[i][sl] @ kj[sl] for kj in ks]) / len(ks)
                out[bi, i, sl] = (weights[:, None] * v[bi, :, sl]).sum(0) / (weights.sum() + 1e-6)
    vg = v[:, p:]
    if tuple(grid) != (h, w):  # official: 1D linear stretch of the reduced V sequence back to h*w tokens
        vg = F.interpolate(vg.transpose(1, 2), size=h * w, mode="linear").transpose(1, 2)
    for hd in range(heads):
        img = vg[:, :, hd * d:(hd + 1) * d].transpose(1, 2).reshape(b, d, h, w)
        conv = F.conv2d(img, attn.dwc.weight, attn.dwc.bias, padding=attn.dwc.padding, groups=d)
        out[:, p:, hd * d:(hd + 1) * d] += conv.flatten(2).transpose(1, 2)
    return attn.proj(out)


def _randomise(module):
    torch.manual_seed(1)
    with torch.no_grad():
        for param in module.parameters():
            param.normal_(0, 0.3)


@pytest.mark.parametrize(
    "kwargs, prefix",
    [(dict(), 0), (dict(), 1), (dict(sr_ratio=2), 0), (dict(split_qkv=True), 0)],
    ids=["fused", "class_token", "sr2", "split"],
)
def test_matches_naive_formula_at_reference_grid(kwargs, prefix):
    attn = FocusedLinearAttention(16, 2, input_resolution=(4, 6), qkv_bias=True, num_prefix_tokens=prefix, **kwargs).eval()
    _randomise(attn)
    x = torch.randn(2, prefix + 24, 16)
    with torch.no_grad():
        expected = naive_focused_linear(attn, x, (4, 6), attn.positional_encoding)
        torch.testing.assert_close(attn(x, (4, 6)), expected, atol=1e-4, rtol=1e-4)


def test_other_grid_resamples_positional_encoding():
    attn = FocusedLinearAttention(16, 2, input_resolution=(4, 4), qkv_bias=True).eval()
    _randomise(attn)
    x = torch.randn(1, 5 * 7, 16)
    table = attn.positional_encoding.reshape(1, 4, 4, 16).permute(0, 3, 1, 2)
    pos = F.interpolate(table, size=(5, 7), mode="bicubic", antialias=True).flatten(2).transpose(1, 2)
    with torch.no_grad():
        torch.testing.assert_close(attn(x, (5, 7)), naive_focused_linear(attn, x, (5, 7), pos), atol=1e-4, rtol=1e-4)


def test_cost_grows_linearly_in_tokens():
    """4x the tokens costs 4x the FLOPs (softmax attention would cost ~16x in its N x N products)."""
    from torch.utils.flop_counter import FlopCounterMode

    attn = FocusedLinearAttention(32, 2, input_resolution=(16, 16)).eval()
    flops = []
    for side in (16, 32):
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            attn(torch.randn(1, side * side, 32), (side, side))
        flops.append(counter.get_total_flops())
    assert 3.9 < flops[1] / flops[0] < 4.1


def test_builder_layouts_and_errors():
    common = dict(dim=16, num_heads=2, qkv_bias=True, attn_drop=0.0, proj_drop=0.0, input_resolution=(4, 4))
    swin = build_attention("focused_linear", "window", window_size=(7, 7), shift_size=0, **common)
    assert hasattr(swin, "qkv") and not hasattr(swin, "q")
    pvt = build_attention(dict(type="focused_linear", sr_ratio=1), "spatial_reduction", sr_ratio=8, linear=False, **common)
    assert hasattr(pvt, "q") and hasattr(pvt, "kv") and pvt.sr_ratio == 1
    assert pvt.positional_encoding.shape == (1, 16, 16)
    with pytest.raises(ValueError, match="input_resolution"):
        build_attention("focused_linear", "softmax", dim=16, num_heads=2)
    with pytest.raises(ValueError, match="2D token grids"):
        swin(torch.randn(1, 8, 16), (2, 2, 2))
    with pytest.raises(ValueError, match="tokens for grid"):
        swin(torch.randn(1, 15, 16), (4, 4))


def test_onnx_export_matches(tmp_path):
    class Wrap(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = FocusedLinearAttention(16, 2, input_resolution=(4, 4), qkv_bias=True, num_prefix_tokens=1)

        def forward(self, x):
            return self.attn(x, (5, 3))

    model = Wrap()
    _randomise(model)
    report = vz.export_onnx(model, tmp_path / "fla.onnx", torch.randn(1, 16, 16), benchmark=False, verbose=False, optimize=False)
    assert [c["passed"] for c in report.checks] == [True, True]


def _relative_error(got, expected):
    """max |got - expected| / max |expected| (the fp32 output)."""
    return ((got.float() - expected).abs().max() / expected.abs().max()).item()


@pytest.mark.parametrize("magnitude", [1, 50])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("kwargs", [dict(), dict(sr_ratio=2)], ids=["fused", "sr2"])
def test_autocast_keeps_focusing_and_normaliser_in_fp32(kwargs, dtype, magnitude):
    """Under CPU autocast (bf16 and fp16) the output stays within 2e-2 of fp32 and finite, also for large inputs."""
    attn = FocusedLinearAttention(64, 2, input_resolution=(8, 8), qkv_bias=True, **kwargs).eval()
    _randomise(attn)
    x = torch.randn(2, 64, 64) * magnitude
    with torch.no_grad():
        expected = attn(x, (8, 8))
        with torch.autocast("cpu", dtype=dtype):
            got = attn(x, (8, 8))
        if magnitude > 1:  # the input does stress half precision: fp16's focused map of q overflows
            q = (F.relu(attn.qkv_tokens(x, (8, 8))[0]) + 1e-6) / F.softplus(attn.scale)
            assert not torch.isfinite((q.half() ** 3).norm(dim=-1)).all()
    assert torch.isfinite(got).all()
    assert _relative_error(got, expected) < 2e-2


def test_half_module_stays_finite():
    """A module cast to fp16 (no autocast) still computes the focused maps in fp32: no overflow to NaN."""
    attn = FocusedLinearAttention(64, 2, input_resolution=(8, 8), qkv_bias=True, num_prefix_tokens=1).eval()
    _randomise(attn)
    x = torch.randn(2, 65, 64) * 50
    with torch.no_grad():
        expected = attn(x, (8, 8))
        got = attn.half()(x.half(), (8, 8))
    assert got.dtype == torch.float16 and torch.isfinite(got).all()
    assert _relative_error(got, expected) < 2e-2


@pytest.mark.parametrize("name", ["flatten_pvt_v2_b0", "flatten_swin_tiny"])
def test_models_under_bf16_autocast(name):
    model = vz.create_model(name, num_classes=10).eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        expected = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = model(x)
    assert torch.isfinite(got).all()
    assert _relative_error(got, expected) < 2e-2
