"""Agent-attention backbones: official-layout checkpoints convert strictly and reproduce an independent official forward."""
import pytest
import torch

import visionzoo as vz
from visionzoo.backbones.agent import agent_stage_configs

from . import leaplab_reference as ref

SWIN_TINY = dict(embed_dim=16, depths=(2, 2, 4, 2), num_heads=(1, 2, 2, 4), window_size=4, img_size=128)
PVT_TINY = dict(embed_dims=(16, 32, 32, 64), num_heads=(1, 2, 2, 4), depths=(1, 2, 1, 1), img_size=64)


def _load_official(name, state, tmp_path, **kwargs):
    path = tmp_path / "official.pth"
    torch.save({"model": state}, path)
    return vz.create_model(name, checkpoint_path=str(path), **kwargs).eval()


def test_agent_deit_matches_official_forward(tmp_path):
    P = ref.OfficialWeights(seed=3)
    x = torch.randn(2, 3, 112, 112)
    with torch.no_grad():  # DeiT-B pattern: agent attention (81 agents) in the first 4 of 6 blocks
        expected = ref.deit(P, x, 48, 6, 3, agent_blocks=4, agent_num=81)
    model = _load_official("agent_deit_base", P.state, tmp_path, embed_dim=48, num_heads=3, depth=6, img_size=112)
    with torch.no_grad():
        assert ref.relative_error(model(x), expected) <= 1e-5  # project bar 1e-4
        y = model(torch.randn(1, 3, 80, 144))  # other sizes: pos embed and agent biases resampled
    assert y.shape == (1, 1000) and torch.isfinite(y).all()


def test_agent_swin_matches_official_forward(tmp_path):
    P = ref.OfficialWeights(seed=4)
    x = torch.randn(2, 3, 128, 128)
    with torch.no_grad():  # AAMB2: stages 1-2 agent, stage 3 agent in its first 2 blocks, then window attention
        expected = ref.swin(P, x, 16, (2, 2, 4, 2), (1, 2, 2, 4), ["AA", "AA", "AABB", "BB"], window=4)
    model = _load_official("agent_swin_base", P.state, tmp_path, **SWIN_TINY)
    with torch.no_grad():
        assert ref.relative_error(model(x), expected) <= 1e-5  # project bar 1e-4
        y = model(torch.randn(1, 3, 96, 160))
    assert y.shape == (1, 1000) and torch.isfinite(y).all()


def test_agent_pvt_matches_official_forward(tmp_path):
    P = ref.OfficialWeights(seed=5)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = ref.pvt(P, x, (16, 32, 32, 64), (1, 2, 1, 1), (1, 2, 2, 4), (8, 8, 4, 4), "A", v2=False)
    model = _load_official("agent_pvt_tiny", P.state, tmp_path, **PVT_TINY)
    with torch.no_grad():
        assert ref.relative_error(model(x), expected) <= 1e-5  # project bar 1e-4
        y = model(torch.randn(1, 3, 48, 80))
    assert y.shape == (1, 1000) and torch.isfinite(y).all()


def test_official_configurations():
    assert agent_stage_configs("AAMB2", (2, 2, 4, 2))[2] == [dict(type="agent", agent_num=49)] * 2 + [None, None]
    swin = vz.create_model("agent_swin_tiny")
    kinds = [type(stage.blocks[0].attn).__name__ for stage in swin.layers]
    assert kinds == ["AgentAttention"] * 3 + ["WindowAttention"]
    assert [stage.blocks[0].attn.agent_num for stage in swin.layers[:3]] == [9, 16, 49]
    assert swin.layers[0].blocks[1].attn.ah_bias.shape == (1, 3, 9, 56, 1)
    deit = vz.create_model("agent_deit_tiny")
    assert deit.blocks[11].attn.ac_bias.shape == (1, 3, 49, 1)
    assert abs(sum(p.numel() for p in deit.parameters()) / 1e6 - 6.0) < 0.05  # README: 6.0 M
    with pytest.raises(ValueError, match="M<k>"):
        agent_stage_configs("AAXB", (2, 2, 2, 2))


def test_pluggable_into_vit_and_errors():
    m = vz.create_model("vit_small_patch16_224", attn=dict(type="agent", agent_num=49), depth=2).eval()
    assert type(m.blocks[0].attn).__name__ == "AgentAttention" and m.blocks[0].attn.num_prefix_tokens == 1
    with torch.no_grad():
        assert m(torch.randn(1, 3, 96, 128)).shape == (1, 1000)
    no_cls = vz.create_model("vit_small_patch16_224", attn=dict(type="agent", agent_num=16), depth=1, class_token=False, global_pool="avg")
    assert not hasattr(no_cls.blocks[0].attn, "ac_bias")
    with pytest.raises(ValueError, match="perfect square"):
        vz.create_model("vit_small_patch16_224", attn=dict(type="agent", agent_num=50), depth=1)
    with pytest.raises(ValueError, match="prefix"):
        vz.create_model("vit_small_patch16_224", attn=dict(type="window"), depth=1)


def test_wrong_variant_checkpoint_lists_keys(tmp_path):
    P = ref.OfficialWeights(seed=5)
    with torch.no_grad():
        ref.pvt(P, torch.randn(1, 3, 64, 64), (16, 32, 32, 64), (1, 2, 1, 1), (1, 2, 2, 4), (8, 8, 4, 4), "A", v2=False)
    with pytest.raises(Exception, match="stages.1.blocks.1"):
        _load_official("agent_pvt_small", P.state, tmp_path, **{**PVT_TINY, "depths": (1, 1, 1, 1)})
