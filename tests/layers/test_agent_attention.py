"""Agent attention against a naive per-token formula written from the Agent Attention paper, plus ONNX export."""
import math

import pytest
import torch
import torch.nn.functional as F

import visionzoo as vz
from visionzoo.layers import build_attention
from visionzoo.layers.attention import AgentAttention


def _pool_bins(size, out):
    """Adaptive pooling bins: [floor(i*size/out), ceil((i+1)*size/out))."""
    return [range(math.floor(i * size / out), math.ceil((i + 1) * size / out)) for i in range(out)]


def _stretch(table, size, dim):
    """Linear (align_corners=False) resampling of one axis, written out: sample at (i + 0.5) * in/out - 0.5."""
    n = table.shape[dim]
    if n == size:
        return table
    rows = []
    for i in range(size):
        src = max((i + 0.5) * n / size - 0.5, 0.0)
        lo = min(int(math.floor(src)), n - 1)
        hi = min(lo + 1, n - 1)
        t = src - lo
        rows.append(table.select(dim, lo) * (1 - t) + table.select(dim, hi) * t)
    return torch.stack(rows, dim=dim)


def naive_agent_attention(attn: AgentAttention, x, shape):
    """Per head, per agent and per query softmax loops; biases assembled entry by entry."""
    b, n, c = x.shape
    h, w = shape
    p = attn.num_prefix_tokens
    heads, d, a = attn.num_heads, attn.head_dim, attn.agent_num
    s = math.isqrt(a)
    if attn.split_qkv:
        q = attn.q(x)
        src, (hk, wk) = x, (h, w)
        if attn.sr_ratio > 1:
            g = F.conv2d(x.transpose(1, 2).reshape(b, c, h, w), attn.sr.weight, attn.sr.bias, stride=attn.sr_ratio)
            hk, wk = g.shape[-2:]
            src = F.layer_norm(g.flatten(2).transpose(1, 2), (c,), attn.norm.weight, attn.norm.bias)
        k, v = attn.kv(src).split(c, dim=-1)
    else:
        q, k, v = attn.qkv(x).split(c, dim=-1)
        hk, wk = h, w
    qg = q[:, p:].reshape(b, h, w, c)
    agents = torch.stack(
        [torch.stack([qg[:, list(ri)][:, :, list(ci)].mean((1, 2)) for ci in _pool_bins(w, s)], 1) for ri in _pool_bins(h, s)], 1
    ).reshape(b, a, c)
    an = F.interpolate(attn.an_bias, size=(hk, wk), mode="bilinear")
    na = F.interpolate(attn.na_bias, size=(h, w), mode="bilinear")
    ah, aw = _stretch(attn.ah_bias[0, ..., 0], hk, 2), _stretch(attn.aw_bias[0, :, :, 0], wk, 2)  # heads, a, hk / wk
    ha, wa = _stretch(attn.ha_bias[0, :, :, 0], h, 1), _stretch(attn.wa_bias[0, :, 0], w, 1)  # heads, h / w, a
    out = torch.zeros(b, n, c)
    for hd in range(heads):
        sl = slice(hd * d, (hd + 1) * d)
        agent_v = torch.zeros(b, a, d)
        for ai in range(a):
            scores = []
            for j in range(p):
                scores.append((agents[:, ai, sl] * k[:, j, sl]).sum(-1) * attn.scale + attn.ac_bias[0, hd, ai, j])
            for r in range(hk):
                for col in range(wk):
                    j = p + r * wk + col
                    bias = an[hd, ai, r, col] + ah[hd, ai, r] + aw[hd, ai, col]
                    scores.append((agents[:, ai, sl] * k[:, j, sl]).sum(-1) * attn.scale + bias)
            weights = torch.softmax(torch.stack(scores, -1), -1)
            agent_v[:, ai] = (weights[:, :, None] * v[:, :, sl]).sum(1)
        for i in range(n):
            if i < p:
                bias = attn.ca_bias[0, hd, i]
            else:
                r, col = divmod(i - p, w)
                bias = na[hd, :, r, col] + ha[hd, r] + wa[hd, col]
            weights = torch.softmax(torch.einsum("bd,bad->ba", q[:, i, sl], agents[:, :, sl]) * attn.scale + bias, -1)
            out[:, i, sl] = torch.einsum("ba,bad->bd", weights, agent_v)
    vg = v[:, p:].transpose(1, 2).reshape(b, c, hk, wk)
    if (hk, wk) != (h, w):
        vg = F.interpolate(vg, size=(h, w), mode="bilinear")
    out[:, p:] += F.conv2d(vg, attn.dwc.weight, attn.dwc.bias, padding=1, groups=c).flatten(2).transpose(1, 2)
    return attn.proj(out)


def _randomise(module):
    torch.manual_seed(2)
    with torch.no_grad():
        for param in module.parameters():
            param.normal_(0, 0.3)


@pytest.mark.parametrize(
    "kwargs, prefix, grid",
    [
        (dict(agent_num=4), 0, (6, 6)),
        (dict(agent_num=9), 1, (6, 6)),
        (dict(agent_num=4), 0, (5, 7)),  # other grid: biases resampled, uneven pooling bins
        (dict(agent_num=9), 1, (7, 4)),
        (dict(agent_num=4, sr_ratio=2), 0, (6, 6)),
        (dict(agent_num=4, sr_ratio=2), 0, (8, 4)),
    ],
    ids=["plain", "class_token", "other_grid", "class_token_other_grid", "sr2", "sr2_other_grid"],
)
def test_matches_naive_formula(kwargs, prefix, grid):
    attn = AgentAttention(16, 2, input_resolution=(6, 6), qkv_bias=True, num_prefix_tokens=prefix, **kwargs).eval()
    _randomise(attn)
    x = torch.randn(2, prefix + grid[0] * grid[1], 16)
    with torch.no_grad():
        torch.testing.assert_close(attn(x, grid), naive_agent_attention(attn, x, grid), atol=1e-4, rtol=1e-4)


def test_parameter_shapes_follow_official_layout():
    attn = AgentAttention(192, 3, input_resolution=(14, 14), agent_num=49, qkv_bias=True, num_prefix_tokens=1)
    shapes = {n: tuple(p.shape) for n, p in attn.named_parameters()}
    assert shapes["an_bias"] == (3, 49, 7, 7) and shapes["ah_bias"] == (1, 3, 49, 14, 1)
    assert shapes["wa_bias"] == (1, 3, 1, 14, 49) and shapes["ac_bias"] == (1, 3, 49, 1) and shapes["ca_bias"] == (1, 3, 1, 49)
    assert shapes["dwc.weight"] == (192, 1, 3, 3) and shapes["qkv.weight"] == (576, 192)
    pvt = AgentAttention(64, 1, input_resolution=(56, 56), agent_num=9, sr_ratio=8)
    assert pvt.ah_bias.shape == (1, 1, 9, 7, 1) and pvt.ha_bias.shape == (1, 1, 56, 1, 9) and pvt.sr.stride == (8, 8)


def test_errors():
    common = dict(dim=16, num_heads=2, input_resolution=(4, 4))
    with pytest.raises(ValueError, match="perfect square"):
        build_attention(dict(type="agent", agent_num=10), "softmax", **common)
    with pytest.raises(ValueError, match="input_resolution"):
        build_attention("agent", "softmax", dim=16, num_heads=2)
    with pytest.raises(ValueError, match="linear"):
        build_attention("agent", "spatial_reduction", sr_ratio=1, linear=True, **common)
    with pytest.raises(ValueError, match="prefix"):
        AgentAttention(16, 2, input_resolution=(4, 4), sr_ratio=2, num_prefix_tokens=1)


def test_onnx_export_matches(tmp_path):
    class Wrap(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = AgentAttention(16, 2, input_resolution=(6, 6), agent_num=9, qkv_bias=True, num_prefix_tokens=1)

        def forward(self, x):
            return self.attn(x, (5, 7))  # uneven pooling bins and resampled biases

    model = Wrap()
    _randomise(model)
    report = vz.export_onnx(model, tmp_path / "agent.onnx", torch.randn(1, 36, 16), benchmark=False, verbose=False, optimize=False)
    assert [c["passed"] for c in report.checks] == [True, True]
