"""Swin: exact parity with timm (all variants, several sizes, train-mode backward) and the timm model interface."""
import pytest
import torch

import visionzoo as vz

from ..conftest import randomize_
from .timm_parity import assert_grad_checkpointing_is_exact, assert_train_step_matches, max_abs_diff, timm_and_ours

SWIN_VARIANTS = [
    "swin_tiny_patch4_window7_224",
    "swin_small_patch4_window7_224",
    "swin_base_patch4_window7_224",
    "swin_base_patch4_window12_384",
]
SMALL = dict(embed_dim=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8))


@pytest.mark.parametrize("name", SWIN_VARIANTS)
def test_swin_variant_matches_timm_at_its_size(name):
    ref, ours = timm_and_ours(name)
    size = ref.pretrained_cfg["input_size"][-1]
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())
    assert max_abs_diff(ref, ours, torch.randn(1, 3, size, size)) <= 1e-4


@pytest.mark.parametrize("size", [(448, 448), (224, 448)])
def test_swin_other_window_multiple_sizes_match_timm(size):
    ref, ours = timm_and_ours("swin_tiny_patch4_window7_224", timm_kwargs=dict(img_size=size, **SMALL), ours_kwargs=SMALL)
    assert max_abs_diff(ref, ours, torch.randn(1, 3, *size)) <= 1e-4


@pytest.mark.parametrize("size", [(256, 256), (200, 296)])
def test_swin_any_size_matches_timm_with_its_shift_order(size):
    """Sizes that need padding: timm rolls before padding, reproduced exactly by shift_first=True."""
    ours_kwargs = dict(attn=dict(type="window", shift_first=True), **SMALL)
    ref, ours = timm_and_ours("swin_tiny_patch4_window7_224", timm_kwargs=dict(img_size=size, **SMALL), ours_kwargs=ours_kwargs)
    assert max_abs_diff(ref, ours, torch.randn(1, 3, *size)) <= 1e-4


def test_swin_default_padding_follows_official_order():
    """Default (pad, then shift) differs from timm only where padding is needed, and runs at any size."""
    ref, ours = timm_and_ours("swin_tiny_patch4_window7_224", timm_kwargs=dict(img_size=(256, 256), **SMALL), ours_kwargs=SMALL)
    assert max_abs_diff(ref, ours, torch.randn(1, 3, 256, 256)) > 1e-4
    assert ours(torch.randn(1, 3, 100, 37)).shape == (1, 1000)


def test_swin_train_step_matches_timm():
    kwargs = dict(drop_path_rate=0.0, **SMALL)
    ref, ours = timm_and_ours("swin_tiny_patch4_window7_224", timm_kwargs=kwargs, ours_kwargs=kwargs)
    x, y = torch.randn(2, 3, 224, 224), torch.tensor([1, 5])
    assert_train_step_matches(ref, ours, x, y)


def test_swin_forward_intermediates_match_timm():
    ref, ours = timm_and_ours("swin_tiny_patch4_window7_224", timm_kwargs=SMALL, ours_kwargs=SMALL)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        final_ref, inter_ref = ref.forward_intermediates(x, norm=True)
        final, inter = ours.forward_intermediates(x, norm=True)
    torch.testing.assert_close(final, final_ref, atol=1e-5, rtol=1e-5)
    assert [t.shape[1:] for t in inter] == [(32, 56, 56), (64, 28, 28), (128, 14, 14), (256, 7, 7)]
    for a, b in zip(inter, inter_ref):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_swin_features_only_any_size():
    model = vz.create_model("swin_tiny_patch4_window7_224", features_only=True, out_indices=(1, 2), **SMALL)
    maps = model(torch.randn(1, 3, 160, 96))
    assert [m.shape for m in maps] == [(1, 64, 20, 12), (1, 128, 10, 6)]
    assert model.feature_info.reduction() == [8, 16] and model.feature_info.channels() == [64, 128]
    assert len(model.model.layers) == 3  # the last stage is pruned


def test_swin_head_interface():
    model = vz.create_model("swin_tiny_patch4_window7_224", num_classes=4, **SMALL).eval()
    x = torch.randn(2, 3, 224, 224)
    feats = model.forward_features(x)
    assert feats.shape == (2, 7, 7, 256)
    assert model.forward_head(feats, pre_logits=True).shape == (2, 256)
    assert model.get_classifier().out_features == 4
    model.reset_classifier(9)
    assert model(x).shape == (2, 9)
    assert all("relative_position_bias_table" in n for n in model.no_weight_decay())
    assert len(model.no_weight_decay()) == sum(SMALL["depths"])


def test_swin_grad_checkpointing_gives_same_gradients():
    model = randomize_(vz.create_model("swin_tiny_patch4_window7_224", drop_path_rate=0.0, **SMALL))
    assert_grad_checkpointing_is_exact(model, torch.randn(1, 3, 64, 64))
