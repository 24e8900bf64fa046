"""The token-mixer registry: building by name, unknown names, per-stage attention strings."""
import pytest

from visionzoo.layers import SelfAttention, WindowAttention, build_attention, stage_attention_configs


def test_build_attention_merges_user_options_over_backbone_kwargs():
    mixer = build_attention(dict(type="softmax", num_heads=2), default="window", dim=8, num_heads=4, window_size=(2, 2))
    assert isinstance(mixer, SelfAttention) and mixer.num_heads == 2
    assert isinstance(build_attention(None, default="window", dim=8, num_heads=2, window_size=(2, 2)), WindowAttention)


def test_unknown_attention_type_lists_registered_types():
    with pytest.raises(ValueError, match="Unknown attention type 'nope'.*softmax.*window"):
        build_attention("nope", default="softmax", dim=8, num_heads=2)


def test_stage_strings_select_the_backbone_default_for_s_and_b():
    cfg = dict(type="focused_linear")
    assert stage_attention_configs(cfg, "LLSS", 4) == [cfg, cfg, None, None]
    assert stage_attention_configs(cfg, "AAAB", 4) == [cfg, cfg, cfg, None]
    assert stage_attention_configs(cfg, None, 3) == [cfg, cfg, cfg]
    assert stage_attention_configs([None, cfg], None, 2) == [None, cfg]


@pytest.mark.parametrize(
    "attn, stages, match",
    [
        (dict(type="agent"), "AAB", "has 3 letters but the backbone has 4 stages"),
        (None, "LLSS", "attn= is not given"),
        ([None, None], None, "2 per-stage configs but the backbone has 4 stages"),
        ([None] * 4, "SSSS", "not both"),
    ],
)
def test_stage_string_errors_name_the_problem(attn, stages, match):
    with pytest.raises(ValueError, match=match):
        stage_attention_configs(attn, stages, 4)
