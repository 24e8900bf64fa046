"""Twins-PCPVT / -SVT: parity with timm (full-size S variants, small overrides at other sizes), the official
Meituan-AutoML layout, wrong-variant checkpoints, odd sizes and the timm model interface."""
import pytest
import torch
import torch.nn.functional as F

import visionzoo as vz
from visionzoo.layers import PositionEncodingGenerator
from visionzoo.layers.attention import LocallyGroupedAttention, SpatialReductionAttention
from visionzoo.weights.converters import convert_state_dict

from ..conftest import max_rel_diff
from .timm_parity import max_abs_diff, timm_and_ours

SMALL = dict(embed_dims=(16, 32, 48, 64), num_heads=(1, 2, 3, 4), depths=(2, 2, 2, 2))


@pytest.mark.parametrize("name", ["twins_pcpvt_small", "twins_svt_small"])
def test_twins_full_size_matches_timm(name):
    ref, ours = timm_and_ours(name)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())
    assert max_abs_diff(ref, ours, torch.randn(1, 3, 224, 224)) <= 1e-4


@pytest.mark.parametrize("name", ["twins_pcpvt_base", "twins_svt_large"])
@pytest.mark.parametrize("size", [(224, 224), (256, 320), (192, 160)])
def test_twins_small_matches_timm_at_other_sizes(name, size):
    """256x320 and 192x160 give LSA grids that need padding (timm pads the same way)."""
    ref, ours = timm_and_ours(name, timm_kwargs=dict(img_size=size, **SMALL), ours_kwargs=SMALL)
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        assert max_rel_diff(ours(x), ref(x)) <= 1e-4


def test_twins_variant_configs_match_timm(monkeypatch):
    import timm
    import timm.models.twins

    monkeypatch.setattr(timm.models.twins.Twins, "_init_weights", lambda self, m: None)  # shapes only
    for name in vz.list_models("twins_*"):
        with torch.device("meta"):
            ref, ours = timm.create_model(name), vz.create_model(name)
        ref_shapes = sorted(tuple(v.shape) for v in ref.state_dict().values())
        assert sorted(tuple(v.shape) for v in ours.state_dict().values()) == ref_shapes, name


def test_twins_train_step_and_intermediates_match_timm():
    ref, ours = timm_and_ours("twins_svt_small", timm_kwargs=SMALL, ours_kwargs=SMALL)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        final_ref, inter_ref = ref.forward_intermediates(x, norm=True)
        final, inter = ours.forward_intermediates(x, norm=True)
    torch.testing.assert_close(final, final_ref, atol=1e-5, rtol=1e-5)
    assert [t.shape[1:] for t in inter] == [(16, 56, 56), (32, 28, 28), (48, 14, 14), (64, 7, 7)]
    for a, b in zip(inter, inter_ref):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    ref.train(), ours.train()
    x, y = torch.randn(2, 3, 64, 64), torch.tensor([1, 5])
    loss_ref, loss = F.cross_entropy(ref(x), y), F.cross_entropy(ours(x), y)
    loss_ref.backward(), loss.backward()
    assert abs(loss.item() - loss_ref.item()) <= 1e-4
    ref_grads = convert_state_dict(ours, {n: p.grad for n, p in ref.named_parameters()})  # timm names -> ours
    for name, p in ours.named_parameters():
        torch.testing.assert_close(p.grad, ref_grads[name], atol=1e-4, rtol=1e-3, msg=name)


def test_official_twins_release_layout_loads_exactly(tmp_path):
    """The official gvt.py names equal timm's: saved under the `model` key as the release files are."""
    ref, _ = timm_and_ours("twins_svt_base", timm_kwargs=SMALL, ours_kwargs=SMALL)
    state = ref.state_dict()
    assert "pos_block.0.proj.0.weight" in state and "blocks.0.0.attn.qkv.weight" in state
    path = tmp_path / "alt_gvt_base.pth"
    torch.save({"model": state, "epoch": 299}, path)
    ours = vz.create_model("twins_svt_base", checkpoint_path=str(path), **SMALL).eval()
    assert isinstance(ours.stages[1].blocks[0].attn, LocallyGroupedAttention)
    assert isinstance(ours.stages[1].blocks[1].attn, SpatialReductionAttention)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert max_rel_diff(ours(x), ref(x)) <= 1e-4


def test_wrong_twins_variant_is_rejected_with_keys(tmp_path):
    ref, _ = timm_and_ours("twins_svt_small", timm_kwargs=SMALL, ours_kwargs=SMALL)
    path = tmp_path / "alt_gvt_small.pth"
    torch.save({"model": ref.state_dict()}, path)
    with pytest.raises(ValueError, match=r"Twins-SVT.*blocks\.0\.attn\.qkv\.weight.*twins_svt_"):
        vz.create_model("twins_pcpvt_small", checkpoint_path=str(path), **SMALL)
    with pytest.raises(vz.weights.CheckpointError, match=r"shape mismatches: .*stages\.0\.blocks\.0\.attn\.qkv\.weight"):
        vz.create_model("twins_svt_small", checkpoint_path=str(path))  # full-width model, small checkpoint


def test_twins_interface_and_odd_sizes():
    model = vz.create_model("twins_svt_small", num_classes=3, **SMALL).eval()
    x = torch.randn(2, 3, 224, 224)
    feats = model.forward_features(x)
    assert feats.shape == (2, 49, 64) and model.forward_head(feats, pre_logits=True).shape == (2, 64)
    assert model(torch.randn(1, 3, 99, 45)).shape == (1, 3)
    assert all(isinstance(s.peg, PositionEncodingGenerator) for s in model.stages)
    assert model.no_weight_decay() == {f"stages.{i}.peg.proj.{p}" for i in range(4) for p in ("weight", "bias")}
    features = vz.create_model("twins_pcpvt_small", features_only=True, out_indices=(0, 2), **SMALL)
    assert [m.shape for m in features(torch.randn(1, 3, 64, 96))] == [(1, 16, 16, 24), (1, 48, 4, 6)]
    model.reset_classifier(0)
    assert model(x).shape == (2, 64)


def test_twins_registered_weights():
    tags = vz.list_pretrained("twins*")
    assert len(tags) == 6 and "twins_svt_large.in1k" in tags
    cfg = vz.registry.get_pretrained_cfg("twins_pcpvt_small")
    assert cfg["hf_hub_id"] == "timm/twins_pcpvt_small.in1k" and cfg["metrics"]["imagenet_top1"] == 81.2
