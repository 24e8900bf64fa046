"""`BratsMetric`: per-case Dice and HD95 (mm) of TC, WT and ET, averaged over cases, with MONAI's metrics.

Empty masks follow the BraTS challenge convention rather than MONAI's NaNs, so every case counts:

=====================  ==========  ================================
label / prediction     Dice        HD95
=====================  ==========  ================================
both empty             1           0
one of them empty      0           `empty_hd95` (373.13 mm, the BraTS
                                   volume diagonal, as the challenge)
both non-empty         MONAI       MONAI, in mm from the affine's
                                   voxel sizes
=====================  ==========  ================================

Dice uses ``DiceMetric(ignore_empty=False)`` (which already gives 1 / 0 for the empty cases); HD95 uses
``HausdorffDistanceMetric(percentile=95)`` and the table above where MONAI would return NaN.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch
from mmengine.evaluator import BaseMetric
from monai.metrics import DiceMetric, HausdorffDistanceMetric

from visionzoo.data.formats import REGIONS as BRATS_CLASSES

from .registry import METRICS

__all__ = ["BratsMetric", "BRATS_EMPTY_HD95", "voxel_spacing"]

BRATS_EMPTY_HD95 = 373.13
"""HD95 (mm) when exactly one of label and prediction is empty: the diagonal of 240 x 240 x 155 mm."""


def voxel_spacing(affine: torch.Tensor | None, ndim: int = 3) -> list[float]:
    """Voxel sizes in mm: the lengths of the affine's first `ndim` columns (1.0 each without an affine)."""
    if affine is None:
        return [1.0] * ndim
    a = torch.as_tensor(affine, dtype=torch.float64)[:ndim, :ndim]
    return [float(v) for v in torch.linalg.vector_norm(a, dim=0)]


@METRICS.register_module()
class BratsMetric(BaseMetric):
    """Mean Dice and HD95 per region (``dice_tc``, ``hd95_wt``, ...) and over regions (``mean_dice``, ``mean_hd95``).

    Consumes `VolumeSegmenter` predictions: dicts with a bool ``pred`` and a float ``label`` (3, *S) and
    the case's ``affine``. Cases without a label are skipped. After `evaluate`, `per_case` lists each
    case's values (on the rank that computed them).
    """

    default_prefix: str | None = ""  # plain keys (mean_dice, ...): what save_best and the table use

    def __init__(self, regions: Sequence[str] = BRATS_CLASSES, empty_hd95: float = BRATS_EMPTY_HD95,
                 collect_device: str = "cpu", prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.regions = tuple(r.upper() for r in regions)
        self.empty_hd95 = float(empty_hd95)
        self._dice = DiceMetric(include_background=True, reduction="none", ignore_empty=False)
        self._hd95 = HausdorffDistanceMetric(include_background=True, percentile=95, reduction="none")
        self.per_case: list[dict] = []

    def process(self, data_batch: object, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            if sample.get("label") is None:
                continue
            dice, hd95 = self.case_scores(sample["pred"], sample["label"], sample.get("affine"))
            self.results.append({"case_id": sample.get("case_id", f"case{len(self.results)}"), "dice": dice, "hd95": hd95})

    def case_scores(self, pred: torch.Tensor, label: torch.Tensor, affine: torch.Tensor | None = None
                    ) -> tuple[list[float], list[float]]:
        """Dice and HD95 of one case: `pred` and `label` are (regions, *S) masks (label > 0.5 is inside)."""
        if pred.shape != label.shape or pred.shape[0] != len(self.regions):
            raise ValueError(
                f"prediction {tuple(pred.shape)} and label {tuple(label.shape)} must both be ({len(self.regions)}, *S)."
            )
        p = (pred > 0.5).float()[None].cpu()
        y = (label > 0.5).float()[None].cpu()
        dice = self._dice(p, y)[0]
        self._dice.reset()
        with warnings.catch_warnings():  # MONAI warns for empty masks; the table in the module docstring applies
            warnings.filterwarnings("ignore", message=".*all 0.*")
            warnings.filterwarnings("ignore", category=FutureWarning)
            hd = self._hd95(p, y, spacing=voxel_spacing(affine, p.dim() - 2))[0]
        self._hd95.reset()
        p_any = p[0].flatten(1).any(1)
        y_any = y[0].flatten(1).any(1)
        hd95 = []
        for c in range(len(self.regions)):
            if not p_any[c] and not y_any[c]:
                hd95.append(0.0)
            elif p_any[c] != y_any[c]:
                hd95.append(self.empty_hd95)
            else:
                hd95.append(float(hd[c]))
        return [float(d) for d in dice], hd95

    def compute_metrics(self, results: list[dict]) -> dict[str, float]:
        self.per_case = list(results)
        if not results:
            return {}
        out: dict[str, float] = {}
        for key in ("dice", "hd95"):
            per_region = [sum(r[key][c] for r in results) / len(results) for c in range(len(self.regions))]
            for name, value in zip(self.regions, per_region):
                out[f"{key}_{name.lower()}"] = value
            out[f"mean_{key}"] = math.fsum(per_region) / len(per_region)
        return out
