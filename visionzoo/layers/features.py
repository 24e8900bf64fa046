"""Feature pyramids: which module gives which channels at which stride (`FeatureInfo`), and `features_only`.

`FeatureExtractor` is the ``create_model(..., features_only=True)`` wrapper: a backbone reduced to the layers
that its requested feature maps need, returning them as NCHW maps. It lives at the layer level (it wraps
any module with ``forward_intermediates``/``feature_info``) so that the factory, below the model families,
can use it; `visionzoo.backbones.features` and `visionzoo.models.features` re-export these names.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch.nn as nn
from torch import Tensor

__all__ = ["FeatureInfo", "FeatureExtractor", "feature_take_indices"]


def feature_take_indices(num_features: int, indices: int | Sequence[int] | None = None) -> tuple[list[int], int]:
    """Absolute indices to take (None: all, int n: the last n, sequence: those, negatives from the end) and their max."""
    if indices is None:
        indices = num_features
    if isinstance(indices, int):
        if not 0 < indices <= num_features:
            raise ValueError(f"cannot take the last {indices} of {num_features} feature maps")
        take = list(range(num_features - indices, num_features))
    else:
        take = []
        for i in indices:
            idx = num_features + i if i < 0 else i
            if not 0 <= idx < num_features:
                raise ValueError(f"feature index {i} is out of range for {num_features} feature maps")
            take.append(idx)
    return take, max(take)


class FeatureInfo:
    """timm-compatible description of the feature maps a backbone can return.

    Each entry is ``dict(num_chs=, reduction=, module=)``; `out_indices` selects the entries that a
    `features_only` model returns.
    """

    def __init__(self, entries: Sequence[dict[str, Any]], out_indices: Iterable[int] | None = None) -> None:
        self.info = [dict(e) for e in entries]
        self.out_indices = tuple(range(len(self.info)) if out_indices is None else out_indices)

    def _select(self, key: str, idx: int | Sequence[int] | None) -> Any:
        if idx is None:
            return [self.info[i][key] for i in self.out_indices]
        if isinstance(idx, int):
            return self.info[idx][key]
        return [self.info[i][key] for i in idx]

    def channels(self, idx: int | Sequence[int] | None = None) -> Any:
        """Channels of the selected (default: output) feature maps."""
        return self._select("num_chs", idx)

    def reduction(self, idx: int | Sequence[int] | None = None) -> Any:
        """Stride (input size / feature size) of the selected feature maps."""
        return self._select("reduction", idx)

    def module_name(self, idx: int | Sequence[int] | None = None) -> Any:
        """Module names of the selected feature maps."""
        return self._select("module", idx)

    def get_dicts(self) -> list[dict[str, Any]]:
        """The output feature maps' entries."""
        return [dict(self.info[i]) for i in self.out_indices]

    def __getitem__(self, item: int) -> dict[str, Any]:
        return self.info[item]

    def __len__(self) -> int:
        return len(self.info)

    def __iter__(self):
        return iter(self.info)

    def __repr__(self) -> str:
        return f"FeatureInfo({self.get_dicts()})"


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
        # timm's FeatureGetterNet keeps the model's complete cfg; the wrapper has no classifier
        self.pretrained_cfg = {**getattr(model, "pretrained_cfg", {}), "feature_cls": "getter", "out_indices": indices}
        self.default_cfg = self.pretrained_cfg

    def forward(self, x: Tensor) -> list[Tensor]:
        return self.model.forward_intermediates(x, indices=list(self.out_indices), intermediates_only=True)
