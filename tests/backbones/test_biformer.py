"""BiFormer: official-layout checkpoints convert and load strictly and match a naive re-implementation of the
official forward (``models/biformer.py`` + ``ops/bra_legacy.py`` with ``auto_pad``); timm interface; any size."""
import math

import pytest
import torch
import torch.nn.functional as F

import visionzoo as vz
from visionzoo.backbones.biformer import BiFormer
from visionzoo.layers import SelfAttention
from visionzoo.layers.attention import BiLevelRoutingAttention, LePESelfAttention
from visionzoo.weights.checkpoint import CheckpointError, load_state_dict_strict
from visionzoo.weights.converters import convert_state_dict

from ..conftest import max_rel_diff

TINY = dict(depths=(2, 2, 8, 2), dims=(64, 128, 256, 512))
SMALL = dict(depths=(4, 4, 18, 4), dims=(64, 128, 256, 512))
BASE = dict(depths=(4, 4, 18, 4), dims=(96, 192, 384, 768))
TOPKS = (1, 4, 16, -2)


# --- the official release layout --------------------------------------------------------------------
def official_state_dict(depths, dims, num_classes=1000, seed=0, random=True):
    """Seeded tensors (zeros unless `random`) under the official ``models/biformer.py`` names and shapes
    (mlp ratio 3, qk_dim = dim)."""
    gen = torch.Generator().manual_seed(seed)
    sd = {}

    def rand(*shape, scale):
        return torch.randn(*shape, generator=gen) * scale if random else torch.zeros(shape)

    def conv(name, cin, cout, k, groups=1):
        sd[f"{name}.weight"] = rand(cout, cin // groups, k, k, scale=(cin // groups * k * k) ** -0.5)
        sd[f"{name}.bias"] = rand(cout, scale=0.1)

    def linear(name, cin, cout, bias=True):
        sd[f"{name}.weight"] = rand(cout, cin, scale=cin**-0.5)
        if bias:
            sd[f"{name}.bias"] = rand(cout, scale=0.1)

    def norm(name, c, batch=False):
        sd[f"{name}.weight"] = 1 + rand(c, scale=0.1)
        sd[f"{name}.bias"] = rand(c, scale=0.1)
        if batch:
            sd[f"{name}.running_mean"] = rand(c, scale=0.1)
            sd[f"{name}.running_var"] = 0.5 + torch.rand(c, generator=gen)
            sd[f"{name}.num_batches_tracked"] = torch.tensor(100)

    conv("downsample_layers.0.0", 3, dims[0] // 2, 3)
    norm("downsample_layers.0.1", dims[0] // 2, batch=True)
    conv("downsample_layers.0.3", dims[0] // 2, dims[0], 3)
    norm("downsample_layers.0.4", dims[0], batch=True)
    for i in range(1, 4):
        conv(f"downsample_layers.{i}.0", dims[i - 1], dims[i], 3)
        norm(f"downsample_layers.{i}.1", dims[i], batch=True)
    for i, (depth, c, topk) in enumerate(zip(depths, dims, TOPKS)):
        for j in range(depth):
            p = f"stages.{i}.{j}."
            conv(p + "pos_embed", c, c, 3, groups=c)
            norm(p + "norm1", c)
            if topk > 0:  # BiLevelRoutingAttention: QKVLinear + wo + lepe
                linear(p + "attn.qkv.qkv", c, 3 * c)
                linear(p + "attn.wo", c, c)
            else:  # AttentionLePE
                linear(p + "attn.qkv", c, 3 * c, bias=False)
                linear(p + "attn.proj", c, c)
            conv(p + "attn.lepe", c, c, 5, groups=c)
            norm(p + "norm2", c)
            linear(p + "mlp.0", c, 3 * c)
            linear(p + "mlp.3", 3 * c, c)
    norm("norm", dims[-1], batch=True)
    linear("head", dims[-1], num_classes)
    return sd


# --- the official forward, written out naively ------------------------------------------------------
def _bn(sd, name, x):
    return F.batch_norm(x, sd[f"{name}.running_mean"], sd[f"{name}.running_var"], sd[f"{name}.weight"], sd[f"{name}.bias"])


def _ln(sd, name, x):
    return F.layer_norm(x, x.shape[-1:], sd[f"{name}.weight"], sd[f"{name}.bias"], eps=1e-6)


def _lin(sd, name, x):
    return F.linear(x, sd[f"{name}.weight"], sd.get(f"{name}.bias"))


def _dw(sd, name, x, padding):
    return F.conv2d(x, sd[f"{name}.weight"], sd[f"{name}.bias"], padding=padding, groups=x.shape[1])


def naive_bra(sd, p, x, topk, n_win=7, head_dim=32):
    """Legacy BRA with auto_pad on NHWC x: pad, project, route regions by mean q/k, attend per query region."""
    b, h, w, c = x.shape
    heads, scale = c // head_dim, c**-0.5
    hp, wp = math.ceil(h / n_win) * n_win, math.ceil(w / n_win) * n_win
    x = F.pad(x, (0, 0, 0, wp - w, 0, hp - h))
    q, k, v = _lin(sd, p + "qkv.qkv", x).split(c, dim=-1)
    rh, rw = hp // n_win, wp // n_win
    regions = [(i * rh, j * rw) for i in range(n_win) for j in range(n_win)]

    def tokens(t, r):  # the tokens of region r, raster order: (B, rh * rw, C)
        return t[:, r[0]: r[0] + rh, r[1]: r[1] + rw].reshape(b, rh * rw, -1)

    q_r = torch.stack([tokens(q, r).mean(1) for r in regions], 1)
    k_r = torch.stack([tokens(k, r).mean(1) for r in regions], 1)
    routed = ((q_r * scale) @ k_r.transpose(1, 2)).topk(topk, dim=-1).indices  # B, R, topk
    out = torch.zeros_like(v)
    for bi in range(b):
        for ri, r in enumerate(regions):
            keys = torch.cat([tokens(k, regions[s])[bi] for s in routed[bi, ri].tolist()])
            values = torch.cat([tokens(v, regions[s])[bi] for s in routed[bi, ri].tolist()])
            qh = tokens(q, r)[bi].view(-1, heads, head_dim).transpose(0, 1)
            kh = keys.view(-1, heads, head_dim).transpose(0, 1)
            vh = values.view(-1, heads, head_dim).transpose(0, 1)
            o = torch.softmax((qh * scale) @ kh.transpose(1, 2), dim=-1) @ vh
            out[bi, r[0]: r[0] + rh, r[1]: r[1] + rw] = o.transpose(0, 1).reshape(rh, rw, c)
    out = out + _dw(sd, p + "lepe", v.permute(0, 3, 1, 2), 2).permute(0, 2, 3, 1)
    return _lin(sd, p + "wo", out[:, :h, :w])


def naive_attention_lepe(sd, p, x, heads=8):
    b, h, w, c = x.shape
    t = x.reshape(b, h * w, c)
    q, k, v = _lin(sd, p + "qkv", t).view(b, h * w, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    o = torch.softmax(q @ k.transpose(-2, -1) * (c // heads) ** -0.5, dim=-1) @ v
    lepe = _dw(sd, p + "lepe", x.permute(0, 3, 1, 2), 2).flatten(2).transpose(1, 2)
    return _lin(sd, p + "proj", o.transpose(1, 2).reshape(b, h * w, c) + lepe).view(b, h, w, c)


def _down(sd, name, x):
    return F.conv2d(x, sd[f"{name}.weight"], sd[f"{name}.bias"], stride=2, padding=1)


def naive_biformer(sd, x, depths):
    x = F.gelu(_bn(sd, "downsample_layers.0.1", _down(sd, "downsample_layers.0.0", x)))
    x = _bn(sd, "downsample_layers.0.4", _down(sd, "downsample_layers.0.3", x))
    for i, depth in enumerate(depths):
        if i:
            x = _bn(sd, f"downsample_layers.{i}.1", _down(sd, f"downsample_layers.{i}.0", x))
        for j in range(depth):
            p = f"stages.{i}.{j}."
            x = x + _dw(sd, p + "pos_embed", x, 1)
            t = x.permute(0, 2, 3, 1)
            y = _ln(sd, p + "norm1", t)
            t = t + (naive_bra(sd, p + "attn.", y, TOPKS[i]) if TOPKS[i] > 0 else naive_attention_lepe(sd, p + "attn.", y))
            t = t + _lin(sd, p + "mlp.3", F.gelu(_lin(sd, p + "mlp.0", _ln(sd, p + "norm2", t))))
            x = t.permute(0, 3, 1, 2)
    return _lin(sd, "head", _bn(sd, "norm", x).mean((2, 3)))


# --- tests ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "depths,size",
    [(TINY["depths"], (1, 224, 224)), ((1, 1, 2, 1), (2, 45, 70))],  # official size; odd size (every stage padded)
    ids=["tiny-224", "odd-45x70"],
)
def test_official_checkpoint_matches_naive_official_forward(depths, size, tmp_path):
    sd = official_state_dict(depths, TINY["dims"])
    path = tmp_path / "biformer.pth"
    torch.save({"model": sd, "epoch": 300}, path)
    model = vz.create_model("biformer_tiny", depths=depths, checkpoint_path=path).eval()
    x = torch.randn(size[0], 3, *size[1:])
    with torch.no_grad():
        expected = naive_biformer(sd, x, depths)
        got = model(x)
    assert max_rel_diff(got, expected) <= 1e-4


def test_converter_is_near_identity():
    model = vz.create_model("biformer_tiny", depths=(1, 1, 1, 1))
    sd = official_state_dict((1, 1, 1, 1), TINY["dims"])
    converted = convert_state_dict(model, sd)
    renamed = {k for k in sd if k not in converted}
    assert renamed == {k for k in sd if ".qkv.qkv." in k or ".mlp.0." in k or ".mlp.3." in k}
    assert set(converted) == set(model.state_dict())
    assert convert_state_dict(model, model.state_dict()).keys() == model.state_dict().keys()  # ours: unchanged


@pytest.mark.parametrize("other,listed", [(SMALL, "unexpected keys in the checkpoint: stages.0.2."), (BASE, "shape mismatches")])
def test_other_variant_checkpoint_is_rejected_with_keys(other, listed):
    model = vz.create_model("biformer_tiny")
    converted = convert_state_dict(model, official_state_dict(other["depths"], other["dims"], random=False))
    with pytest.raises(CheckpointError, match="does not fit biformer_tiny") as err:
        load_state_dict_strict(model, converted, source="biformer_other.pth")
    assert listed in str(err.value)


def test_official_configs():
    expected = {"biformer_tiny": (TINY, 13.14), "biformer_small": (SMALL, 25.5), "biformer_base": (BASE, 56.8)}
    for name, (cfg, params_m) in expected.items():
        with torch.device("meta"):
            model = vz.create_model(name)
        assert abs(sum(p.numel() for p in model.parameters()) / 1e6 - params_m) < 0.06, name
        assert [len(s) for s in model.stages] == list(cfg["depths"])
        assert [f["num_chs"] for f in model.feature_info] == list(cfg["dims"])
        block = model.stages[0][0]
        assert isinstance(block.attn, BiLevelRoutingAttention) and block.norm1.eps == 1e-6
        assert [s[0].attn.topk for s in model.stages[:3]] == [1, 4, 16]
        assert [s[0].attn.num_heads for s in model.stages] == [d // 32 for d in cfg["dims"][:3]] + [8]
        assert isinstance(model.stages[3][0].attn, LePESelfAttention)
        assert block.mlp.fc1.out_features == 3 * cfg["dims"][0]
        assert isinstance(model.norm, torch.nn.BatchNorm2d)


def _small_model(**kwargs):
    return vz.create_model("biformer_tiny", depths=(1, 1, 1, 1), num_classes=10, **kwargs).eval()


@pytest.mark.parametrize("size", [(1, 1), (31, 17), (100, 64)])
def test_any_input_size(size):
    model = _small_model()
    with torch.no_grad():
        out, feats = model.forward_intermediates(torch.randn(2, 3, *size))
    assert out.shape == (2, 512, *[math.ceil(s / 32) for s in size])
    assert [tuple(f.shape[2:]) for f in feats] == [tuple(math.ceil(s / 2**i) for s in size) for i in (2, 3, 4, 5)]


def test_forward_intermediates_and_features_only():
    model = _small_model()
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        final, feats = model.forward_intermediates(x)
        torch.testing.assert_close(final, model.forward_features(x))
        assert [f.shape[1] for f in feats] == [64, 128, 256, 512] and all(f.is_contiguous() for f in feats)
        torch.testing.assert_close(model.forward_intermediates(x, indices=1, norm=True, intermediates_only=True)[0], final)
        early = model.forward_intermediates(x, indices=[0, 1], stop_early=True, intermediates_only=True)
        torch.testing.assert_close(early[1], feats[1])
        features = vz.create_model("biformer_tiny", depths=(1, 1, 1, 1), features_only=True, out_indices=(1, 2)).eval()
        features.model.load_state_dict(model.state_dict(), strict=False)
        maps = features(x)
    assert [m.shape[1] for m in maps] == [128, 256] and len(features.model.stages) == 3
    torch.testing.assert_close(maps[1], feats[2])


def test_timm_interface():
    model = _small_model()
    cfg = model.pretrained_cfg
    assert cfg["first_conv"] == "downsample_layers.0.0" and cfg["classifier"] == "head" and cfg["input_size"] == (3, 224, 224)
    assert model.get_classifier() is model.head
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        feats = model.forward_features(x)
        assert feats.shape == (2, 512, 2, 2)
        assert model.forward_head(feats, pre_logits=True).shape == (2, 512)
        torch.testing.assert_close(model(x), model.head(feats.mean((2, 3))))
        model.reset_classifier(5)
        assert model(x).shape == (2, 5)
        model.reset_classifier(0, "")
        assert model(x).shape == (2, 512, 2, 2)
    with pytest.raises(ValueError, match="global_pool must be one of"):
        model.reset_classifier(3, "max")
    with pytest.raises(ValueError, match="expected 3 input channels"):
        model(torch.randn(1, 4, 32, 32))


def test_grad_checkpointing_is_exact():
    model = _small_model().train()
    x = torch.randn(2, 3, 32, 32)
    torch.manual_seed(1)
    model(x).sum().backward()
    reference = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    model.set_grad_checkpointing(True)
    torch.manual_seed(1)
    model(x).sum().backward()
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, reference[n], msg=n)


def test_attention_is_swappable():
    model = vz.create_model("biformer_tiny", depths=(1, 1, 1, 1), attn="softmax")
    assert all(type(s[0].attn) is SelfAttention for s in model.stages)
    mixed = vz.create_model("biformer_tiny", depths=(1, 1, 1, 1), attn=dict(type="bilevel_routing", topk=2), attn_stages="SSAS")
    assert mixed.stages[2][0].attn.topk == 2 and mixed.stages[1][0].attn.topk == 4
    assert isinstance(mixed.stages[3][0].attn, LePESelfAttention)
    with torch.no_grad():
        assert model(torch.randn(1, 3, 48, 48)).shape == (1, 1000)
    with pytest.raises(ValueError, match="topks entries"):
        BiFormer(topks=(1, 4, 0, -2))
