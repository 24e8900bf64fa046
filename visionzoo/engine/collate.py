"""Batching BraTS samples: `brats_collate` (DataLoader side) and `BratsDataPreprocessor` (model side, on device)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from mmengine.model import BaseDataPreprocessor

from .registry import FUNCTIONS, MODELS

__all__ = ["brats_collate", "BratsDataPreprocessor"]

_META_KEYS = ("case_id", "format", "affine", "spatial_shape")


def _flatten(batch: Sequence[Any]) -> list[dict]:
    out: list[dict] = []
    for item in batch:
        out.extend(_flatten(item) if isinstance(item, (list, tuple)) else [item])
    return out


def _stack_if_same_shape(tensors: list[torch.Tensor]) -> torch.Tensor | list[torch.Tensor]:
    return torch.stack(tensors) if len({tuple(t.shape) for t in tensors}) == 1 else tensors


@FUNCTIONS.register_module()
def brats_collate(batch: Sequence[dict | list[dict]]) -> dict:
    """Samples (or lists of crops) -> ``{"inputs": (B, 4, *S) or list, "data_samples": [per-sample dict]}``.

    Images of equal shape are stacked (training crops); full volumes of different shapes stay a list.
    Each data sample keeps its ``label`` (3, *S) when present and the case meta (id, format, affine, shape).
    """
    samples = _flatten(batch)
    if not samples:
        raise ValueError("brats_collate got an empty batch.")
    data_samples = []
    for s in samples:
        ds = {k: s[k] for k in _META_KEYS if k in s}
        if isinstance(s.get("label"), torch.Tensor):
            ds["label"] = s["label"]
        data_samples.append(ds)
    return {"inputs": _stack_if_same_shape([s["image"] for s in samples]), "data_samples": data_samples}


@MODELS.register_module()
class BratsDataPreprocessor(BaseDataPreprocessor):
    """Moves a collated batch to the model's device and stacks equal-shaped images (no normalisation: the pipeline did it)."""

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        inputs = data["inputs"]
        if isinstance(inputs, (list, tuple)):
            inputs = _stack_if_same_shape(list(inputs))
        return {"inputs": inputs, "data_samples": data.get("data_samples")}
