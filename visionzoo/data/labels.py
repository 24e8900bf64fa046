"""Integer BraTS label maps <-> the three region channels (TC, WT, ET), per format.

The regions overlap (ET ⊂ TC ⊂ WT), so models predict them as three sigmoid channels; saving a
prediction needs the reverse map into the format's own integers, written with ET winning over TC over WT.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .formats import BratsFormat, get_format

__all__ = ["labels_to_regions", "regions_to_labels", "unexpected_labels"]

ArrayLike = np.ndarray | torch.Tensor


def _isin(x: ArrayLike, values: frozenset[int]) -> ArrayLike:
    if isinstance(x, torch.Tensor):
        return torch.isin(x, torch.tensor(sorted(values), dtype=x.dtype, device=x.device))
    return np.isin(x, np.asarray(sorted(values), dtype=x.dtype))


def labels_to_regions(label: ArrayLike, fmt: str | BratsFormat) -> ArrayLike:
    """An integer label map ``(*S)`` or ``(1, *S)`` -> float32 regions ``(3, *S)`` in the order TC, WT, ET.

    Labels that belong to no region (background; BraTS 2024's resection cavity, 4) are 0 in all three.
    """
    fmt = get_format(fmt)
    if label.ndim >= 1 and label.shape[0] == 1:
        label = label[0]
    planes = [_isin(label, region) for region in fmt.regions]
    if isinstance(label, torch.Tensor):
        return torch.stack(planes).to(torch.float32)
    return np.stack(planes).astype(np.float32)


def regions_to_labels(regions: ArrayLike, fmt: str | BratsFormat, threshold: float = 0.5) -> np.ndarray:
    """Regions ``(3, *S)`` (TC, WT, ET; binary or probabilities, inside = value > `threshold`) -> uint8 label map.

    Written hierarchically as in the BraTS submissions: WT voxels get the oedema label, TC voxels the
    core label, ET voxels the enhancing label (2021: 2/1/4; 2023/24: 2/1/3; Decathlon: 1/2/3), so a
    prediction that is not nested still yields one label per voxel.
    """
    fmt = get_format(fmt)
    if isinstance(regions, torch.Tensor):
        regions = regions.detach().cpu().float().numpy()
    regions = np.asarray(regions)
    if regions.ndim < 2 or regions.shape[0] != 3:
        raise ValueError(
            f"regions_to_labels expects 3 channels (TC, WT, ET) first, got shape {tuple(regions.shape)}; "
            f"for a batch, convert one sample at a time (pred[i])."
        )
    tc, wt, et = (regions[i] > threshold for i in range(3))
    out = np.zeros(regions.shape[1:], dtype=np.uint8)
    out[wt] = fmt.oedema_label
    out[tc] = fmt.core_label
    out[et] = fmt.et_label
    return out


def unexpected_labels(label: ArrayLike, fmt: str | BratsFormat) -> list[float]:
    """The distinct values in `label` that are not labels of `fmt` (non-integers included), sorted."""
    fmt = get_format(fmt)
    values = torch.unique(label).tolist() if isinstance(label, torch.Tensor) else np.unique(label).tolist()
    return [v for v in values if not math.isfinite(v) or v != int(v) or int(v) not in fmt.allowed_labels]
