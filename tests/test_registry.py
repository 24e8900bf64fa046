"""The model registry: listing, name/tag resolution, errors with close matches, create_model options."""
import pytest
import torch

import visionzoo as vz
from visionzoo.registry import get_arch_cfg, split_model_name_tag

FOUNDATION_MODELS = [
    "vit_tiny_patch16_224",
    "vit_tiny_patch16_384",
    "vit_small_patch16_224",
    "vit_small_patch16_384",
    "vit_base_patch16_224",
    "vit_base_patch16_384",
    "swin_tiny_patch4_window7_224",
    "swin_small_patch4_window7_224",
    "swin_base_patch4_window7_224",
    "swin_base_patch4_window12_384",
]


def test_foundation_models_are_registered():
    assert set(FOUNDATION_MODELS) <= set(vz.list_models())


def test_list_models_filters_sorted():
    swin = vz.list_models("*swin*")
    assert swin == sorted(swin) and all("swin" in n for n in swin) and "swin_tiny_patch4_window7_224" in swin
    assert "vit_base_patch16_384" not in vz.list_models("vit*", exclude_filters="*384")
    assert set(vz.list_models(["vit_tiny*", "swin_tiny*"])) == {
        "vit_tiny_patch16_224",
        "vit_tiny_patch16_384",
        "swin_tiny_patch4_window7_224",
    }


def test_list_pretrained_and_default_tag():
    tags = vz.list_pretrained("vit_small_patch16_224*")
    assert tags[0] == "vit_small_patch16_224.augreg_in21k_ft_in1k"
    assert all(t.startswith("vit_small_patch16_224.") for t in tags)
    # timm's semantics: pretrained=True lists name.tag entries (include_tags defaults to pretrained)
    assert vz.list_models(pretrained=True) == vz.list_pretrained()
    assert set(vz.list_models(pretrained=True, include_tags=False)) >= set(FOUNDATION_MODELS)


def test_pretrained_cfg_merges_architecture_and_weights():
    cfg = vz.get_pretrained_cfg("swin_base_patch4_window12_384.ms_in22k_ft_in1k")
    assert cfg["tag"] == "ms_in22k_ft_in1k"
    assert cfg["input_size"] == (3, 384, 384) and cfg["crop_pct"] == 1.0
    assert cfg["classifier"] == "head.fc" and cfg["first_conv"] == "patch_embed.proj"
    assert cfg["hf_hub_id"] == "timm/swin_base_patch4_window12_384.ms_in22k_ft_in1k"
    assert cfg["metrics"]["imagenet_top1"] == 86.4
    assert get_arch_cfg("vit_small_patch16_224")["classifier"] == "head"


def test_unknown_name_lists_close_matches():
    with pytest.raises(ValueError, match="swin_tiny_patch4_window7_224"):
        vz.create_model("swin_tiny_patch4_windw7_224")
    with pytest.raises(ValueError, match="Unknown model 'resnet9000'"):
        vz.create_model("resnet9000")


def test_unknown_tag_lists_registered_tags():
    with pytest.raises(ValueError, match="vit_small_patch16_224.augreg_in1k"):
        vz.create_model("vit_small_patch16_224.nope")


def test_split_name_tag():
    assert split_model_name_tag("a_b.c_d") == ("a_b", "c_d")
    assert split_model_name_tag("a_b") == ("a_b", None)


def test_create_model_from_config_dict_and_overrides():
    cfg = dict(name="vit_tiny_patch16_224", num_classes=7, depth=2, img_size=64)
    model = vz.create_model(**cfg)
    assert len(model.blocks) == 2 and model.num_classes == 7
    assert model.pretrained_cfg["architecture"] == "vit_tiny_patch16_224"
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 7)


def test_create_model_in_chans():
    model = vz.create_model("swin_tiny_patch4_window7_224", in_chans=1, num_classes=3, depths=(1, 1, 1, 1))
    assert model(torch.randn(1, 1, 64, 64)).shape == (1, 3)


def test_create_model_needs_a_name_and_not_both_weight_sources(tmp_path):
    with pytest.raises(ValueError, match="needs a model name"):
        vz.create_model()
    with pytest.raises(ValueError, match="not both"):
        vz.create_model("vit_tiny_patch16_224", pretrained=True, checkpoint_path=str(tmp_path / "x.pth"))


def test_pretrained_offline_names_the_file_to_place(tmp_path, monkeypatch):
    monkeypatch.setenv("VISIONZOO_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(FileNotFoundError, match=r"Place the file at .*vit_tiny_patch16_224.augreg_in21k_ft_in1k"):
        vz.create_model("vit_tiny_patch16_224", pretrained=True)


@pytest.mark.parametrize("name", ["vit_tiny_patch16_224", "swin_tiny_patch4_window7_224"])
@pytest.mark.parametrize(
    "x,match",
    [
        (torch.randn(3, 64, 64), "Add the batch dimension"),
        (torch.randn(1, 1, 64, 64), "expected 3 input channels, got 1"),
        (torch.zeros(1, 3, 64, 64, dtype=torch.uint8), "floating-point"),
        (torch.randn(1, 3, 2, 64), "smaller than one patch"),
    ],
)
def test_models_reject_bad_input_with_the_fix(name, x, match):
    model = vz.create_model(name, **({"depth": 1} if name.startswith("vit") else {"depths": (1, 1, 1, 1)}))
    with pytest.raises(ValueError, match=match):
        model(x)
