"""Feature-pyramid metadata shared by backbones: which module gives which channels at which stride."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


__all__ = ["FeatureInfo", "feature_take_indices"]


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
