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
