"""CNN attention modules (CBAM, triplet, SE) against naive formulas written from the papers, any size, ONNX export."""
import pytest
import torch

import visionzoo as vz
from visionzoo.layers import CBAM, CONV_ATTENTION_TYPES, SqueezeExcite, TripletAttention, build_conv_attention

SIZES = [(2, 32, 5, 7), (1, 48, 9, 4)]


def randomize_module_(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Seeded weights and BatchNorm statistics of unit scale, so every parameter and buffer matters (eval mode)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(module.named_parameters()) + list(module.named_buffers()):
            if name.endswith("num_batches_tracked"):
                continue
            noise = torch.randn(t.shape, generator=gen)
            if name.endswith("running_var"):
                t.copy_(0.5 + noise.abs())
            elif name.endswith("bn.weight"):
                t.copy_(1.0 + 0.2 * noise)
            else:
                t.copy_(0.3 * noise)
    return module.eval()


def naive_conv_same(z: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Zero-padded 'same' cross-correlation of (B, 2, P, Q) with a (1, 2, k, k) kernel, as a sum of shifted maps."""
    k = weight.shape[-1]
    r = k // 2
    b, c, p, q = z.shape
    padded = torch.zeros(b, c, p + 2 * r, q + 2 * r)
    padded[:, :, r:r + p, r:r + q] = z
    out = torch.zeros(b, 1, p, q)
    for ch in range(c):
        for i in range(k):
            for j in range(k):
                out[:, 0] += weight[0, ch, i, j] * padded[:, ch, i:i + p, j:j + q]
    return out


def naive_bn(s: torch.Tensor, bn: torch.nn.BatchNorm2d) -> torch.Tensor:
    return (s - bn.running_mean[0]) / torch.sqrt(bn.running_var[0] + bn.eps) * bn.weight[0] + bn.bias[0]


def naive_gate(z: torch.Tensor, gate) -> torch.Tensor:
    """sigmoid(BN(conv(z))) for a ZPoolGate's parameters."""
    return torch.sigmoid(naive_bn(naive_conv_same(z, gate.conv.weight), gate.bn))


def channel_max_mean(t: torch.Tensor) -> torch.Tensor:
    """CBAM's / Z-pool's 2-channel map of a (B, D, P, Q) tensor: [max over D, mean over D]."""
    return torch.cat([t.max(dim=1, keepdim=True).values, t.mean(dim=1, keepdim=True)], dim=1)


def naive_cbam(m: CBAM, x: torch.Tensor) -> torch.Tensor:
    g = m.channel_gate

    def mlp(v):  # v: (B, C)
        return torch.relu(v @ g.fc1.weight.T + g.fc1.bias) @ g.fc2.weight.T + g.fc2.bias

    flat = x.flatten(2)
    channel = torch.sigmoid(mlp(flat.mean(-1)) + mlp(flat.max(-1).values))
    y = x * channel[:, :, None, None]
    return y * naive_gate(channel_max_mean(y), m.spatial)


def naive_triplet(m: TripletAttention, x: torch.Tensor) -> torch.Tensor:
    """The paper's rotate-pool-gate-rotate back form: permute so the pooled axis is dim 1, gate, undo, average."""
    outs = []
    for gate, perm in ((m.cw, (0, 2, 1, 3)), (m.hc, (0, 3, 2, 1)), (m.hw, (0, 1, 2, 3))):
        if gate is None:
            continue
        rotated = x.permute(*perm)
        outs.append((rotated * naive_gate(channel_max_mean(rotated), gate)).permute(*perm))  # these perms are involutions
    return sum(outs) / len(outs)


def naive_se(m: SqueezeExcite, x: torch.Tensor) -> torch.Tensor:
    w1, w2 = m.fc1.weight[:, :, 0, 0], m.fc2.weight[:, :, 0, 0]
    s = torch.relu(x.mean(dim=(2, 3)) @ w1.T + m.fc1.bias) @ w2.T + m.fc2.bias
    return x * torch.sigmoid(s)[:, :, None, None]


@pytest.mark.parametrize("shape", SIZES)
@pytest.mark.parametrize("no_spatial", [False, True])
def test_cbam_matches_naive_formula(shape, no_spatial):
    m = randomize_module_(CBAM(shape[1], reduction=16, no_spatial=no_spatial))
    x = torch.randn(*shape)
    with torch.no_grad():
        expected = naive_cbam(m, x) if not no_spatial else x * m.channel_gate(x)
        torch.testing.assert_close(m(x), expected, atol=1e-5, rtol=1e-5)
    if no_spatial:  # the channel gate alone, against the MLP written out
        with torch.no_grad():
            g = m.channel_gate
            v = x.flatten(2)
            mlp = lambda t: torch.relu(t @ g.fc1.weight.T + g.fc1.bias) @ g.fc2.weight.T + g.fc2.bias  # noqa: E731
            torch.testing.assert_close(g(x)[:, :, 0, 0], torch.sigmoid(mlp(v.mean(-1)) + mlp(v.max(-1).values)))
    assert m.channel_gate.fc1.out_features == shape[1] // 16


@pytest.mark.parametrize("shape", SIZES)
@pytest.mark.parametrize("kernel_size", [7, 3])
@pytest.mark.parametrize("no_spatial", [False, True])
def test_triplet_matches_naive_rotations(shape, kernel_size, no_spatial):
    m = randomize_module_(TripletAttention(kernel_size=kernel_size, no_spatial=no_spatial))
    x = torch.randn(*shape)
    with torch.no_grad():
        torch.testing.assert_close(m(x), naive_triplet(m, x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("shape", SIZES)
def test_se_matches_naive_formula(shape):
    m = randomize_module_(SqueezeExcite(shape[1], reduction=8))
    x = torch.randn(*shape)
    with torch.no_grad():
        torch.testing.assert_close(m(x), naive_se(m, x), atol=1e-5, rtol=1e-5)


def test_spatial_gates_are_what_the_modules_apply():
    x = torch.randn(2, 32, 6, 5)
    cbam = randomize_module_(CBAM(32))
    triplet = randomize_module_(TripletAttention(no_spatial=False))
    with torch.no_grad():
        gate = cbam.spatial_gate(x)
        assert gate.shape == (2, 1, 6, 5) and 0 < gate.min() and gate.max() < 1
        torch.testing.assert_close(cbam(x), x * cbam.channel_gate(x) * gate)
        assert triplet.spatial_gate(x).shape == (2, 1, 6, 5)
    assert CBAM(32, no_spatial=True).spatial_gate(x) is None
    assert TripletAttention(no_spatial=True).spatial_gate(x) is None


def test_train_mode_backward_reaches_every_parameter():
    for m in (CBAM(32), TripletAttention(), SqueezeExcite(32)):
        m.train()
        m(torch.randn(2, 32, 7, 6)).square().sum().backward()
        for name, p in m.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, (type(m).__name__, name)


def test_builder_and_errors():
    assert isinstance(build_conv_attention(dict(type="cbam", reduction=8), 64), CBAM)
    assert build_conv_attention("cbam", 64).channel_gate.fc1.out_features == 4
    assert isinstance(build_conv_attention("triplet", 64), TripletAttention)
    assert build_conv_attention(None, 64) is None
    assert set(CONV_ATTENTION_TYPES) >= {"cbam", "triplet", "se"}
    with pytest.raises(ValueError, match=r"Unknown block attention type 'bam'; known types: cbam, se, triplet"):
        build_conv_attention(dict(type="bam"), 64)
    with pytest.raises(ValueError, match="bad options for block attention 'cbam'"):
        build_conv_attention(dict(type="cbam", ratio=4), 64)
    with pytest.raises(ValueError, match="no hidden units; use a reduction of at most 8"):
        CBAM(8, reduction=16)
    with pytest.raises(ValueError, match="positive odd number"):
        TripletAttention(kernel_size=4)
    with pytest.raises(ValueError, match="pool_types"):
        CBAM(32, pool_types=("lse",))


@pytest.mark.parametrize("module", [CBAM(32), TripletAttention(), SqueezeExcite(32)], ids=["cbam", "triplet", "se"])
def test_exports_to_onnx_with_dynamic_batch_and_size(module, tmp_path):
    randomize_module_(module)
    report = vz.export_onnx(
        module, tmp_path / "m.onnx", torch.randn(2, 32, 8, 12), dynamic_spatial=True, spatial_multiple=4,
        benchmark=False, verbose=False, optimize=False,
    )
    assert [c["passed"] for c in report.checks] == [True, True]
    assert report.checks[1]["shape"] == (3, 32, 12, 16)
