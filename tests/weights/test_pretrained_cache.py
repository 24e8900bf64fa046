"""pretrained=True from the local cache, with timm-style head and stem adaptation."""
import pytest
import torch
from safetensors.torch import save_file

import visionzoo as vz
from visionzoo.registry import _WEIGHTS
from visionzoo.weights import cached_weight_path

from ..backbones.timm_parity import timm_and_ours

TAG = "vit_tiny_patch16_224.augreg_in21k_ft_in1k"


@pytest.fixture
def cached_vit(tmp_path, monkeypatch):
    monkeypatch.setenv("VISIONZOO_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ref, _ = timm_and_ours("vit_tiny_patch16_224", timm_kwargs=dict(depth=2), ours_kwargs=dict(depth=2))
    path = cached_weight_path(TAG, _WEIGHTS["vit_tiny_patch16_224"]["augreg_in21k_ft_in1k"])
    path.parent.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(path))
    return ref


def test_pretrained_from_cache_without_network(cached_vit):
    model = vz.create_model(TAG, pretrained=True, depth=2).eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert (model(x) - cached_vit(x)).abs().max() <= 1e-4
    assert model.pretrained_cfg["tag"] == "augreg_in21k_ft_in1k"


def test_pretrained_with_other_num_classes_keeps_fresh_head(cached_vit):
    model = vz.create_model("vit_tiny_patch16_224", pretrained=True, depth=2, num_classes=10)
    assert model.head.weight.shape == (10, 192)
    torch.testing.assert_close(model.blocks[1].mlp.fc2.weight, cached_vit.blocks[1].mlp.fc2.weight)


def test_pretrained_with_one_input_channel_adapts_first_conv(cached_vit):
    model = vz.create_model("vit_tiny_patch16_224", pretrained=True, depth=2, in_chans=1)
    expected = cached_vit.patch_embed.proj.weight.sum(dim=1, keepdim=True)
    torch.testing.assert_close(model.patch_embed.proj.weight, expected)
