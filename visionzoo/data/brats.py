"""`BratsDataset`: BraTS 2021 / 2023 / 2024 and Decathlon Task01 cases as TC/WT/ET training samples.

A sample is ``{"image": float32 (4, X, Y, Z), "label": float32 (3, X, Y, Z), "case_id", "format",
"affine", "spatial_shape"}``: channels ``[FLAIR, T1ce, T1, T2]`` and ``[TC, WT, ET]`` for every format,
spatial axes those of the NIfTI files (MONAI's convention; real BraTS is 240 x 240 x 155). ``affine``
and ``spatial_shape`` are the original file's, for `save_prediction_nifti` after full-volume inference.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import torch
from monai.data import MetaTensor
from torch.utils.data import Dataset

from .cases import FOLD_FILE_NAME, BratsCase, find_cases
from .folds import assign_folds, read_fold_file, split_cases
from .formats import get_format
from .nifti import load_case
from .transforms import ConvertToBratsRegionsd

__all__ = ["BratsDataset"]

_logger = logging.getLogger(__name__)


class BratsDataset(Dataset):
    """BraTS cases of one split of one fold, loaded with MONAI's nibabel reader and checked on load.

    Folds come from `fold_file` (research-contributions ``brats21_folds.json``, paths relative to
    `data_root`); ``None`` uses ``data_root/brats21_folds.json`` if present (logged), else splits the case
    ids into `n_folds` seeded folds; ``False`` ignores any fold file. `transform` is a MONAI dictionary
    transform that receives integer labels (see `brats_transforms`); ``None`` only converts them to
    TC/WT/ET. `cache` keeps each loaded case in memory (per DataLoader worker), before the transform.
    """

    def __init__(
        self,
        data_root: str | Path,
        split: str = "train",
        fold: int = 0,
        fold_file: str | Path | None | bool = None,
        format: str = "auto",
        transform: Callable[[dict], dict | list[dict]] | None = None,
        cache: bool = False,
        *,
        n_folds: int = 5,
        seed: int = 0,
        require_label: bool = True,
        return_metatensor: bool = False,
    ) -> None:
        if str(format).lower() != "auto":
            get_format(format)  # fail early on an unknown name
        self.data_root = Path(data_root).expanduser()
        if fold_file is None and (self.data_root / FOLD_FILE_NAME).is_file():
            fold_file = self.data_root / FOLD_FILE_NAME
            _logger.info("BratsDataset: using the fold file %s (pass fold_file=False to split by case id)", fold_file)
        if fold_file:
            cases = read_fold_file(fold_file, self.data_root, format, require_label)
        else:
            cases = find_cases(self.data_root, format, require_label)
            if split != "all":  # "all" needs no folds, so it also works with fewer cases than n_folds
                folds = assign_folds((c.case_id for c in cases), n_folds, seed)
                cases = [c.with_fold(folds[c.case_id]) for c in cases]
        self.cases: list[BratsCase] = split_cases(cases, split, fold)
        self.split, self.fold, self.fold_file = split, fold, fold_file or None
        self.format = self.cases[0].format
        self.transform = transform if transform is not None else ConvertToBratsRegionsd("label")
        self.return_metatensor = return_metatensor
        self._cache: dict[int, dict] | None = {} if cache else None
        self._seeded: tuple[int, int] | None = None
        _logger.info(
            "BratsDataset: %d %s case(s), split %r of fold %d, from %s", len(self.cases), self.format, split, fold,
            self.data_root,
        )

    def __len__(self) -> int:
        return len(self.cases)

    @property
    def case_ids(self) -> list[str]:
        return [c.case_id for c in self.cases]

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({str(self.data_root)!r}, split={self.split!r}, fold={self.fold}, "
                f"format={self.format!r}, cases={len(self)})")

    def load(self, index: int) -> dict:
        """The checked, untransformed case `index` (integer label map), from the cache when enabled."""
        if self._cache is None:
            return load_case(self.cases[index])
        if index not in self._cache:
            self._cache[index] = load_case(self.cases[index])
        return {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in self._cache[index].items()}

    def __getitem__(self, index: int) -> dict | list[dict]:
        self._seed_worker()
        out = self.transform(self.load(index))
        if isinstance(out, list):
            out = [self._finish(o) for o in out]
            return out[0] if len(out) == 1 else out
        return self._finish(out)

    def _finish(self, sample: dict) -> dict:
        for key in ("image", "label"):
            value = sample.get(key)
            if isinstance(value, torch.Tensor):
                if isinstance(value, MetaTensor) and not self.return_metatensor:
                    value = value.as_tensor()
                sample[key] = value.to(torch.float32)
        return sample

    def _seed_worker(self) -> None:
        """Give each DataLoader worker its own augmentation stream (MONAI transforms copy one RNG into all)."""
        info = torch.utils.data.get_worker_info()
        if info is None or not hasattr(self.transform, "set_random_state"):
            return
        key = (os.getpid(), info.seed)
        if self._seeded != key:
            self.transform.set_random_state(seed=info.seed % (2**32))
            self._seeded = key
