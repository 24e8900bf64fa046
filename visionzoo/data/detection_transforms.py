"""Box-aware detection transforms (albumentations): DETR's multi-scale resize, random size crop, flip, normalise.

`detection_transforms` builds the published DETR pipelines (facebookresearch/detr ``make_coco_transforms``):

- train: horizontal flip; then with probability 1/2 a resize of the shorter side to one of `scales`
  (longer side capped at `max_size`), otherwise a resize to one of `crop_resize`, a random crop with
  sides in `crop_size`, and the multi-scale resize again; normalise.
- val/test: the shorter side to `test_size` (longer side capped at `max_size`); normalise.

Boxes go in as absolute pixels (``bbox_format`` "coco" = x, y, w, h or "pascal_voc" = x0, y0, x1, y1) and
come out as float32 normalised (cx, cy, w, h) of the transformed image, the targets DETR trains on. A crop
clips boxes to it and drops those left with less than `min_visibility` of their area (or none).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import albumentations as A
import cv2
import numpy as np
import torch
from albumentations.augmentations.crops.transforms import BaseCrop
from albumentations.augmentations.geometric import functional as fgeometric
from albumentations.core.transforms_interface import BaseTransformInitSchema, DualTransform
from albumentations.pytorch import ToTensorV2

__all__ = [
    "DETR_SCALES", "IMAGENET_MEAN", "IMAGENET_STD", "RandomShortestSide", "RandomSizeCrop", "DetectionTransform",
    "detection_transforms", "xywh_to_cxcywh_normalised",
]

DETR_SCALES = (480, 512, 544, 576, 608, 640, 672, 704, 736, 768, 800)
"""Shorter-side sizes of DETR's multi-scale training."""
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_BBOX_FORMATS = ("coco", "pascal_voc")


class RandomShortestSide(DualTransform):
    """Resize so the shorter side is a random choice of `sizes`, unless that makes the longer side exceed `max_size`.

    Then the longer side is `max_size` instead (DETR's ``RandomResize(scales, max_size)``); aspect ratio is kept.
    """

    class InitSchema(BaseTransformInitSchema):
        sizes: Sequence[int]
        max_size: int | None

    def __init__(self, sizes: Sequence[int], max_size: int | None = None, p: float = 1.0) -> None:
        super().__init__(p=p)
        self.sizes = tuple(int(s) for s in sizes)
        self.max_size = max_size

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        h, w = params["shape"][:2]
        size = self.py_random.choice(self.sizes)
        short, long = min(h, w), max(h, w)
        if self.max_size is not None and long / short * size > self.max_size:
            size = int(round(self.max_size * short / long))
        if w <= h:
            new_w, new_h = size, int(size * h / w)
        else:
            new_h, new_w = size, int(size * w / h)
        return {"new_hw": (new_h, new_w)}

    def apply(self, img: np.ndarray, new_hw: tuple[int, int], **params: Any) -> np.ndarray:
        return fgeometric.resize(img, new_hw, interpolation=cv2.INTER_LINEAR)

    def apply_to_bboxes(self, bboxes: np.ndarray, **params: Any) -> np.ndarray:
        return bboxes  # albumentations keeps boxes normalised internally: a resize leaves them unchanged

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("sizes", "max_size")


class RandomSizeCrop(BaseCrop):
    """A crop of random width and height in [`min_size`, min(side, `max_size`)] at a random position (DETR's)."""

    class InitSchema(BaseTransformInitSchema):
        min_size: int
        max_size: int

    def __init__(self, min_size: int, max_size: int, p: float = 1.0) -> None:
        super().__init__(p=p)
        if not 0 < min_size <= max_size:
            raise ValueError(f"RandomSizeCrop needs 0 < min_size <= max_size, got {min_size}, {max_size}.")
        self.min_size, self.max_size = int(min_size), int(max_size)

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        h, w = params["shape"][:2]
        cw = self.py_random.randint(min(self.min_size, w), min(w, self.max_size))
        ch = self.py_random.randint(min(self.min_size, h), min(h, self.max_size))
        x0, y0 = self.py_random.randint(0, w - cw), self.py_random.randint(0, h - ch)
        return {"crop_coords": (x0, y0, x0 + cw, y0 + ch)}

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("min_size", "max_size")


def xywh_to_cxcywh_normalised(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Absolute (x, y, w, h) pixel boxes -> float32 (cx, cy, w, h) divided by the image width and height."""
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    scale = np.array([width, height, width, height], np.float32)
    return np.concatenate([b[:, :2] + b[:, 2:] / 2, b[:, 2:]], 1) / scale


class DetectionTransform:
    """``(image HWC uint8 RGB, boxes (n, 4) pixels, labels (n,)) -> (image (3, H, W) float, boxes cxcywh in [0, 1], labels)``.

    Wraps an albumentations ``Compose`` (its own random state: `set_random_state` re-seeds it, which the
    engine's resumable sampler does per draw).
    """

    def __init__(self, transforms: Sequence[A.BasicTransform], bbox_format: str = "coco",
                 min_visibility: float = 0.0, seed: int | None = None) -> None:
        if bbox_format not in _BBOX_FORMATS:
            raise ValueError(f"bbox_format must be one of {_BBOX_FORMATS}, got {bbox_format!r}.")
        self.bbox_format = bbox_format
        # without a geometric transform the boxes pass through unchanged (albumentations would warn)
        self.geometric = any(isinstance(t, (A.DualTransform, A.BaseCompose)) for t in transforms)
        bbox_params = A.BboxParams(format=bbox_format, label_fields=["labels"], min_visibility=min_visibility,
                                   clip=True) if self.geometric else None
        self.compose = A.Compose(list(transforms), bbox_params=bbox_params, seed=seed)

    def set_random_state(self, seed: int | None = None) -> None:
        """Re-seed the augmentation (same seed, same draw)."""
        self.compose.set_random_seed(seed)

    def __call__(self, image: np.ndarray, boxes: np.ndarray, labels: np.ndarray
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        labels = np.asarray(labels, np.int64).reshape(-1)
        if self.geometric:
            out = self.compose(image=image, bboxes=boxes, labels=labels)
        else:
            out = {**self.compose(image=image), "bboxes": boxes, "labels": labels}
        img = out["image"]
        h, w = img.shape[-2:]
        b = np.asarray(out["bboxes"], np.float32).reshape(-1, 4)
        if self.bbox_format == "pascal_voc":
            b = np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], 1)
        keep = (b[:, 2] > 0) & (b[:, 3] > 0)
        b = xywh_to_cxcywh_normalised(b[keep], h, w)
        labels_out = np.asarray(out["labels"], np.int64).reshape(-1)[keep]
        return img, torch.from_numpy(np.clip(b, 0.0, 1.0)), torch.from_numpy(labels_out)

    def __repr__(self) -> str:
        return f"DetectionTransform({self.compose!r})"


def detection_transforms(
    mode: str = "train",
    scales: Sequence[int] = DETR_SCALES,
    max_size: int | None = 1333,
    crop: bool = True,
    crop_resize: Sequence[int] = (400, 500, 600),
    crop_size: tuple[int, int] = (384, 600),
    flip_prob: float = 0.5,
    test_size: int | None = 800,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    bbox_format: str = "coco",
    min_visibility: float = 0.0,
    seed: int | None = None,
) -> DetectionTransform:
    """The DETR pipeline for `mode` "train" or "val"/"test" (see the module docstring; defaults are the published ones).

    `test_size=None` evaluates at the stored size (no resize); `crop=False` trains with resize and flip only.
    """
    if mode not in ("train", "val", "test"):
        raise ValueError(f"mode must be 'train', 'val' or 'test', got {mode!r}.")
    ops: list[A.BasicTransform] = []
    if mode == "train":
        if flip_prob > 0:
            ops.append(A.HorizontalFlip(p=flip_prob))
        resize = RandomShortestSide(scales, max_size)
        if crop:
            crop_branch = A.Sequential([RandomShortestSide(crop_resize), RandomSizeCrop(*crop_size),
                                        RandomShortestSide(scales, max_size)], p=1.0)
            ops.append(A.OneOf([resize, crop_branch], p=1.0))
        else:
            ops.append(resize)
    elif test_size is not None:
        ops.append(RandomShortestSide([test_size], max_size))
    ops += [A.Normalize(mean=tuple(mean), std=tuple(std), max_pixel_value=255.0), ToTensorV2()]
    return DetectionTransform(ops, bbox_format=bbox_format, min_visibility=min_visibility, seed=seed)
