"""The timm model interface is one implementation (`visionzoo.backbones.base.TimmBackbone`): the same semantics in
every registered backbone family, checked here on one tiny model per (family, class), found through the registry."""
from __future__ import annotations

import pytest
import torch

import visionzoo as vz
import visionzoo.backbones.base as base
from visionzoo.backbones.base import TimmBackbone
from visionzoo.registry import get_tiny_cfg, model_entrypoint, model_family

BACKBONES = [n for n in vz.list_models() if model_entrypoint(n).__module__.startswith("visionzoo.backbones.")]


def _representatives() -> list[str]:
    """One registered name per (family, model class), the class read from the entrypoint's return annotation."""
    seen: dict[tuple[str, str], str] = {}
    for name in BACKBONES:
        returns = str(model_entrypoint(name).__annotations__.get("return", name))
        seen.setdefault((model_family(name), returns), name)
    return sorted(seen.values())


FAMILIES = _representatives()


def _tiny(name: str, **extra) -> tuple[TimmBackbone, torch.Tensor]:
    cfg = get_tiny_cfg(name)
    torch.manual_seed(0)
    model = vz.create_model(name, **{**cfg["kwargs"], **extra}).eval()
    return model, torch.randn(2, *cfg["input_size"])


def _stage_modules(model: TimmBackbone) -> list[torch.nn.Module]:
    return [model.get_submodule(name) for name in model.feature_info.module_name(range(len(model.feature_info)))]


def _stages_run(model: TimmBackbone, fn) -> list[int]:
    """Indices of the stages (feature_info modules) that `fn()` runs."""
    ran: list[int] = []
    handles = [m.register_forward_hook(lambda *_, i=i: ran.append(i)) for i, m in enumerate(_stage_modules(model))]
    try:
        fn()
    finally:
        for h in handles:
            h.remove()
    return sorted(set(ran))


def test_every_backbone_is_a_timm_backbone():
    assert len(FAMILIES) >= 10, FAMILIES
    for name in BACKBONES:
        model, _ = _tiny(name)
        assert isinstance(model, TimmBackbone), f"{name}: {type(model).__name__} does not derive from TimmBackbone"


@pytest.mark.parametrize("name", FAMILIES)
def test_forward_intermediates_semantics(name):
    """All stages as NCHW maps of feature_info's widths; stop_early and intermediates_only both stop after the last
    requested stage and give the same maps; the final output is forward_features'; norm touches only the last
    stage (every stage of an isotropic model)."""
    model, x = _tiny(name)
    n = len(model.feature_info)
    with torch.no_grad():
        final, feats = model.forward_intermediates(x)
        torch.testing.assert_close(final, model.forward_features(x), rtol=0, atol=0)
        assert len(feats) == n
        assert [f.shape[1] for f in feats] == model.feature_info.channels(range(n))
        assert all(f.ndim == 4 and f.shape[0] == 2 and f.is_contiguous() for f in feats)
        for kwargs in (dict(stop_early=True), dict(intermediates_only=True), dict(stop_early=True, intermediates_only=True)):
            out = []
            ran = _stages_run(model, lambda: out.append(model.forward_intermediates(x, indices=[0, 1], **kwargs)))
            assert ran == [0, 1], (kwargs, ran)
            maps = out[0] if kwargs.get("intermediates_only") else out[0][1]
            assert isinstance(maps, list) and len(maps) == 2
            for a, b in zip(maps, feats[:2]):
                torch.testing.assert_close(a, b, rtol=0, atol=0)
        assert _stages_run(model, lambda: model.forward_intermediates(x, indices=[0])) == list(range(n))
        assert len(model.forward_intermediates(x, indices=2, intermediates_only=True)) == 2  # the last two
        normed = model.forward_intermediates(x, norm=True, intermediates_only=True)
    for i, (a, b) in enumerate(zip(normed, feats)):
        if not model.isotropic and i < n - 1:
            torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("name", FAMILIES)
def test_prune_intermediate_layers(name):
    """Pruning keeps the requested maps and their parameter names; ending early drops the stages after, the norm
    and the head, and the width follows the last kept stage, so a new head fits."""
    model, x = _tiny(name)
    keys = set(model.state_dict())
    with torch.no_grad():
        _, feats = model.forward_intermediates(x)
        assert model.prune_intermediate_layers([0, 1]) == [0, 1]
        assert set(model.state_dict()) <= keys
        assert model.num_classes == 0 and isinstance(model.get_classifier(), torch.nn.Identity)
        for a, b in zip(model.forward_intermediates(x, indices=[0, 1], intermediates_only=True), feats[:2]):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
        if not model.isotropic:
            assert model.num_features == model.head_hidden_size == model.feature_info.channels(1)
            assert isinstance(getattr(model, "norm", torch.nn.Identity()), torch.nn.Identity)
        model.reset_classifier(3, "avg")
        assert model(x).shape == (2, 3)
        assert model.forward_head(model.forward_features(x), pre_logits=True).shape == (2, model.num_features)


@pytest.mark.parametrize("name", FAMILIES)
def test_reset_classifier(name):
    """get_classifier is pretrained_cfg's classifier; reset_classifier sizes it anew on the model's device, 0 removes it."""
    model, x = _tiny(name, num_classes=4)
    assert model.get_classifier() is model.get_submodule(model.pretrained_cfg["classifier"])
    model.reset_classifier(7)
    assert model.num_classes == 7 and model.get_classifier().out_features == 7
    assert model.get_classifier() is model.get_submodule(model.pretrained_cfg["classifier"])
    with torch.no_grad():
        assert model(x).shape == (2, 7)
        model.reset_classifier(0)
        assert model.num_classes == 0 and model(x).shape == (2, model.num_features)
        model.reset_classifier(2, "avg")
        assert model.global_pool == "avg" and model(x).shape == (2, 2)
    with pytest.raises((ValueError, AssertionError)):
        model.reset_classifier(2, "no_such_pool")


@pytest.mark.parametrize("name", FAMILIES)
def test_grad_checkpointing_is_exact_and_used(name, monkeypatch):
    """set_grad_checkpointing routes every block through the one checkpoint call; gradients stay the same (1e-6)."""
    model, x = _tiny(name, num_classes=5)
    calls = []
    real = base.checkpoint
    monkeypatch.setattr(base, "checkpoint", lambda *a, **k: calls.append(1) or real(*a, **k))

    def grads() -> dict[str, torch.Tensor]:
        model.zero_grad(set_to_none=True)
        torch.manual_seed(1)  # the same stochastic-depth draws in both runs
        model(x).square().sum().backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    model.train()
    plain = grads()
    assert not calls
    model.set_grad_checkpointing(True)
    checkpointed = grads()
    assert calls, "set_grad_checkpointing(True) checkpointed no block"
    assert plain.keys() == checkpointed.keys() and plain
    for n in plain:
        torch.testing.assert_close(checkpointed[n], plain[n], rtol=0, atol=1e-6, msg=n)
    model.set_grad_checkpointing(False)
    calls.clear()
    grads()
    assert not calls
