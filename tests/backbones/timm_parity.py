"""Helpers for parity against timm: the same seeded random weights in both, our converter in between."""
from __future__ import annotations

import timm
import torch

import visionzoo as vz
from visionzoo.weights.converters import convert_state_dict

from ..conftest import randomize_


def timm_and_ours(name: str, timm_kwargs: dict | None = None, ours_kwargs: dict | None = None, seed: int = 0):
    """timm's `name` with seeded random weights, and ours loaded from its state dict through the converter."""
    ref = randomize_(timm.create_model(name, pretrained=False, **(timm_kwargs or {})), seed=seed)
    ours = vz.create_model(name, **(ours_kwargs or {}))
    ours.load_state_dict(convert_state_dict(ours, ref.state_dict()), strict=True)
    return ref.eval(), ours.eval()


def max_abs_diff(ref: torch.nn.Module, ours: torch.nn.Module, x: torch.Tensor) -> float:
    with torch.no_grad():
        return (ref(x) - ours(x)).abs().max().item()


def assert_train_step_matches(ref: torch.nn.Module, ours: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    """Train mode, cross-entropy, backward: same loss within 1e-4 and every gradient finite and within 1e-4."""
    ref.train(), ours.train()
    loss_ref = torch.nn.functional.cross_entropy(ref(x), y)
    loss_ours = torch.nn.functional.cross_entropy(ours(x), y)
    loss_ref.backward(), loss_ours.backward()
    assert abs(loss_ref.item() - loss_ours.item()) <= 1e-4
    ref_grads = dict(ref.named_parameters())
    for name, p in ours.named_parameters():
        assert torch.isfinite(p.grad).all(), name
        torch.testing.assert_close(p.grad, ref_grads[name].grad, atol=1e-4, rtol=1e-3, msg=name)


def assert_grad_checkpointing_is_exact(model: torch.nn.Module, x: torch.Tensor) -> None:
    """Gradients with set_grad_checkpointing(True) equal those of the plain backward."""
    model.train()
    model(x).sum().backward()
    plain = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    model.set_grad_checkpointing(True)
    model(x).sum().backward()
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, plain[n], msg=n)
