"""Image-classification data for mmengine: `ImageClsDataset`, timm transforms, `cls_collate`, `ClsDataPreprocessor`.

The pixels go through timm's own pipelines (`timm.data.create_transform`): random-resized crop, flip,
RandAugment / AutoAugment, colour jitter and random erasing for training; resize by ``crop_pct``, centre
crop, the model's interpolation, mean and std for evaluation. `resolve_cls_data` fills what a config
leaves out (``data_root``, the model's input size / mean / std / interpolation / crop_pct, the validation
split's class list, ``num_classes``) before the runner builds anything, so a recipe names only what it
changes. Augmentation is seeded per draw (`ResumableSampler` keys), so a resumed run sees the same crops.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dist import barrier
from mmengine.logging import print_log
from mmengine.model import BaseDataPreprocessor
from torch.utils.data import Dataset

import visionzoo
from visionzoo.data import DataFormatError, ImageFolderDataset, ImageListDataset, find_classes

from .registry import DATASETS, FUNCTIONS, MODELS, TRANSFORMS
from .rng import preserved_rng

__all__ = [
    "ImageClsDataset", "cls_transforms", "cls_collate", "ClsDataPreprocessor", "resolve_cls_data",
    "CLS_DATASET_TYPES", "model_data_config", "eval_input_size", "trained_num_classes",
]

CLS_DATASET_TYPES = ("ImageClsDataset",)
"""Dataset types that receive the config's top-level ``data_root`` and the model's data config."""

_DATA_CONFIG_KEYS = ("input_size", "interpolation", "mean", "std", "crop_pct", "crop_mode")


@TRANSFORMS.register_module(name="ClsTransforms")
def cls_transforms(mode: str = "val", **kwargs: Any) -> Callable:
    """timm's train (``mode="train"``) or eval pipeline; keywords are `timm.data.create_transform`'s own.

    RandAugment / AutoAugment posterize ops get `posterize_zero_bits_safe` (see there).
    """
    from timm.data import create_transform

    if mode not in ("train", "val"):
        raise ValueError(f"ClsTransforms mode must be 'train' or 'val', got {mode!r}.")
    return fix_timm_posterize(create_transform(is_training=mode == "train", **kwargs))


def posterize_zero_bits_safe(img: Any, bits_to_keep: int, **_: Any) -> Any:
    """timm's ``posterize`` op with the result it was written for when no bit is kept: a black image.

    RandAugment ``inc1`` maps magnitude 10 to ``PosterizeIncreasing`` keeping 0 bits, and ``mstd0.5`` reaches
    magnitude 10 on about 2% of draws. Pillow < 11 returned a black image for ``posterize(img, 0)``; Pillow 13
    raises ``ValueError: bits must be between or equal to 1 and 8``, which stopped DeiT-recipe training after
    about 1,700 images (timm 1.0.31 still calls it with 0).
    """
    from PIL import ImageOps

    if bits_to_keep >= 8:
        return img
    if bits_to_keep <= 0:
        return img.point(lambda _: 0)
    return ImageOps.posterize(img, bits_to_keep)


def fix_timm_posterize(transform: Any) -> Any:
    """`transform` (a timm pipeline, changed in place) with its auto-augment posterize ops made zero-bits safe.

    Only the op objects of this pipeline change; timm's module-level op table is left alone.
    """
    from timm.data.auto_augment import AugmentOp, posterize

    for t in getattr(transform, "transforms", None) or [transform]:
        ops = list(getattr(t, "ops", None) or [])
        for sub_policy in getattr(t, "policy", None) or []:
            ops += list(sub_policy) if isinstance(sub_policy, (list, tuple)) else [sub_policy]
        for op in ops:
            if isinstance(op, AugmentOp) and op.aug_fn is posterize:
                op.aug_fn = posterize_zero_bits_safe
    return transform


@DATASETS.register_module()
class ImageClsDataset(Dataset):
    """An ImageFolder split (``data_root/split/<class>/*``) or, with `list_file`, a list-file split.

    Args:
        data_root: the dataset folder; filled in from the config's ``data_root`` when omitted.
        split: subfolder of `data_root` (``train``/``val``); with `list_file`, the folder the listed paths
            are relative to (``""`` for `data_root` itself).
        list_file: ``relative/path,label`` lines (or ImageNet's ``path label``), relative to `data_root`.
        classes: class names (or a class-names file, relative to `data_root`); required with `list_file`.
            For a folder split it is the training split's classes (filled in by `resolve_cls_data`).
        pipeline: a ``ClsTransforms`` config or any callable on a PIL image.
        skip_corrupt: replace unreadable images by the next readable one (counted, logged once each).
    """

    def __init__(self, data_root: str | Path, split: str = "train", pipeline: dict | Callable | None = None,
                 list_file: str | None = None, classes: Sequence[str] | str | None = None,
                 skip_corrupt: bool = False) -> None:
        if isinstance(pipeline, dict):
            pipeline = TRANSFORMS.build(pipeline)
        self.transform = pipeline
        root = Path(data_root)
        if list_file is not None:
            if classes is None:
                raise DataFormatError(f"ImageClsDataset with list_file={list_file!r} needs classes= (a list of names or "
                                      "a class-names file, one name per line).")
            if isinstance(classes, (str, Path)):
                classes = root / classes
            self.dataset = ImageListDataset(root / split if split else root, root / list_file, classes,
                                            transform=pipeline, skip_corrupt=skip_corrupt)
        else:
            self.dataset = ImageFolderDataset(root, split=split or None, transform=pipeline, classes=classes,
                                              skip_corrupt=skip_corrupt)
        self.split = split

    @property
    def metainfo(self) -> dict:
        """Class names and counts (mmengine stores them in checkpoints and hands them to the metric)."""
        return {"classes": tuple(self.dataset.classes), "num_classes": len(self.dataset.classes),
                "split": self.split, "num_images": len(self.dataset)}

    def __len__(self) -> int:
        return len(self.dataset)

    def __repr__(self) -> str:
        return f"ImageClsDataset({self.dataset!r})"

    def __getitem__(self, key: int | Sequence[int]) -> dict:
        if isinstance(key, (tuple, list)):  # (index, augmentation seed) from ResumableSampler
            index, seed = int(key[0]), int(key[1])
            with preserved_rng():
                random.seed(seed)
                np.random.seed(seed % 2**32)
                torch.manual_seed(seed)
                image, label = self.dataset[index]
        else:
            index = int(key)
            image, label = self.dataset[index]
        return {"inputs": image, "data_samples": {"gt_label": int(label), "img_path": str(self.dataset.samples[index][0]),
                                                  "index": index}}


@FUNCTIONS.register_module()
def cls_collate(batch: Sequence[dict]) -> dict:
    """Samples -> ``{"inputs": (B, C, H, W), "data_samples": [per-image dict]}``."""
    if not batch:
        raise ValueError("cls_collate got an empty batch.")
    return {"inputs": torch.stack([s["inputs"] for s in batch]), "data_samples": [s["data_samples"] for s in batch]}


@MODELS.register_module()
class ClsDataPreprocessor(BaseDataPreprocessor):
    """Moves a collated batch to the model's device (the timm pipeline already normalised it)."""

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        return {"inputs": data["inputs"], "data_samples": data.get("data_samples")}


def model_data_config(model_cfg: dict) -> dict[str, Any]:
    """The eval data config (input size, interpolation, mean, std, crop_pct) of a config's ``model`` dict.

    From the registered model's ``pretrained_cfg`` (its weight tag's, when the name carries one), with the
    config's ``img_size`` / ``in_chans`` overrides applied.
    """
    from timm.data import resolve_data_config

    name = model_cfg.get("name") or model_cfg.get("model_name")
    if not name:
        raise ValueError("the config's model dict needs name=<registered model>, e.g. model=dict(name='resnet50').")
    pretrained_cfg = dict(visionzoo.get_pretrained_cfg(name))
    chans, *spatial = pretrained_cfg.get("input_size", (3, 224, 224))
    if model_cfg.get("img_size") is not None:
        size = model_cfg["img_size"]
        spatial = [int(size)] * 2 if isinstance(size, int) else [int(s) for s in size]
    if model_cfg.get("in_chans") is not None:
        chans = int(model_cfg["in_chans"])
    pretrained_cfg["input_size"] = (chans, *spatial)
    return resolve_data_config(pretrained_cfg=pretrained_cfg)


def _cls_datasets(cfg: Config) -> list[tuple[str, dict]]:
    out = []
    for key in ("train_dataloader", "val_dataloader", "test_dataloader"):
        loader = cfg.get(key)
        if isinstance(loader, dict) and isinstance(loader.get("dataset"), dict) \
                and loader["dataset"].get("type") in CLS_DATASET_TYPES:
            out.append((key, loader["dataset"]))
    return out


def _split_classes(d: dict) -> tuple[str, ...] | None:
    """Class names of a dataset dict without reading any image: list-file classes or the split's subfolders."""
    root = Path(d["data_root"])
    if d.get("classes") is not None:
        classes = d["classes"]
        if isinstance(classes, str):
            path = root / classes
            if not path.is_file():
                raise FileNotFoundError(f"class-names file {str(path)!r} does not exist (one class name per line).")
            return tuple(line.strip() for line in path.read_text().splitlines() if line.strip())
        return tuple(classes)
    if d.get("list_file") is not None:
        return None
    folder = root / d.get("split", "train") if d.get("split") else root
    return find_classes(folder) if folder.is_dir() else None


def _prepare_digits(cfg: Config, rank: int) -> str:
    from visionzoo.data import write_digits_folder

    spec = dict(cfg.get("digits_data") or {})
    out = Path(cfg.work_dir) / "digits"
    print_log(f"data_root is not set: writing scikit-learn's handwritten DIGITS as an ImageFolder in {out}",
              logger="current")
    if rank == 0:
        write_digits_folder(out, **spec)
    barrier()
    cfg.data_root = str(out)
    return (f"DATA: scikit-learn's bundled handwritten digits (1,797 real 8x8 scans, 10 classes), written to {out} "
            f"as {spec.get('size', 32)}px PNGs with a fixed stratified split; set data_root=DIR for your own ImageFolder.")


def resolve_cls_data(cfg: Config, rank: int = 0) -> str | None:
    """Fill classification datasets and the model's ``num_classes`` from the data; returns a banner or None.

    - ``data_root``: the config's top-level one; with ``data_root=None`` and a ``digits_data`` dict, the
      offline digits set is written into the work dir (and the log says so loudly);
    - each ``ClsTransforms`` pipeline gets the model's data config for every key it does not set;
    - evaluation folder splits get the training split's class list (a class unknown to training is an error);
    - ``model.num_classes``: taken from the data when None or absent; a different explicit value is an error
      naming both, unless ``classifier.replace_head=True`` (fine-tuning), which builds the data's head instead.
    """
    datasets = _cls_datasets(cfg)
    if not datasets:
        return None
    banner = None
    if cfg.get("data_root") is None and any("data_root" not in d for _, d in datasets):
        if not cfg.get("digits_data"):
            raise FileNotFoundError("the config sets no data_root: pass --cfg-options data_root=/path/to/imagenet "
                                    "(folders train/<class>/*, val/<class>/*).")
        banner = _prepare_digits(cfg, rank)
    for _, d in datasets:
        d.setdefault("data_root", cfg.get("data_root"))
        if not Path(d["data_root"]).is_dir():
            raise FileNotFoundError(f"data_root {str(d['data_root'])!r} is not a folder: pass --cfg-options "
                                    "data_root=DIR with DIR/train/<class>/* and DIR/val/<class>/* (ImageFolder layout).")

    model_cfg = dict(cfg.model)
    data_cfg = model_data_config(model_cfg)
    for key, d in datasets:
        pipeline = d.get("pipeline")
        if isinstance(pipeline, dict) and pipeline.get("type") == "ClsTransforms":
            for k in _DATA_CONFIG_KEYS:
                if k in data_cfg and pipeline.get(k) is None:
                    pipeline[k] = data_cfg[k]
            # timm's train pipeline wants the crop size; its eval pipeline the full (C, H, W)
            pipeline["input_size"] = tuple(pipeline["input_size"])

    train = dict(datasets).get("train_dataloader")
    train_classes = _split_classes(train) if train else None
    for key, d in datasets:
        if key != "train_dataloader" and train_classes and d.get("classes") is None and d.get("list_file") is None:
            d["classes"] = list(train_classes)
    reference = train_classes or next((c for c in (_split_classes(d) for _, d in datasets) if c), None)
    if reference:
        _check_num_classes(cfg, len(reference), train or datasets[0][1])
    return banner


def _check_num_classes(cfg: Config, n_data: int, dataset: dict) -> None:
    wanted = cfg.model.get("num_classes")
    where = Path(dataset["data_root"]) / (dataset.get("split") or "")
    if wanted is None:
        cfg.model["num_classes"] = n_data
        print_log(f"model.num_classes = {n_data}, from the classes in {where}", logger="current")
    elif int(wanted) != n_data:
        if (cfg.get("classifier") or {}).get("replace_head"):
            cfg.model["num_classes"] = n_data
            print_log(f"fine-tuning: the {wanted}-class head is replaced by a {n_data}-class head for {where}",
                      logger="current")
        else:
            raise DataFormatError(
                f"the config's model.num_classes={wanted} but {where} has {n_data} classes: set "
                f"--cfg-options model.num_classes={n_data} (or None to take it from the data), or fine-tune with "
                "configs/classification/finetune.py, which replaces the head."
            )


def eval_input_size(cfg: Config) -> tuple[int, ...]:
    """(C, H, W) a classification config evaluates at: its test pipeline's ``input_size``, else the model's."""
    for key in ("test_dataloader", "val_dataloader"):
        pipeline = ((cfg.get(key) or {}).get("dataset") or {}).get("pipeline") or {}
        if isinstance(pipeline, dict) and pipeline.get("input_size") is not None:
            size = pipeline["input_size"]
            return (3, int(size), int(size)) if isinstance(size, int) else tuple(int(s) for s in size)
    return tuple(model_data_config(dict(cfg.model))["input_size"])


def trained_num_classes(model_cfg: dict, checkpoint: str | Path | None) -> dict:
    """`model_cfg` with ``num_classes`` filled in from a training checkpoint's class list when the config leaves it
    None (it is taken from the data at training time), so the built head fits the trained weights."""
    model_cfg = dict(model_cfg)
    if model_cfg.get("num_classes") is None and "num_classes" in model_cfg and checkpoint is not None:
        from visionzoo.weights.checkpoint import checkpoint_meta

        classes = (checkpoint_meta(checkpoint).get("dataset_meta") or {}).get("classes")
        if classes:
            model_cfg["num_classes"] = len(classes)
    return model_cfg
