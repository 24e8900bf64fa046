"""Shared test fixtures: one torch thread per worker, deterministic seeds, random-weight helpers."""
from __future__ import annotations

import os

import pytest
import torch

torch.set_num_threads(int(os.environ.get("VISIONZOO_TEST_THREADS", "1")))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


def randomize_(model: torch.nn.Module, seed: int = 0, std: float = 0.05) -> torch.nn.Module:
    """Fill every parameter with seeded noise (norm weights around 1) so parity tests exercise all weights."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen) * std
            if p.ndim == 1 and "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + noise)
            else:
                p.copy_(noise)
    return model


def max_rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| divided by max(1, max |b|): absolute for unit-scale outputs, relative for large ones."""
    return ((a - b).abs().max() / b.abs().max().clamp_min(1.0)).item()
