"""`features_only=True`: a backbone reduced to the layers that its requested feature maps need."""
from __future__ import annotations

from collections.abc import Iterable

import torch.nn as nn
from torch import Tensor

from ..backbones.features import FeatureInfo

__all__ = ["FeatureExtractor"]


class FeatureExtractor(nn.Module):
    """Wraps a backbone with ``forward_intermediates``; ``forward(x)`` returns its NCHW maps at `out_indices`."""

    def __init__(self, model: nn.Module, out_indices: Iterable[int] | None = None) -> None:
        super().__init__()
        if not hasattr(model, "forward_intermediates"):
            raise ValueError(f"{type(model).__name__} has no forward_intermediates(); it cannot be used features_only")
        num = len(model.feature_info)
        indices = tuple(range(num)) if out_indices is None else tuple(i % num for i in out_indices)
        model.prune_intermediate_layers(list(indices), prune_norm=True, prune_head=True)
        self.model = model
        self.out_indices = indices
        self.feature_info = FeatureInfo(model.feature_info.info, indices)
        self.pretrained_cfg = getattr(model, "pretrained_cfg", {})

    def forward(self, x: Tensor) -> list[Tensor]:
        return self.model.forward_intermediates(x, indices=list(self.out_indices), intermediates_only=True)
