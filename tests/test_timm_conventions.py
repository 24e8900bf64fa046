"""timm's factory conventions (issue 13, deliverable 5): visionzoo.create_model as a drop-in for timm.create_model,
and our entrypoints registered into timm's registry behaving as timm's own."""
from __future__ import annotations

import json
import os

import pytest
import timm
import torch
from timm.models import _registry as timm_registry

import visionzoo as vz
from visionzoo.backbones.vit import vit_tiny_patch16_224
from visionzoo.registry import PRETRAINED_CFG_KEYS, _WEIGHTS, get_tiny_cfg, list_models
from visionzoo.weights import cached_weight_path

from .weights.conftest import fill_hub_cache

ARCH = "vit_tiny_patch16_224"
TAG = "augreg_in21k_ft_in1k"
TINY = get_tiny_cfg(ARCH)["kwargs"]


def _tiny(**kwargs):
    return vz.create_model(ARCH, **{**TINY, **kwargs})


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("VISIONZOO_HOME", str(tmp_path / "vz_home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf_cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path


# --- 1. timm's factory arguments -------------------------------------------------------------------------------

def test_entrypoint_takes_timm_factory_arguments():
    model = vit_tiny_patch16_224(pretrained=False, pretrained_cfg=None, pretrained_cfg_overlay=None, cache_dir=None, **TINY)
    assert model.pretrained_cfg["architecture"] == ARCH


def test_registered_into_timm_registry(monkeypatch):
    monkeypatch.setitem(timm_registry._model_entrypoints, "vz_vit_tiny", vit_tiny_patch16_224)
    model = timm.create_model("vz_vit_tiny", num_classes=7, **TINY)
    assert type(model).__module__.startswith("visionzoo.")
    assert model.num_classes == 7 and model.pretrained_cfg["num_classes"] == 7
    assert model(torch.randn(1, *get_tiny_cfg(ARCH)["input_size"])).shape == (1, 7)
    feats = timm.create_model("vz_vit_tiny", features_only=True, **TINY)
    assert isinstance(feats(torch.randn(1, *get_tiny_cfg(ARCH)["input_size"])), list)
    with pytest.raises(ValueError, match="num_classes"):
        timm.create_model("vz_vit_tiny", num_classes=-1, **TINY)


def test_pretrained_cfg_tag_and_dict_and_overlay():
    assert _tiny(pretrained_cfg=TAG).pretrained_cfg["tag"] == TAG
    cfg = _tiny(pretrained_cfg=dict(crop_pct=0.5, input_size=(3, 64, 64))).pretrained_cfg
    assert cfg["crop_pct"] == 0.5 and cfg["input_size"] == (3, 64, 64) and cfg["first_conv"] == "patch_embed.proj"
    cfg = _tiny(pretrained_cfg=TAG, pretrained_cfg_overlay=dict(mean=(0.5, 0.5, 0.5))).pretrained_cfg
    assert cfg["mean"] == (0.5, 0.5, 0.5) and cfg["tag"] == TAG


def test_pretrained_cfg_overlay_file_loads_through_converter(tmp_path, offline):
    ref = _tiny(num_classes=1000)
    path = tmp_path / "w.pth"
    torch.save({"model": ref.state_dict()}, path)  # a training-script layout: unwrapped by the converter
    model = _tiny(pretrained=True, pretrained_cfg_overlay=dict(file=str(path)))
    assert _same_weights(model, ref)
    other = _tiny(pretrained=True, pretrained_cfg_overlay=dict(file=str(path)), num_classes=3)
    assert other.head.weight.shape[0] == 3



def test_pretrained_cfg_overlay_file_without_registered_weights(tmp_path, offline):
    name = "resnet18_cbam"  # no registered weights: the file is read in whatever layout its converters detect
    assert name not in _WEIGHTS
    kwargs = get_tiny_cfg(name)["kwargs"]
    ref = vz.create_model(name, **kwargs)
    path = tmp_path / "r.pth"
    torch.save(ref.state_dict(), path)
    assert _same_weights(vz.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=str(path)), **kwargs), ref)


def test_cache_dir_is_this_calls_cache(tmp_path, offline, monkeypatch):
    from safetensors.torch import save_file

    ref = _tiny(num_classes=1000)
    call_cache = tmp_path / "call_cache"
    with monkeypatch.context() as m:  # where the cache_dir of the call keeps the file
        m.setenv("VISIONZOO_HOME", str(call_cache))
        path = cached_weight_path(f"{ARCH}.{TAG}", _WEIGHTS[ARCH][TAG])
    path.parent.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(path))
    with pytest.raises(Exception, match="not cached"):
        _tiny(pretrained=True)  # not in the default cache, offline
    assert _same_weights(_tiny(pretrained=True, cache_dir=call_cache), ref)
    assert os.environ["VISIONZOO_HOME"] == str(offline / "vz_home")  # the call's cache does not leak


# --- 2. hf-hub:org/repo ----------------------------------------------------------------------------------------

def test_hf_hub_name_offline(offline):
    ref = _tiny(num_classes=5)
    weights = fill_hub_cache(offline / "hf_cache", "someorg/tiny-vit", ref.state_dict())
    config = {
        "architecture": ARCH,
        "num_classes": 5,
        "model_args": TINY,
        "pretrained_cfg": {"tag": TAG, "input_size": [3, 64, 64], "crop_pct": 1.0, "mean": [0.5] * 3, "std": [0.5] * 3},
    }
    (weights.parent / "config.json").write_text(json.dumps(config))
    model = vz.create_model("hf-hub:someorg/tiny-vit", pretrained=True)
    assert _same_weights(model, ref)
    cfg = model.pretrained_cfg
    assert cfg["hf_hub_id"] == "someorg/tiny-vit" and cfg["num_classes"] == 5 and cfg["crop_pct"] == 1.0
    assert cfg["architecture"] == ARCH
    assert vz.create_model("hf-hub:someorg/tiny-vit").num_classes == 5  # the architecture without weights


# --- 3. features_only, feature_cls="getter", complete pretrained_cfg ------------------------------------------

def test_features_getter_has_complete_cfg():
    model = _tiny(features_only=True, feature_cls="getter", out_indices=(-2, -1))
    x = torch.randn(1, *get_tiny_cfg(ARCH)["input_size"])
    out = model(x)
    assert len(out) == 2 and all(t.ndim == 4 for t in out)
    assert model.feature_info.channels() == [t.shape[1] for t in out]
    assert set(PRETRAINED_CFG_KEYS) <= set(model.pretrained_cfg)
    with pytest.raises(ValueError, match="feature_cls"):
        _tiny(features_only=True, feature_cls="hook")


def test_every_registered_cfg_is_complete():
    for name in list_models() + vz.list_pretrained():
        cfg = vz.get_pretrained_cfg(name)
        missing = set(PRETRAINED_CFG_KEYS) - set(cfg)
        assert not missing, f"{name}: {missing}"


def test_swin_cfg_has_pool_size():
    name = "swin_tiny_patch4_window7_224"
    model = vz.create_model(name, **get_tiny_cfg(name)["kwargs"])
    assert model.pretrained_cfg["pool_size"] == (7, 7)


# --- 4. list_models(pretrained=True) -------------------------------------------------------------------------

def test_list_models_pretrained_lists_tags():
    names = vz.list_models("vit_tiny*", pretrained=True)
    assert f"{ARCH}.{TAG}" in names and all("." in n for n in names)
    assert names == vz.list_pretrained("vit_tiny*")
    assert ARCH in vz.list_models("vit_tiny*", pretrained=True, include_tags=False)
    assert ARCH in vz.list_models("vit_tiny*")


# --- 5. invalid arguments -------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_classes=-3), "num_classes"),
        (dict(drop_rate=1.0), "drop_rate"),
        (dict(drop_path_rate=-0.1), "drop_path_rate"),
        (dict(attn_drop_rate=1.5), "attn_drop_rate"),
        (dict(proj_drop_rate=2), "proj_drop_rate"),
        (dict(pos_drop_rate=-1), "pos_drop_rate"),
        (dict(num_heads=5), "num_heads=5 does not divide"),
    ],
)
def test_invalid_arguments_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _tiny(**kwargs)
    with pytest.raises(ValueError, match=match):
        vit_tiny_patch16_224(**{**TINY, **kwargs})


def test_heads_must_divide_width_in_every_transformer():
    with pytest.raises(ValueError, match="does not divide"):
        vz.create_model("swin_tiny_patch4_window7_224", **{**get_tiny_cfg("swin_tiny_patch4_window7_224")["kwargs"], "num_heads": (5, 5, 5, 5)})
