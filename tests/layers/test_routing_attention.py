"""Bi-level routing attention and BiFormer's LePE global attention against naive per-query formulas.

The reference follows the BiFormer paper / official legacy code token by token: zero-pad the grid to
a multiple of n_win, project every token, average q and k over each region, route each query region
to its top-k key regions, and let every query attend over all tokens of those regions.
"""
import pytest
import torch
import torch.nn.functional as F

import visionzoo as vz
from visionzoo.cli.benchmarking import peak_memory_mib
from visionzoo.layers import build_attention
from visionzoo.layers.attention import BiLevelRoutingAttention, LePESelfAttention
from visionzoo.layers.attention import routing

from ..conftest import randomize_


def naive_bilevel_routing(attn: BiLevelRoutingAttention, x: torch.Tensor, shape) -> torch.Tensor:
    """Per query token: the keys of its region's top-k routed regions, softmax over them per head, + LePE, wo."""
    b, n, c = x.shape
    h, w = shape
    nw, qk, heads = attn.n_win, attn.qk_dim, attn.num_heads
    hp, wp = -(-h // nw) * nw, -(-w // nw) * nw
    grid = torch.zeros(b, hp, wp, c)
    grid[:, :h, :w] = x.view(b, h, w, c)
    q, k, v = attn.qkv(grid).split([qk, qk, attn.dim], dim=-1)  # every padded token is projected too
    rh, rw = hp // nw, wp // nw

    def region_of(i, j):
        return (i // rh) * nw + j // rw

    members = [[(i, j) for i in range(hp) for j in range(wp) if region_of(i, j) == r] for r in range(nw * nw)]
    out = torch.zeros(b, hp, wp, attn.dim)
    for bi in range(b):
        q_r = torch.stack([torch.stack([q[bi, i, j] for i, j in m]).mean(0) for m in members])
        k_r = torch.stack([torch.stack([k[bi, i, j] for i, j in m]).mean(0) for m in members])
        routed = ((q_r * attn.scale) @ k_r.T).topk(attn.topk, dim=-1).indices
        for i in range(hp):
            for j in range(wp):
                keys = [p for r in routed[region_of(i, j)].tolist() for p in members[r]]
                kk = torch.stack([k[bi, a, e] for a, e in keys]).view(len(keys), heads, -1)
                vv = torch.stack([v[bi, a, e] for a, e in keys]).view(len(keys), heads, -1)
                qq = q[bi, i, j].view(heads, -1)
                weights = torch.softmax(torch.einsum("hd,khd->hk", qq, kk) * attn.scale, dim=-1)
                out[bi, i, j] = torch.einsum("hk,khd->hd", weights, vv).reshape(-1)
    lepe = F.conv2d(v.permute(0, 3, 1, 2), attn.lepe.weight, attn.lepe.bias, padding=attn.lepe.padding, groups=attn.dim)
    out = out + lepe.permute(0, 2, 3, 1)
    return attn.wo(out[:, :h, :w].reshape(b, n, -1))


def _attention(kernel="auto", **kwargs):
    args = dict(dim=16, num_heads=2, n_win=3, topk=2, kernel=kernel)
    args.update(kwargs)
    return randomize_(BiLevelRoutingAttention(**args), std=0.3).eval()


@pytest.mark.parametrize("kernel", ["gather", "dense"])
@pytest.mark.parametrize("shape,topk", [((6, 9), 2), ((7, 8), 4), ((2, 4), 9)])  # padded grids, topk up to all regions
def test_matches_naive_formula(kernel, shape, topk):
    attn = _attention(kernel, topk=topk)
    x = torch.randn(2, shape[0] * shape[1], 16)
    with torch.no_grad():
        expected = naive_bilevel_routing(attn, x, shape)
    got = attn(x, shape)  # autograd on: the unchunked path
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)


def test_inference_chunks_match(monkeypatch):
    """Without autograd the gather kernel works through the query regions in chunks; the result is unchanged."""
    attn = _attention("gather", qk_dim=8)
    x = torch.randn(3, 8 * 7, 16)
    with torch.no_grad():
        expected = naive_bilevel_routing(attn, x, (8, 7))
        monkeypatch.setattr(routing, "_GATHER_CHUNK_BYTES", 1)  # one query region per chunk
        got = attn(x, (8, 7))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)


def _relative_error(got, expected):
    return ((got - expected).abs().max() / expected.abs().max()).item()


@pytest.mark.parametrize("chunk_regions", [1, 2])
@pytest.mark.parametrize(
    "shape,topk,batch,kwargs",
    [((6, 9), 1, 1, {}), ((7, 8), 2, 3, dict(qk_dim=8)), ((2, 4), 9, 2, {}), ((10, 5), 4, 1, dict(side_dwconv=0)),
     ((9, 9), 3, 2, dict(num_heads=4))],
)
def test_chunked_inference_equals_the_autograd_path(monkeypatch, shape, topk, batch, kwargs, chunk_regions):
    """Chunks of 1 or 2 query regions (padded grids, topk 1 to all, batches) give the unchunked result to 1e-5."""
    attn = _attention("gather", topk=topk, **kwargs)
    x = torch.randn(batch, shape[0] * shape[1], 16)
    with torch.enable_grad():  # autograd on: one gather for all query regions
        expected = attn(x, shape).detach()
    tokens = -(-shape[0] // 3) * -(-shape[1] // 3)
    monkeypatch.setattr(routing, "_GATHER_CHUNK_BYTES", chunk_regions * topk * tokens * (attn.qk_dim + 16) * 4)
    with torch.no_grad():
        got = attn(x, shape)
    assert _relative_error(got, expected) <= 1e-5


def test_biformer_chunked_inference_equals_the_autograd_path(monkeypatch):
    """Whole model (every stage padded: 200 x 136 is no multiple of 7 * 32), one query region per chunk."""
    model = randomize_(vz.create_model("biformer_tiny", num_classes=10), std=0.02).eval()
    x = torch.randn(1, 3, 200, 136)
    with torch.enable_grad():
        expected = model(x).detach()
    monkeypatch.setattr(routing, "_GATHER_CHUNK_BYTES", 1)
    with torch.no_grad():
        got = model(x)
    assert _relative_error(got, expected) <= 1e-5


def test_kernels_agree_in_training():
    """Forward and every gradient agree between the gather and dense kernels (routing is not differentiated)."""
    gather = _attention("gather").train()
    dense = _attention("dense").train()
    dense.load_state_dict(gather.state_dict())
    x = torch.randn(2, 5 * 6, 16, requires_grad=True)
    xd = x.detach().clone().requires_grad_()
    target = torch.randn(2, 30, 16)
    ((gather(x, (5, 6)) - target) ** 2).sum().backward()
    ((dense(xd, (5, 6)) - target) ** 2).sum().backward()
    torch.testing.assert_close(x.grad, xd.grad, atol=1e-5, rtol=1e-4)
    for (name, a), b in zip(gather.named_parameters(), dense.parameters()):  # atol: the k bias's gradient is 0 + noise
        torch.testing.assert_close(a.grad, b.grad, atol=1e-6 * a.grad.abs().max().item(), rtol=1e-4, msg=name)


def test_auto_kernel_choice():
    stage2 = _attention(n_win=7, topk=4)
    stage3 = _attention(n_win=7, topk=16)
    assert not stage2._use_dense(14 * 14) and stage3._use_dense(14 * 14)
    assert not stage3._use_dense(routing.DENSE_MAX_TOKENS + 1)


def test_gather_never_holds_the_topk_copy():
    """Inference peak memory stays below one top-k-times copy of K/V (the official code's gather)."""
    attn = BiLevelRoutingAttention(64, 2, n_win=7, topk=4, kernel="gather").eval()
    x = torch.randn(2, 56 * 56, 64)
    gathered_mib = 2 * 49 * 4 * 64 * 128 * 4 / 2**20  # B * regions * topk * tokens per region * (k + v) * fp32

    def step():
        with torch.inference_mode():
            attn(x, (56, 56))

    step()
    assert peak_memory_mib(step) < gathered_mib


def test_errors():
    with pytest.raises(ValueError, match=r"topk must be in \[1, n_win\*\*2 = 9\]"):
        BiLevelRoutingAttention(16, 2, n_win=3, topk=10)
    with pytest.raises(ValueError, match="divisible by num_heads"):
        BiLevelRoutingAttention(16, 3)
    with pytest.raises(ValueError, match="kernel must be one of"):
        BiLevelRoutingAttention(16, 2, kernel="cuda")
    attn = _attention()
    with pytest.raises(ValueError, match=r"got 30 tokens with grid \(5, 5\)"):
        attn(torch.randn(1, 30, 16), (5, 5))


def test_registered_builders():
    attn = build_attention("bilevel_routing", default="softmax", dim=32, num_heads=2, window_size=7, shift_size=3, qkv_bias=True)
    assert isinstance(attn, BiLevelRoutingAttention) and attn.topk == 4 and attn.n_win == 7
    attn = build_attention(dict(type="bilevel_routing", n_win=4, topk=3), default="softmax", dim=32, num_heads=4)
    assert (attn.n_win, attn.topk, attn.num_heads) == (4, 3, 4)
    assert isinstance(build_attention("softmax_lepe", default="softmax", dim=32, num_heads=4), LePESelfAttention)
    with pytest.raises(ValueError, match="class token"):
        build_attention("bilevel_routing", default="softmax", dim=32, num_heads=2, num_prefix_tokens=1)


def test_lepe_self_attention_matches_naive_formula():
    attn = randomize_(LePESelfAttention(32, num_heads=4), std=0.2).eval()
    b, (h, w) = 2, (3, 5)
    x = torch.randn(b, h * w, 32)
    with torch.no_grad():
        q, k, v = attn.qkv(x).view(b, h * w, 3, 4, 8).unbind(2)
        weights = torch.softmax(torch.einsum("bqhd,bkhd->bhqk", q, k) * 8**-0.5, dim=-1)
        out = torch.einsum("bhqk,bkhd->bqhd", weights, v).reshape(b, h * w, 32)
        lepe = F.conv2d(x.view(b, h, w, 32).permute(0, 3, 1, 2), attn.lepe.weight, attn.lepe.bias, padding=2, groups=32)
        expected = attn.proj(out + lepe.flatten(2).transpose(1, 2))
        got = attn(x, (h, w))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    assert attn.qkv.bias is None  # the official AttentionLePE has no qkv bias
    assert not hasattr(attn, "forward_queries")  # SelfAttention's prefix-only forward would skip LePE


class _Mixers(torch.nn.Module):
    """The gather kernel (what "auto" exports) followed by the dense kernel, on one padded grid."""

    def __init__(self, shape):
        super().__init__()
        self.gather, self.dense, self.shape = _attention("auto", topk=4), _attention("dense", topk=4), shape

    def forward(self, x):
        return self.dense(self.gather(x, self.shape), self.shape)


def test_onnx_export_matches(tmp_path):
    """Both kernels export (padded 7x8 grid, dynamic batch) and onnxruntime reproduces eager PyTorch."""
    report = vz.export_onnx(_Mixers((7, 8)), tmp_path / "bra.onnx", torch.randn(1, 56, 16), benchmark=False, verbose=False,
                            optimize=False)
    assert [c["passed"] for c in report.checks] == [True, True]
    assert max(c["rel_diff"] for c in report.checks) <= 1e-4
