"""`BratsSegDataset`: `visionzoo.data.BratsDataset` for mmengine, with per-draw seeded augmentation.

The train sampler (`ResumableSampler`) yields ``(index, seed)`` keys; the dataset re-seeds its MONAI
pipeline with that seed before transforming the case, so each augmentation is a pure function of
(run seed, epoch, position in the epoch). That is what makes a mid-epoch resume exact, whatever the
number of DataLoader workers or ranks. Plain integer keys (validation, test) leave the pipeline's RNG alone.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from visionzoo.data import BratsDataset, brats_transforms
from visionzoo.data.formats import REGIONS as BRATS_CLASSES

from .registry import DATASETS, TRANSFORMS
from .rng import SeededTransform

__all__ = ["BratsSegDataset", "SeededTransform", "BRATS_CLASSES"]

TRANSFORMS.register_module(name="BratsTransforms", module=brats_transforms)


@DATASETS.register_module()
class BratsSegDataset(Dataset):
    """BraTS cases of one split and fold, transformed by `pipeline` (a ``BratsTransforms`` config or a callable).

    `data_root` and `fold` may be left out of a config's dataset dicts: `build_runner` fills them in from
    the config's top-level ``data_root``/``fold`` keys, so ``--cfg-options data_root=DIR`` moves every split.
    """

    def __init__(
        self,
        data_root: str | Path,
        split: str = "train",
        fold: int = 0,
        pipeline: dict | Callable[[dict], Any] | None = None,
        fold_file: str | Path | None | bool = None,
        format: str = "auto",
        cache: bool = False,
        n_folds: int = 5,
        seed: int = 0,
        require_label: bool = True,
    ) -> None:
        if isinstance(pipeline, dict):
            pipeline = TRANSFORMS.build(pipeline)
        self.transform = SeededTransform(pipeline) if pipeline is not None else None
        self.dataset = BratsDataset(
            data_root, split, fold, fold_file, format, transform=self.transform, cache=cache,
            n_folds=n_folds, seed=seed, require_label=require_label,
        )

    @property
    def metainfo(self) -> dict:
        """Plain data about the split (mmengine stores it in checkpoints and hands it to metrics)."""
        d = self.dataset
        return {"classes": BRATS_CLASSES, "format": d.format, "split": d.split, "fold": d.fold,
                "num_cases": len(d)}

    @property
    def case_ids(self) -> list[str]:
        return self.dataset.case_ids

    def __len__(self) -> int:
        return len(self.dataset)

    def __repr__(self) -> str:
        return f"BratsSegDataset({self.dataset!r})"

    def __getitem__(self, key: int | Sequence[int]) -> dict | list[dict]:
        if isinstance(key, (tuple, list)):
            index, seed = int(key[0]), int(key[1])
            if self.transform is not None:
                self.transform.next_seed = seed
        else:
            index = int(key)
        return self.dataset[index]
