"""The attention x backbone matrix: every registered token mixer in every transformer backbone, at tiny widths.

Each cell builds the backbone with ``attn=dict(type=...)`` in every block, runs forward and backward at the
reference size, forward at another (non-square) size, and round-trips the state dict into a second build
(identical outputs). Combinations that cannot exist are refused with a ValueError naming the option that
makes them work. Plus the builder contract itself: a mixer gets exactly the context fields it declares.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import visionzoo as vz
from visionzoo.layers import ATTENTION_TYPES, AttentionContext, build_attention, register_attention
from visionzoo.layers.attention import attention_stage_mask, stage_attention_configs

TYPES = sorted(ATTENTION_TYPES)
TYPES_3D = sorted(name for name, entry in ATTENTION_TYPES.items() if 3 in entry.spatial_dims)
PURE_GRID = sorted(name for name, entry in ATTENTION_TYPES.items() if not entry.prefix_tokens)

SIZE = 64
_PYRAMID = dict(embed_dims=(16, 32, 32, 64), depths=(1, 1, 1, 1), num_heads=(1, 2, 2, 4))
# tiny 2D backbones: (registered name, overrides); class tokens off where the family has one (ViTDet-style)
BACKBONES = {
    "vit": ("vit_tiny_patch16_224", dict(embed_dim=32, depth=2, num_heads=2, class_token=False, global_pool="avg")),
    "swin": ("swin_tiny_patch4_window7_224", dict(embed_dim=16, depths=(1, 2, 1, 1), num_heads=(1, 2, 2, 4))),
    "pvt": ("pvt_tiny", dict(**_PYRAMID, class_token=False, global_pool="avg")),
    "pvt_v2": ("pvt_v2_b0", _PYRAMID),
    "twins": ("twins_svt_small", dict(_PYRAMID, depths=(2, 2, 2, 2))),
    "biformer": ("biformer_tiny", dict(embed_dims=(16, 32, 32, 64), depths=(1, 1, 1, 1), head_dim=8)),
}
# the same with their class token: mixers that handle prefix tokens run, pure-grid mixers are refused
CLASS_TOKEN = {
    "vit_cls": ("vit_tiny_patch16_224", dict(embed_dim=32, depth=2, num_heads=2)),
    "pvt_cls": ("pvt_tiny", _PYRAMID),
}


def _build(name: str, overrides: dict, attn, seed: int, **extra) -> nn.Module:
    torch.manual_seed(seed)
    return vz.create_model(name, img_size=SIZE, num_classes=3, attn=attn, **overrides, **extra)


def _check_cell(name: str, overrides: dict, attn, x: torch.Tensor, other: torch.Tensor | None = None, **extra) -> None:
    model = _build(name, overrides, attn, seed=0, **extra)
    model(x).square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads), "every parameter gets a finite gradient"
    twin = _build(name, overrides, attn, seed=1, **extra)
    twin.load_state_dict(model.state_dict())  # strict: same keys, same shapes
    model.eval(), twin.eval()
    with torch.no_grad():
        out = model(x)
        assert torch.isfinite(out).all()
        assert torch.equal(out, twin(x)), "a state-dict round trip reproduces the outputs"
        if other is not None:
            assert model(other).shape[0] == other.shape[0]


def _cells(backbones: dict, types: list[str]) -> list:
    return [pytest.param(bb, t, id=f"{bb}-{t}") for bb in backbones for t in types]


@pytest.mark.parametrize("backbone, attn_type", _cells(BACKBONES, TYPES))
def test_every_mixer_in_every_2d_backbone(backbone, attn_type):
    name, overrides = BACKBONES[backbone]
    x = torch.randn(2, 3, SIZE, SIZE)
    _check_cell(name, overrides, dict(type=attn_type), x, other=torch.randn(1, 3, 48, 80))


@pytest.mark.parametrize("backbone, attn_type", _cells(CLASS_TOKEN, sorted(set(TYPES) - set(PURE_GRID))))
def test_prefix_token_mixers_with_a_class_token(backbone, attn_type):
    name, overrides = CLASS_TOKEN[backbone]
    _check_cell(name, overrides, dict(type=attn_type), torch.randn(2, 3, SIZE, SIZE))


@pytest.mark.parametrize("backbone, attn_type", _cells(CLASS_TOKEN, PURE_GRID))
def test_pure_grid_mixers_refuse_a_class_token(backbone, attn_type):
    name, overrides = CLASS_TOKEN[backbone]
    with pytest.raises(ValueError, match=rf"{attn_type} attention cannot mix prefix \(class\) tokens.*class_token=False"):
        _build(name, overrides, dict(type=attn_type), seed=0)


_UNETR = dict(feature_size=12, depths=(1, 1, 1, 1), num_heads=(1, 1, 2, 2), window_size=4, in_chans=1, num_classes=2)


@pytest.mark.parametrize("attn_type", TYPES_3D)
def test_3d_mixers_in_swin_unetr(attn_type):
    def build(seed):
        torch.manual_seed(seed)
        return vz.create_model("swin_unetr", attn=dict(type=attn_type), **_UNETR)

    x = torch.randn(1, 1, 64, 32, 32)
    model, twin = build(0), build(1)
    model(x).square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    twin.load_state_dict(model.state_dict())
    model.eval(), twin.eval()
    with torch.no_grad():
        assert torch.equal(model(x), twin(x))


@pytest.mark.parametrize("attn_type", sorted(set(TYPES) - set(TYPES_3D)))
def test_2d_mixers_refuse_3d_grids(attn_type):
    with pytest.raises(ValueError, match=rf"{attn_type} attention works on 2D token grids.*spatial_dims=2"):
        vz.create_model("swin_unetr", attn=dict(type=attn_type), **_UNETR)


def test_refusals_name_the_option_that_makes_it_work():
    with pytest.raises(ValueError, match="linear=False"):  # PVTv2-li pools K/V; agent attention has no such pooling
        vz.create_model("pvt_v2_b2_li", attn=dict(type="agent"), **_PYRAMID)
    with pytest.raises(ValueError, match="input_resolution"):  # a 2D Swin UNETR has no reference grid for the tables
        vz.create_model("swin_unetr", attn=dict(type="focused_linear"), spatial_dims=2, **_UNETR)
    with pytest.raises(ValueError, match="agent attention has no option 'window'; its options: .*agent_num"):
        vz.create_model("swin_tiny_patch4_window7_224", attn=dict(type="agent", window=3), **BACKBONES["swin"][1])


def test_2d_swin_unetr_takes_a_reference_grid_from_the_options():
    model = vz.create_model("swin_unetr", attn=dict(type="agent", agent_num=4, input_resolution=(8, 8)), spatial_dims=2, **_UNETR)
    model(torch.randn(1, 1, 64, 64)).mean().backward()


def test_mixed_stage_strings_are_parsed_once_for_every_backbone():
    assert attention_stage_mask("AAMB2", (2, 2, 4, 2)) == [True, True, [True, True, False, False], False]
    agent = dict(type="agent", agent_num=4)
    assert stage_attention_configs(agent, "LSM1", 3, depths=(1, 1, 2))[2] == [agent, None]
    swin = vz.create_model("swin_tiny_patch4_window7_224", attn=agent, attn_stages="AAMB1", **{**BACKBONES["swin"][1], "depths": (1, 1, 2, 1)})
    kinds = [type(b.attn).__name__ for stage in swin.layers for b in stage.blocks]
    assert kinds == ["AgentAttention", "AgentAttention", "AgentAttention", "WindowAttention", "WindowAttention"]
    pvt = vz.create_model("pvt_v2_b0", attn="softmax", attn_stages="SMSS1", **{**_PYRAMID, "depths": (1, 2, 1, 1)})
    assert [type(b.attn).__name__ for b in pvt.stages[1].blocks] == ["SelfAttention", "SpatialReductionAttention"]
    with pytest.raises(ValueError, match="M<k>"):
        stage_attention_configs(agent, "AAMB", 4, depths=(1, 1, 1, 1))


class _Probe(nn.Module):
    def __init__(self, dim: int, num_heads: int, window_size=None, sr_ratio: int = 1, extra: int = 0) -> None:
        super().__init__()
        self.got = dict(dim=dim, num_heads=num_heads, window_size=window_size, sr_ratio=sr_ratio, extra=extra)

    def forward(self, x, shape):
        return x


@pytest.fixture
def probe_type():
    register_attention("probe", _Probe)
    yield "probe"
    del ATTENTION_TYPES["probe"]


def test_a_mixer_gets_exactly_the_context_fields_it_declares(probe_type):
    context = AttentionContext(dim=8, num_heads=2, window_size=(4, 4), input_resolution=(7, 7), linear=True, n_win=3)
    assert ATTENTION_TYPES["probe"].uses() == {"dim", "num_heads", "window_size", "sr_ratio"}
    probe = build_attention(probe_type, context=context)
    assert probe.got == dict(dim=8, num_heads=2, window_size=(4, 4), sr_ratio=1, extra=0)  # unset fields: mixer default
    probe = build_attention(dict(type="probe", extra=5, num_heads=4, topk=3), context=context)  # topk: unused context field
    assert probe.got["extra"] == 5 and probe.got["num_heads"] == 4
    with pytest.raises(ValueError, match="probe attention has no option 'nope'"):
        build_attention(dict(type="probe", nope=1), context=context)
    with pytest.raises(TypeError, match="must name what it uses"):
        register_attention("probe_kwargs", lambda dim, num_heads, **kwargs: None)
    assert "probe_kwargs" not in ATTENTION_TYPES
    assert all(entry.uses() >= {"dim", "num_heads"} for entry in ATTENTION_TYPES.values())
