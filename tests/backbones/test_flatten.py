"""FLatten backbones: official-layout checkpoints convert strictly and reproduce an independent official forward."""
import pytest
import torch

import visionzoo as vz

from . import leaplab_reference as ref

SWIN_TINY = dict(embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4), window_size=4, img_size=128)
PVT_TINY = dict(embed_dims=(16, 32, 32, 64), num_heads=(1, 2, 2, 4), depths=(1, 2, 1, 1), img_size=64)


def _load_official(name, state, tmp_path, **kwargs):
    path = tmp_path / "official.pth"
    torch.save({"model": state, "epoch": 300}, path)  # the release layout: weights under "model"
    return vz.create_model(name, checkpoint_path=str(path), **kwargs).eval()


def test_flatten_swin_matches_official_forward(tmp_path):
    P = ref.OfficialWeights(seed=0)
    x = torch.randn(2, 3, 128, 128)
    with torch.no_grad():
        expected = ref.swin(P, x, 16, (2, 2, 2, 2), (1, 2, 2, 4), ["LL", "LL", "SS", "SS"], window=4)
    assert "layers.2.blocks.1.attn_mask" in P.state and "layers.0.downsample.reduction.weight" in P.state
    model = _load_official("flatten_swin_tiny", P.state, tmp_path, **SWIN_TINY)
    with torch.no_grad():
        assert ref.relative_error(model(x), expected) <= 1e-5  # project bar 1e-4
        y = model(torch.randn(1, 3, 96, 160))  # other sizes: positional encodings resampled
    assert y.shape == (1, 1000) and torch.isfinite(y).all()


@pytest.mark.parametrize("name, v2", [("flatten_pvt_tiny", False), ("flatten_pvt_v2_b0", True)])
def test_flatten_pvt_matches_official_forward(name, v2, tmp_path):
    P = ref.OfficialWeights(seed=1)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = ref.pvt(P, x, (16, 32, 32, 64), (1, 2, 1, 1), (1, 2, 2, 4), (8, 8, 4, 4), "L", v2, final_norm_unused=not v2)
    model = _load_official(name, P.state, tmp_path, **PVT_TINY)
    with torch.no_grad():
        assert ref.relative_error(model(x), expected) <= 1e-5  # project bar 1e-4
        y = model(torch.randn(1, 3, 48, 80))
    assert y.shape == (1, 1000) and torch.isfinite(y).all()


def test_official_configurations():
    m = vz.create_model("flatten_swin_tiny")
    kinds = [type(stage.blocks[0].attn).__name__ for stage in m.layers]
    assert kinds == ["FocusedLinearAttention", "FocusedLinearAttention", "WindowAttention", "WindowAttention"]
    assert m.layers[0].blocks[0].attn.positional_encoding.shape == (1, 56 * 56, 96)
    assert m.layers[1].blocks[1].attn.positional_encoding.shape == (1, 28 * 28, 192)
    assert m.layers[0].blocks[0].attn.dwc.weight.shape == (32, 1, 5, 5)  # one head_dim kernel shared by the heads
    assert m.layers[2].blocks[0].attn.window_size == (7, 7)
    pvt = vz.create_model("flatten_pvt_v2_b0")
    attn = pvt.stages[0].blocks[0].attn
    assert attn.positional_encoding.shape == (1, 3136, 32) and attn.sr_ratio == 1 and hasattr(attn, "kv")
    assert abs(sum(p.numel() for p in pvt.parameters()) / 1e6 - 3.59) < 0.01


def test_pluggable_into_swin_and_errors():
    m = vz.create_model("swin_tiny_patch4_window7_224", attn=dict(type="focused_linear"), attn_stages="LLSS", depths=(1, 1, 1, 1))
    assert type(m.layers[1].blocks[0].attn).__name__ == "FocusedLinearAttention"
    with torch.no_grad():
        assert m.eval()(torch.randn(1, 3, 100, 132)).shape == (1, 1000)
    with pytest.raises(ValueError, match="attn_stages"):
        vz.create_model("swin_tiny_patch4_window7_224", attn=dict(type="focused_linear"), attn_stages="LLS")
    per_stage = vz.create_model("swin_tiny_patch4_window7_224", window_size=(56, 28, 7, 7), depths=(1, 1, 1, 1))
    assert [s.blocks[0].attn.window_size for s in per_stage.layers] == [(56, 56), (28, 28), (7, 7), (7, 7)]
    with pytest.raises(ValueError, match="one entry per stage"):
        vz.create_model("swin_tiny_patch4_window7_224", window_size=(7, 7, 7), depths=(1, 1, 1, 1))


def test_wrong_variant_checkpoint_lists_keys(tmp_path):
    P = ref.OfficialWeights(seed=0)
    with torch.no_grad():
        ref.swin(P, torch.randn(1, 3, 128, 128), 16, (2, 2, 2, 2), (1, 2, 2, 4), ["LL", "LL", "SS", "SS"], window=4)
    with pytest.raises(Exception, match="layers.2.blocks.2"):
        _load_official("flatten_swin_small", P.state, tmp_path, **{**SWIN_TINY, "depths": (2, 2, 4, 2)})


def test_config_file_builds_the_same_model(tmp_path):
    """A config's model=dict(...) with attn/attn_stages goes through create_model like the call itself."""
    from mmengine.config import Config

    path = tmp_path / "fla_swin.py"
    path.write_text(
        "model = dict(name='swin_tiny_patch4_window7_224', attn=dict(type='focused_linear'), attn_stages='LLSS',\n"
        "             depths=(1, 1, 1, 1), num_classes=10)\n"
    )
    cfg = Config.fromfile(str(path))
    m = vz.create_model(**cfg.model)
    kinds = [type(stage.blocks[0].attn).__name__ for stage in m.layers]
    assert kinds == ["FocusedLinearAttention"] * 2 + ["WindowAttention"] * 2 and m.num_classes == 10
