"""ViT: exact parity with timm (all variants, several sizes, train-mode backward) and the timm model interface."""
import pytest
import torch

import visionzoo as vz

from ..conftest import randomize_
from .timm_parity import assert_grad_checkpointing_is_exact, assert_train_step_matches, max_abs_diff, timm_and_ours

VIT_VARIANTS = [
    "vit_tiny_patch16_224",
    "vit_small_patch16_224",
    "vit_base_patch16_224",
    "vit_tiny_patch16_384",
    "vit_small_patch16_384",
    "vit_base_patch16_384",
]


@pytest.mark.parametrize("name", VIT_VARIANTS)
def test_vit_variant_matches_timm_at_its_size(name):
    ref, ours = timm_and_ours(name)
    size = ref.pretrained_cfg["input_size"][-1]
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())
    assert max_abs_diff(ref, ours, torch.randn(1, 3, size, size)) <= 1e-4


@pytest.mark.parametrize("size", [(160, 160), (128, 224)])
def test_vit_other_sizes_match_timm_dynamic_img_size(size):
    """Ours resamples pos_embed per input like timm's dynamic_img_size=True."""
    ref, ours = timm_and_ours("vit_small_patch16_224", timm_kwargs=dict(dynamic_img_size=True))
    assert max_abs_diff(ref, ours, torch.randn(2, 3, *size)) <= 1e-4


def test_vit_avg_pool_without_class_token_matches_timm():
    kwargs = dict(class_token=False, global_pool="avg", depth=2)
    ref, ours = timm_and_ours("vit_tiny_patch16_224", timm_kwargs=kwargs, ours_kwargs=kwargs)
    assert max_abs_diff(ref, ours, torch.randn(2, 3, 224, 224)) <= 1e-4


def test_vit_train_step_matches_timm():
    kwargs = dict(depth=4, drop_rate=0.0, drop_path_rate=0.0)
    ref, ours = timm_and_ours("vit_small_patch16_224", timm_kwargs=kwargs, ours_kwargs=kwargs)
    x, y = torch.randn(2, 3, 224, 224), torch.tensor([3, 7])
    assert_train_step_matches(ref, ours, x, y)


def test_vit_grad_checkpointing_gives_same_gradients():
    model = randomize_(vz.create_model("vit_tiny_patch16_224", depth=2, img_size=64))
    assert_grad_checkpointing_is_exact(model, torch.randn(2, 3, 64, 64))


def test_vit_forward_intermediates_match_timm():
    ref, ours = timm_and_ours("vit_tiny_patch16_224", timm_kwargs=dict(depth=4), ours_kwargs=dict(depth=4))
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        final_ref, inter_ref = ref.forward_intermediates(x, indices=[1, 3], norm=True)
        final, inter = ours.forward_intermediates(x, indices=[1, 3], norm=True)
    torch.testing.assert_close(final, final_ref, atol=1e-5, rtol=1e-5)
    assert [t.shape for t in inter] == [(1, 192, 14, 14)] * 2
    for a, b in zip(inter, inter_ref):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_vit_head_interface():
    model = vz.create_model("vit_tiny_patch16_224", depth=1, num_classes=5).eval()
    x = torch.randn(2, 3, 224, 224)
    feats = model.forward_features(x)
    assert feats.shape == (2, 197, 192)
    assert model.forward_head(feats, pre_logits=True).shape == (2, 192)
    assert model.get_classifier().out_features == 5
    model.reset_classifier(0)
    assert model(x).shape == (2, 192)
    model.reset_classifier(11, global_pool="avg")
    assert model(x).shape == (2, 11)
    assert model.no_weight_decay() == {"pos_embed", "cls_token"}


def test_vit_features_only():
    model = vz.create_model("vit_tiny_patch16_224", depth=4, features_only=True, out_indices=(1, 3))
    maps = model(torch.randn(1, 3, 96, 160))
    assert [m.shape for m in maps] == [(1, 192, 6, 10)] * 2
    assert model.feature_info.channels() == [192, 192] and model.feature_info.reduction() == [16, 16]
    assert len(model.model.blocks) == 4


def test_vit_pads_sizes_not_multiple_of_patch():
    model = vz.create_model("vit_tiny_patch16_224", depth=1).eval()
    assert model(torch.randn(1, 3, 200, 230)).shape == (1, 1000)
