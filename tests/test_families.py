"""Generic checks of every registered model, driven by the registry: each family declares, beside its entrypoints,
its weight tags, its converters (keyed by model class) and its tiny configuration; nothing here names a family.

A new family gets these checks (and the ONNX export of `tests/export/test_onnx.py`) by registering its
entrypoints with ``tiny=dict(...)``.
"""
import pytest
import torch

import visionzoo as vz
from visionzoo.export.onnx import output_tensors
from visionzoo.registry import get_tiny_cfg
from visionzoo.weights.converters import converters_for, detect_source

MODELS = vz.list_models()
PRETRAINED_CFG_KEYS = {"architecture", "tag", "input_size", "first_conv", "classifier", "fixed_input_size"}


def _tiny(name: str, **extra):
    cfg = get_tiny_cfg(name)
    torch.manual_seed(0)
    return vz.create_model(name, **{**cfg["kwargs"], **extra}).eval(), torch.randn(2, *cfg["input_size"])


def test_every_model_declares_a_tiny_config():
    missing = []
    for name in MODELS:
        try:
            cfg = get_tiny_cfg(name)
        except KeyError:
            missing.append(name)
            continue
        assert cfg["kwargs"] and len(cfg["input_size"]) >= 3, name
    assert not missing, f"register these with tiny=dict(...): {missing}"


def test_every_weight_tag_has_a_converter_for_its_source():
    """A tag's `source` names a layout that the model's class (or a base class) can convert."""
    for name_tag in vz.list_pretrained():
        model, _ = _tiny(name_tag.split(".")[0])
        source = vz.get_pretrained_cfg(name_tag)["source"]
        assert source in converters_for(model), f"{name_tag}: no {source!r} converter for {type(model).__name__}"


@pytest.mark.parametrize("name", MODELS)
def test_state_dict_round_trip(name, tmp_path):
    """A model's own state dict is detected as its own layout and loads back strictly: same outputs."""
    model, x = _tiny(name)
    state = model.state_dict()
    converted = vz.weights.converters.convert_state_dict(model, state, source=detect_source(model, state))
    assert converted.keys() == state.keys()
    path = tmp_path / "model.pth"
    torch.save(state, path)
    torch.manual_seed(1)  # a different initialisation: the file must overwrite all of it
    again = vz.create_model(name, checkpoint_path=str(path), **get_tiny_cfg(name)["kwargs"]).eval()
    with torch.no_grad():
        for a, b in zip(output_tensors(model(x)), output_tensors(again(x)), strict=True):
            assert torch.equal(a, b), name


@pytest.mark.parametrize("name", MODELS)
def test_timm_model_interface(name):
    """Classifiers follow timm's interface; every model carries a pretrained_cfg naming real modules."""
    model, x = _tiny(name)
    cfg = model.pretrained_cfg
    assert PRETRAINED_CFG_KEYS <= set(cfg), f"{name}: pretrained_cfg lacks {PRETRAINED_CFG_KEYS - set(cfg)}"
    modules = dict(model.named_modules())
    for key in ("first_conv", "classifier"):
        if cfg[key]:
            assert cfg[key] in modules, f"{name}: pretrained_cfg[{key!r}] = {cfg[key]!r} is not a module"
    if not hasattr(model, "forward_head"):
        return  # a dense model (segmenter, detector): no classifier interface
    with torch.no_grad():
        logits = model(x)
        features = model.forward_features(x)
        assert torch.allclose(model.forward_head(features), logits, atol=1e-6)
        assert model.forward_head(features, pre_logits=True).shape == (2, model.num_features)
        assert logits.shape == (2, model.num_classes)
        assert isinstance(model.get_classifier(), torch.nn.Module)
        model.reset_classifier(5)
        assert model(x).shape == (2, 5)
        model.reset_classifier(0)
        assert model(x).shape == (2, model.num_features)
