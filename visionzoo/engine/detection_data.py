"""COCO detection data for mmengine: `CocoDetDataset`, `detection_collate`, `DetectionDataPreprocessor`, synthetic default.

Images of different sizes stay a list through the DataLoader; the preprocessor pads them (bottom/right,
zeros) into one (B, 3, H, W) batch on the model's device with a (B, H, W) mask, True on padding, which
is what DETR reads. Boxes stay normalised to each image's own (unpadded) size, as DETR predicts them.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from mmengine.config import Config
from mmengine.model import BaseDataPreprocessor
from torch.utils.data import Dataset

from visionzoo.data import CocoDetection, detection_transforms, synthetic_coco_matches, write_synthetic_coco

from .synthetic import data_root_or_synthetic
from .registry import DATASETS, FUNCTIONS, MODELS, TRANSFORMS
from .rng import SeededTransform
from .runner import DATA_ROOT_RESOLVERS

__all__ = [
    "CocoDetDataset", "detection_collate", "DetectionDataPreprocessor", "pad_images", "COCO_DATASET_TYPES",
    "resolve_coco_data_root", "synthetic_shapes_banner",
]

COCO_DATASET_TYPES = ("CocoDetDataset",)
"""Dataset types that receive the config's top-level ``data_root`` when their dict omits it."""

TRANSFORMS.register_module(name="DetectionTransforms", module=detection_transforms)

_TARGET_KEYS = ("boxes", "labels", "image_id", "orig_size", "size", "img_path")


@DATASETS.register_module()
class CocoDetDataset(Dataset):
    """`visionzoo.data.CocoDetection` under ``data_root`` (``ann_file``, ``img_dir`` relative to it), per-draw seeded.

    The train sampler (`ResumableSampler`) yields ``(index, seed)``; the albumentations pipeline is
    re-seeded with that seed, so each augmentation is a pure function of (run seed, epoch, position).
    """

    def __init__(self, data_root: str | Path, ann_file: str, img_dir: str,
                 pipeline: dict | Callable[..., Any] | None = None, label_mode: str = "contiguous",
                 filter_empty: bool = False) -> None:
        if pipeline is None:
            raise ValueError("CocoDetDataset needs a pipeline (e.g. dict(type='DetectionTransforms', mode='val')): "
                             "the detector trains on image tensors and normalised cx, cy, w, h boxes.")
        if isinstance(pipeline, dict):
            pipeline = TRANSFORMS.build(pipeline)
        self.transform = SeededTransform(pipeline)
        root = Path(data_root)
        self.dataset = CocoDetection(root / ann_file, root / img_dir, transform=self.transform,
                                     label_mode=label_mode, filter_empty=filter_empty)

    @property
    def metainfo(self) -> dict:
        """Class names, the label -> category id map and the annotation file (the metric evaluates against it)."""
        d = self.dataset
        return {"classes": d.class_names, "label_to_cat": dict(d.label_to_cat), "ann_file": str(d.ann_file),
                "label_mode": d.label_mode, "num_classes": d.num_classes, "num_images": len(d)}

    def __len__(self) -> int:
        return len(self.dataset)

    def __repr__(self) -> str:
        return f"CocoDetDataset({self.dataset!r})"

    def __getitem__(self, key: int | Sequence[int]) -> dict:
        if isinstance(key, (tuple, list)):
            index, seed = int(key[0]), int(key[1])
            self.transform.next_seed = seed
        else:
            index = int(key)
        return self.dataset[index]


@FUNCTIONS.register_module()
def detection_collate(batch: Sequence[dict]) -> dict:
    """Samples -> ``{"inputs": [image (3, H, W), ...], "data_samples": [{"boxes", "labels", "image_id", ...}]}``."""
    if not batch:
        raise ValueError("detection_collate got an empty batch.")
    inputs = [torch.as_tensor(s["image"]) for s in batch]
    samples = []
    for s in batch:
        ds = {k: s[k] for k in _TARGET_KEYS if k in s}
        ds["boxes"] = torch.as_tensor(ds["boxes"], dtype=torch.float32).reshape(-1, 4)
        ds["labels"] = torch.as_tensor(ds["labels"], dtype=torch.int64).reshape(-1)
        samples.append(ds)
    return {"inputs": inputs, "data_samples": samples}


def pad_images(images: Sequence[torch.Tensor], size_divisor: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad (3, h_i, w_i) images at the bottom/right into (B, 3, H, W) and a (B, H, W) bool mask, True on padding."""
    if not images:
        raise ValueError("pad_images needs at least one image.")
    if any(im.dim() != 3 for im in images):
        raise ValueError(f"images must be (C, H, W), got shapes {[tuple(im.shape) for im in images]}.")
    h = max(im.shape[1] for im in images)
    w = max(im.shape[2] for im in images)
    h, w = -(-h // size_divisor) * size_divisor, -(-w // size_divisor) * size_divisor
    batch = images[0].new_zeros((len(images), images[0].shape[0], h, w))
    mask = torch.ones((len(images), h, w), dtype=torch.bool, device=images[0].device)
    for i, im in enumerate(images):
        batch[i, :, : im.shape[1], : im.shape[2]] = im
        mask[i, : im.shape[1], : im.shape[2]] = False
    return batch, mask


@MODELS.register_module()
class DetectionDataPreprocessor(BaseDataPreprocessor):
    """Moves a collated batch to the model's device and pads its images into a batch tensor plus padding mask."""

    def __init__(self, size_divisor: int = 1) -> None:
        super().__init__()
        self.size_divisor = int(size_divisor)

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        inputs = data["inputs"]
        if isinstance(inputs, torch.Tensor):
            images = list(inputs.unbind(0)) if inputs.dim() == 4 else [inputs]
        else:
            images = list(inputs)
        batch, mask = pad_images(images, self.size_divisor)
        return {"inputs": batch, "data_samples": data.get("data_samples"), "mask": mask}


def _coco_datasets(cfg: Config) -> list[dict]:
    out = []
    for key in ("train_dataloader", "val_dataloader", "test_dataloader"):
        loader = cfg.get(key)
        if isinstance(loader, dict) and isinstance(loader.get("dataset"), dict) \
                and loader["dataset"].get("type") in COCO_DATASET_TYPES:
            out.append(loader["dataset"])
    return out


def _shapes_args(spec: dict[str, Any]) -> dict[str, Any]:
    spec = dict(spec)
    args = {"num_train": int(spec.pop("num_train", 256)), "num_val": int(spec.pop("num_val", 64)),
            "size": int(spec.pop("size", 128)), "seed": int(spec.pop("seed", 0))}
    if "object_sizes" in spec:
        spec["object_sizes"] = tuple(spec["object_sizes"])
    return {**args, **spec}


def synthetic_shapes_banner(out: str | Path, spec: dict[str, Any], generated: bool) -> str:
    """The unmissable log message of a detection run on synthetic shapes."""
    a = _shapes_args(spec)
    rule = "!" * 100
    return (
        f"\n{rule}\n!!! SYNTHETIC DATA: data_root is not set, so this run uses synthetic shapes (circles, rectangles, "
        f"triangles; {a['num_train']} train / {a['num_val']} val images of {a['size']}x{a['size']}, seed {a['seed']}),\n"
        f"!!! {'GENERATED' if generated else 'REUSED'} in {out} (COCO JSON + PNGs).\n"
        f"!!! Scores on synthetic shapes say nothing about COCO. Train on real data with --cfg-options data_root=/path/to/coco\n"
        f"{rule}"
    )


def resolve_coco_data_root(cfg: Config, rank: int = 0) -> str | None:
    """Give COCO datasets the config's ``data_root``; generate the synthetic shapes if it is None and the config allows.

    Returns the synthetic-data banner to log, or None for real data.
    """
    datasets = _coco_datasets(cfg)
    if not datasets:
        return None
    return data_root_or_synthetic(
        cfg, datasets, spec_key="synthetic_shapes", folder="synthetic_shapes", what="shapes",
        real_hint="/path/to/coco (annotations/ and image folders)", tool="make_synthetic_coco.py",
        generate=_ensure_synthetic_shapes, banner=synthetic_shapes_banner, rank=rank)


DATA_ROOT_RESOLVERS.append(resolve_coco_data_root)


def _ensure_synthetic_shapes(out: Path, spec: dict[str, Any]) -> bool:
    """Write the synthetic shapes set of `spec` into `out` unless the same one is there; True if it wrote one."""
    args = _shapes_args(spec)
    if synthetic_coco_matches(out, **args):
        return False
    write_synthetic_coco(out, overwrite=True, **args)
    return True
