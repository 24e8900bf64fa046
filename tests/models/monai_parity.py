"""Parity helpers against MONAI's networks: seeded random weights in the reference, loaded through our converter."""
from __future__ import annotations

import torch

import visionzoo as vz
from visionzoo.weights.converters import convert_state_dict

from ..conftest import randomize_


def monai_and_ours(reference: torch.nn.Module, name: str, seed: int = 0, **ours_kwargs):
    """(reference with random weights, our `name` with the converted state dict), both in eval mode."""
    randomize_(reference, seed=seed)
    ours = vz.create_model(name, **ours_kwargs)
    ours.load_state_dict(convert_state_dict(ours, reference.state_dict()), strict=True)
    return reference.eval(), ours.eval()


def max_abs_diff(ref: torch.nn.Module, ours: torch.nn.Module, x: torch.Tensor) -> float:
    with torch.no_grad():
        return (ref(x) - ours(x)).abs().max().item()
