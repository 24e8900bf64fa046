"""PVT v1 / PVTv2: parity with timm's pvt_v2, the official whai362 layouts against independent references,
wrong-variant checkpoints, odd sizes, the timm model interface and pluggable token mixers."""
import math
import re

import pytest
import torch
import torch.nn.functional as F

import visionzoo as vz
from visionzoo.layers.attention import SelfAttention, SpatialReductionAttention
from visionzoo.weights import CheckpointError

from ..conftest import max_rel_diff, randomize_
from .timm_parity import assert_grad_checkpointing_is_exact, assert_train_step_matches, max_abs_diff, timm_and_ours

SMALL_V2 = dict(embed_dims=(16, 32, 48, 64), num_heads=(1, 2, 3, 4), depths=(1, 2, 1, 1))
SMALL_V1 = dict(embed_dims=(16, 32, 48, 64), num_heads=(1, 2, 3, 4), depths=(1, 2, 1, 1), mlp_ratios=(2, 2, 2, 2))


def test_pvt_v2_b0_full_size_matches_timm_at_224_and_other_sizes():
    ref, ours = timm_and_ours("pvt_v2_b0")
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())
    assert ours.state_dict().keys() == ref.state_dict().keys()  # timm's names, unchanged
    for size in [(224, 224), (256, 320)]:
        assert max_abs_diff(ref, ours, torch.randn(1, 3, *size)) <= 1e-4


@pytest.mark.parametrize("name", ["pvt_v2_b2", "pvt_v2_b2_li", "pvt_v2_b5"])
@pytest.mark.parametrize("size", [(224, 224), (200, 296)])
def test_pvt_v2_variants_match_timm_small(name, size):
    """Variant-specific options (linear SRA + ReLU, mlp ratios) with small widths; odd sizes included."""
    ref, ours = timm_and_ours(name, timm_kwargs=SMALL_V2, ours_kwargs=SMALL_V2)
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        assert max_rel_diff(ours(x), ref(x)) <= 1e-4


def test_pvt_v2_variant_configs_match_timm(monkeypatch):
    import timm
    import timm.models.pvt_v2

    monkeypatch.setattr(timm.models.pvt_v2.PyramidVisionTransformerV2, "_init_weights", lambda self, m: None)  # shapes only
    for name in vz.list_models("pvt_v2_*"):
        with torch.device("meta"):
            ref, ours = timm.create_model(name), vz.create_model(name)
        assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()}, name


def test_pvt_v2_train_step_and_intermediates_match_timm():
    ref, ours = timm_and_ours("pvt_v2_b1", timm_kwargs=SMALL_V2, ours_kwargs=SMALL_V2)
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        final_ref, inter_ref = ref.forward_intermediates(x)
        final, inter = ours.forward_intermediates(x)
    torch.testing.assert_close(final, final_ref, atol=1e-5, rtol=1e-5)
    assert [t.shape[1:] for t in inter] == [(16, 24, 32), (32, 12, 16), (48, 6, 8), (64, 3, 4)]
    for a, b in zip(inter, inter_ref):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert_train_step_matches(ref, ours, torch.randn(2, 3, 64, 64), torch.tensor([1, 5]))


# --- official whai362/PVT layouts -----------------------------------------------------------------
def _official_v2_keys(timm_key: str) -> str:
    """timm pvt_v2 name -> whai362 classification/pvt_v2.py name (written independently of the converter)."""
    if timm_key.startswith("patch_embed."):
        return timm_key.replace("patch_embed.", "patch_embed1.")
    m = re.match(r"stages\.(\d)\.(downsample|blocks|norm)\.(.*)", timm_key)
    if not m:
        return timm_key
    stage, part, rest = int(m.group(1)) + 1, m.group(2), m.group(3)
    if part == "downsample":
        return f"patch_embed{stage}.{rest}"
    if part == "norm":
        return f"norm{stage}.{rest}"
    return f"block{stage}.{rest}".replace(".mlp.dwconv.", ".mlp.dwconv.dwconv.")


def test_official_pvt_v2_release_layout_loads_exactly(tmp_path):
    ref, _ = timm_and_ours("pvt_v2_b2_li", timm_kwargs=SMALL_V2, ours_kwargs=SMALL_V2)
    path = tmp_path / "pvt_v2_b2_li.pth"
    torch.save({"model": {_official_v2_keys(k): v for k, v in ref.state_dict().items()}}, path)
    ours = vz.create_model("pvt_v2_b2_li", checkpoint_path=str(path), **SMALL_V2).eval()
    x = torch.randn(1, 3, 128, 160)
    with torch.no_grad():
        assert max_rel_diff(ours(x), ref(x)) <= 1e-4


def _official_v1_state(cfg, num_classes=10, img=224, seed=0):
    """Seeded random tensors under the names and shapes of whai362 classification/pvt.py."""
    gen = torch.Generator().manual_seed(seed)
    dims, depths, ratios = cfg["embed_dims"], cfg["depths"], cfg["mlp_ratios"]
    shapes, grid, prev = {}, img // 4, 3
    for i in range(4):
        s, c, p = i + 1, dims[i], 4 if i == 0 else 2
        grid = img // 4 // 2**i
        shapes[f"patch_embed{s}.proj.weight"] = (c, prev, p, p)
        for n in ("patch_embed{}.proj.bias", "patch_embed{}.norm.weight", "patch_embed{}.norm.bias"):
            shapes[n.format(s)] = (c,)
        shapes[f"pos_embed{s}"] = (1, grid * grid + (i == 3), c)
        sr = (8, 4, 2, 1)[i]
        for j in range(depths[i]):
            b, hidden = f"block{s}.{j}.", int(c * ratios[i])
            layers = {"norm1": None, "attn.q": (c, c), "attn.kv": (2 * c, c), "attn.proj": (c, c), "norm2": None,
                      "mlp.fc1": (hidden, c), "mlp.fc2": (c, hidden)}  # None: a LayerNorm of width c
            if sr > 1:
                layers.update({"attn.sr": (c, c, sr, sr), "attn.norm": None})
            for name, w in layers.items():
                shapes[f"{b}{name}.weight"] = w or (c,)
                shapes[f"{b}{name}.bias"] = (w[0],) if w else (c,)
        prev = c
    shapes.update({"norm.weight": (dims[3],), "norm.bias": (dims[3],), "cls_token": (1, 1, dims[3]),
                   "head.weight": (num_classes, dims[3]), "head.bias": (num_classes,)})
    state = {}
    for k, shape in shapes.items():
        t = torch.randn(shape, generator=gen)
        scale = 0.5 / math.sqrt(shape[-1]) if len(shape) > 1 else 0.1
        state[k] = 1 + 0.1 * t if re.search(r"norm\d?\.weight$", k) else t * scale
    return state


def official_pvt_v1_forward(sd, x, cfg, img=224):
    """PVT v1 forward written from the paper/official code on a raw official state dict (bilinear pos-embed resize)."""
    b = x.shape[0]
    heads, depths = cfg["num_heads"], cfg["depths"]

    def ln(t, name, eps):
        return F.layer_norm(t, t.shape[-1:], sd[name + ".weight"], sd[name + ".bias"], eps)

    def lin(t, name):
        return F.linear(t, sd[name + ".weight"], sd[name + ".bias"])

    for i in range(4):
        s = i + 1
        p = 4 if i == 0 else 2
        x = F.conv2d(x, sd[f"patch_embed{s}.proj.weight"], sd[f"patch_embed{s}.proj.bias"], stride=p)
        h, w = x.shape[2:]
        x = ln(x.flatten(2).transpose(1, 2), f"patch_embed{s}.norm", 1e-5)
        c = x.shape[-1]
        pos = sd[f"pos_embed{s}"]
        cls = pos[:, :1] if i == 3 else pos[:, :0]
        pos = pos[:, cls.shape[1]:]
        g = img // 4 // 2**i
        if (h, w) != (g, g):
            pos = F.interpolate(pos.reshape(1, g, g, c).permute(0, 3, 1, 2), size=(h, w), mode="bilinear")
            pos = pos.flatten(2).transpose(1, 2)
        if i == 3:
            x = torch.cat([sd["cls_token"].expand(b, -1, -1), x], dim=1)
        x = x + torch.cat([cls, pos], dim=1)
        for j in range(depths[i]):
            pre = f"block{s}.{j}."
            y = ln(x, pre + "norm1", 1e-6)
            src = y
            if pre + "attn.sr.weight" in sd:
                weight, bias = sd[pre + "attn.sr.weight"], sd[pre + "attn.sr.bias"]
                g2 = F.conv2d(y.transpose(1, 2).reshape(b, c, h, w), weight, bias, stride=weight.shape[-1])
                src = ln(g2.flatten(2).transpose(1, 2), pre + "attn.norm", 1e-5)
            nh = heads[i]
            q = lin(y, pre + "attn.q").reshape(b, -1, nh, c // nh).transpose(1, 2)
            k, v = lin(src, pre + "attn.kv").reshape(b, -1, 2, nh, c // nh).permute(2, 0, 3, 1, 4)
            a = torch.softmax(q @ k.transpose(-2, -1) * (c // nh) ** -0.5, dim=-1)
            x = x + lin((a @ v).transpose(1, 2).reshape(b, -1, c), pre + "attn.proj")
            x = x + lin(F.gelu(lin(ln(x, pre + "norm2", 1e-6), pre + "mlp.fc1")), pre + "mlp.fc2")
        if i < 3:
            x = x.transpose(1, 2).reshape(b, c, h, w)
    return lin(ln(x, "norm", 1e-6)[:, 0], "head")


@pytest.mark.parametrize("size", [(224, 224), (160, 288)])
def test_official_pvt_v1_release_layout_loads_exactly(tmp_path, size):
    sd = _official_v1_state(SMALL_V1)
    path = tmp_path / "pvt_tiny.pth"
    torch.save({"model": sd}, path)
    ours = vz.create_model("pvt_tiny", checkpoint_path=str(path), num_classes=10, **SMALL_V1).eval()
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        assert max_rel_diff(ours(x), official_pvt_v1_forward(sd, x, SMALL_V1)) <= 1e-4


def test_wrong_pvt_variant_is_rejected_with_keys(tmp_path):
    path = tmp_path / "v1.pth"
    torch.save({"model": _official_v1_state(SMALL_V1)}, path)
    with pytest.raises(ValueError, match=r"PVT v1.*pos_embed1.*pvt_tiny"):
        vz.create_model("pvt_v2_b0", checkpoint_path=str(path))
    ref, _ = timm_and_ours("pvt_v2_b1", timm_kwargs=SMALL_V2, ours_kwargs=SMALL_V2)
    torch.save({"model": {_official_v2_keys(k): v for k, v in ref.state_dict().items()}}, path)
    with pytest.raises(ValueError, match=r"PVTv2.*norm1.*pvt_v2_b"):
        vz.create_model("pvt_small", checkpoint_path=str(path))
    with pytest.raises(CheckpointError, match=r"shape mismatches: .*stages\.0\.blocks\.0\.attn\.q\.weight"):
        vz.create_model("pvt_v2_b0", checkpoint_path=str(path))  # b1-sized tensors for a b0


# --- interface, sizes, pluggable attention --------------------------------------------------------
def test_pvt_v1_interface_and_odd_sizes():
    model = vz.create_model("pvt_tiny", num_classes=4, **SMALL_V1).eval()
    x = torch.randn(2, 3, 224, 224)
    feats = model.forward_features(x)
    assert feats.shape == (2, 1 + 49, 64)
    assert model.forward_head(feats, pre_logits=True).shape == (2, 64)
    assert model(torch.randn(1, 3, 100, 37)).shape == (1, 4)  # padded to whole patches, pos embeds resampled
    assert model.no_weight_decay() == {f"stages.{i}.pos_embed" for i in range(4)} | {"stages.3.cls_token"}
    final, inter = model.forward_intermediates(torch.randn(1, 3, 96, 64))
    assert [t.shape[1:] for t in inter] == [(16, 24, 16), (32, 12, 8), (48, 6, 4), (64, 3, 2)]
    assert final.shape == (1, 7, 64)
    model.reset_classifier(0)
    assert model(x).shape == (2, 64)
    with pytest.raises(ValueError, match="class_token=True"):
        vz.create_model("pvt_tiny", class_token=False)
    avg = vz.create_model("pvt_tiny", class_token=False, global_pool="avg", **SMALL_V1)
    assert avg(x).shape == (2, 1000) and "stages.3.cls_token" not in avg.state_dict()


def test_pvt_features_only_and_pruning():
    model = vz.create_model("pvt_v2_b0", features_only=True, out_indices=(1, 2))
    maps = model(torch.randn(1, 3, 160, 96))
    assert [m.shape for m in maps] == [(1, 64, 20, 12), (1, 160, 10, 6)]
    assert model.feature_info.reduction() == [8, 16] and len(model.model.stages) == 3


def test_pvt_attention_is_pluggable_per_stage():
    model = vz.create_model("pvt_tiny", attn="softmax", attn_stages="SSAA", **SMALL_V1)
    mixers = [s.blocks[0].attn for s in model.stages]
    assert [type(m) for m in mixers] == [SpatialReductionAttention] * 2 + [SelfAttention] * 2
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1000)
    li = vz.create_model("pvt_v2_b0", attn=[None, None, dict(type="spatial_reduction", linear=True), None])
    assert li.stages[2].blocks[0].attn.linear and not li.stages[1].blocks[0].attn.linear
    assert mixers[1].sr_ratio == 4
    windowed = vz.create_model("pvt_v2_b0", attn=dict(type="window", window_size=7), attn_stages="AASS")
    assert windowed(torch.randn(1, 3, 100, 120)).shape == (1, 1000)
    with pytest.raises(ValueError, match="prefix \\(class\\) tokens"):
        vz.create_model("pvt_tiny", attn="window")  # the class-token stage cannot be windowed


def test_pvt_registered_weights():
    tags = vz.list_pretrained("pvt*")
    assert "pvt_v2_b0.in1k" in tags and "pvt_tiny.in1k" in tags and len(tags) == 11
    cfg = vz.registry.get_pretrained_cfg("pvt_v2_b2_li")
    assert cfg["hf_hub_id"] == "timm/pvt_v2_b2_li.in1k" and cfg["metrics"]["imagenet_top1"] == 82.1


def test_pvt_grad_checkpointing_gives_same_gradients():
    model = randomize_(vz.create_model("pvt_tiny", **SMALL_V1))
    assert_grad_checkpointing_is_exact(model, torch.randn(1, 3, 64, 64))


def test_pvt_v2_mlp_inference_chunks_equal_the_single_pass():
    from visionzoo.backbones.pvt import MlpWithDepthwiseConv

    mlp = randomize_(MlpWithDepthwiseConv(32, 256)).eval()
    x = torch.randn(5, 64 * 66, 32)  # hidden 5 x 4224 x 256 x 4 B = 21.6 MB: split into single images
    with torch.no_grad():
        torch.testing.assert_close(mlp(x, (64, 66)), mlp._forward(x, (64, 66)), atol=1e-6, rtol=1e-5)
