"""`CocoDetection`: a COCO-format detection dataset (instances JSON + image folder) for set-prediction detectors.

Each item is a dict::

    image      float (3, H, W) after the transform (uint8 (H, W, 3) RGB without one)
    boxes      (n, 4) float32 — normalised (cx, cy, w, h) in [0, 1] with a transform; absolute xywh without
    labels     (n,) int64 — contiguous 0..K-1 (``label_mode="contiguous"``) or the raw COCO category id
               (``label_mode="category_id"``, what ``detr_r50``'s 91 classes expect)
    image_id, orig_size (h, w), size (h, w) after the transform, img_path

The annotations are checked once, when the dataset is built: boxes reaching outside their image are clipped
to it, boxes with no area left are dropped (one warning counts both), crowd regions are left out of the
training targets (COCOeval reads them from the JSON), images without objects are kept, and category ids
missing from ``categories`` or annotations of unknown images are a `DataFormatError` naming them. A
missing, unreadable or wrongly sized image file is a `DataFormatError` naming the file when it is loaded.
"""
from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from torch.utils.data import Dataset

from .formats import DataFormatError

__all__ = ["CocoDetection", "CocoAnnotationStats", "LABEL_MODES", "read_coco_image"]

LABEL_MODES = ("contiguous", "category_id")


@dataclass
class CocoAnnotationStats:
    """What loading changed in the annotations: boxes clipped to their image, boxes dropped, crowds left out."""

    clipped: int = 0
    dropped: int = 0
    crowd: int = 0
    empty_images: int = 0

    def message(self, source: str) -> str | None:
        if not (self.clipped or self.dropped):
            return None
        return (f"{source}: clipped {self.clipped} box(es) reaching outside their image and dropped {self.dropped} "
                f"box(es) with zero area (after clipping).")


def read_coco_image(path: str | Path, expected_hw: tuple[int, int] | None = None) -> np.ndarray:
    """RGB uint8 (H, W, 3) of an image file; `DataFormatError` naming the file if it is missing, corrupt or mis-sized."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"image file {str(path)!r} does not exist.")
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise DataFormatError(f"image file {str(path)!r} is empty or not a readable image (corrupt?).")
    if expected_hw is not None and tuple(img.shape[:2]) != tuple(expected_hw):
        raise DataFormatError(
            f"image file {str(path)!r} is {img.shape[0]}x{img.shape[1]} (HxW) but the annotation file says "
            f"{expected_hw[0]}x{expected_hw[1]}."
        )
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _load_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"COCO annotation file {str(path)!r} does not exist.")
    try:
        data = json.loads(path.read_text())
    except ValueError as e:
        raise DataFormatError(f"{path}: not valid JSON ({e}).") from None
    missing = [k for k in ("images", "annotations", "categories") if not isinstance(data.get(k), list)]
    if missing:
        raise DataFormatError(f"{path}: a COCO instances file needs lists {missing} (found keys {sorted(data)}).")
    return data


class CocoDetection(Dataset):
    """Images of a COCO instances file with their boxes and labels (see the module docstring).

    Args:
        ann_file: the instances JSON (``images``, ``annotations``, ``categories``).
        img_dir: folder the images' ``file_name`` are relative to.
        transform: ``transform(image, boxes_xywh, labels) -> (image, boxes_cxcywh_normalised, labels)``,
            e.g. `visionzoo.data.detection_transforms`.
        label_mode: "contiguous" (labels 0..K-1 in category id order) or "category_id" (raw ids).
        filter_empty: leave out images without (non-crowd) objects, as DETR's training set does not.
    """

    def __init__(self, ann_file: str | Path, img_dir: str | Path,
                 transform: Callable[..., tuple[Any, Any, Any]] | None = None,
                 label_mode: str = "contiguous", filter_empty: bool = False) -> None:
        if label_mode not in LABEL_MODES:
            raise ValueError(f"label_mode must be one of {LABEL_MODES}, got {label_mode!r}.")
        self.ann_file = Path(ann_file)
        self.img_dir = Path(img_dir)
        if not self.img_dir.is_dir():
            raise FileNotFoundError(f"image folder {str(self.img_dir)!r} does not exist.")
        self.transform = transform
        self.label_mode = label_mode
        data = _load_json(self.ann_file)
        self.categories = sorted(data["categories"], key=lambda c: c["id"])
        self.cat_ids = [int(c["id"]) for c in self.categories]
        if len(set(self.cat_ids)) != len(self.cat_ids):
            raise DataFormatError(f"{self.ann_file}: duplicate category ids {self.cat_ids}.")
        self.cat_to_label = {cid: (i if label_mode == "contiguous" else cid) for i, cid in enumerate(self.cat_ids)}
        self.label_to_cat = {label: cid for cid, label in self.cat_to_label.items()}
        self.class_names = tuple(str(c.get("name", c["id"])) for c in self.categories)
        self.stats = CocoAnnotationStats()
        self.images, self.targets = self._index(data)
        if filter_empty:
            keep = [i for i, t in enumerate(self.targets) if len(t["labels"])]
            self.images = [self.images[i] for i in keep]
            self.targets = [self.targets[i] for i in keep]
        msg = self.stats.message(str(self.ann_file))
        if msg:
            warnings.warn(msg, stacklevel=2)

    @property
    def num_classes(self) -> int:
        """Classifier outputs the labels need (without no-object): K, or max category id + 1 for raw ids."""
        return len(self.cat_ids) if self.label_mode == "contiguous" else max(self.cat_ids, default=0) + 1

    def _index(self, data: dict[str, Any]) -> tuple[list[dict], list[dict]]:
        images = []
        for img in data["images"]:
            try:
                images.append({"id": int(img["id"]), "file_name": str(img["file_name"]),
                               "height": int(img["height"]), "width": int(img["width"])})
            except (KeyError, TypeError, ValueError):
                raise DataFormatError(f"{self.ann_file}: image entry {img!r} needs id, file_name, height and width.") from None
        pos = {img["id"]: i for i, img in enumerate(images)}
        if len(pos) != len(images):
            raise DataFormatError(f"{self.ann_file}: duplicate image ids.")
        per_image: list[list[tuple[list[float], int]]] = [[] for _ in images]
        unknown_cats: dict[int, list] = {}
        unknown_imgs: list = []
        known = set(self.cat_ids)
        for ann in data["annotations"]:
            cid, iid = ann.get("category_id"), ann.get("image_id")
            if cid not in known:
                unknown_cats.setdefault(cid, []).append(ann.get("id"))
                continue
            if iid not in pos:
                unknown_imgs.append(ann.get("id"))
                continue
            bbox = ann.get("bbox")
            if not (isinstance(bbox, (list, tuple)) and len(bbox) == 4 and all(np.isfinite(v) for v in bbox)):
                raise DataFormatError(f"{self.ann_file}: annotation {ann.get('id')} has bbox {bbox!r}, not 4 finite numbers.")
            if ann.get("iscrowd", 0):
                self.stats.crowd += 1
                continue
            per_image[pos[iid]].append((self._clip(bbox, images[pos[iid]]), cid))
        if unknown_cats:
            detail = "; ".join(f"category_id {c!r} in annotation(s) {ids[:5]}" for c, ids in sorted(unknown_cats.items(), key=str))
            raise DataFormatError(f"{self.ann_file}: category ids not among its categories {self.cat_ids}: {detail}.")
        if unknown_imgs:
            raise DataFormatError(f"{self.ann_file}: annotation(s) {unknown_imgs[:5]} refer to image ids not in 'images'.")
        targets = []
        for objs in per_image:
            objs = [(b, c) for b, c in objs if b is not None]
            self.stats.empty_images += not objs
            boxes = np.asarray([b for b, _ in objs], np.float32).reshape(-1, 4)
            labels = np.asarray([self.cat_to_label[c] for _, c in objs], np.int64)
            targets.append({"boxes": boxes, "labels": labels})
        return images, targets

    def _clip(self, bbox: list[float], img: dict) -> list[float] | None:
        """The xywh box clipped to its image, or None (counted as dropped) if no area is left."""
        x0, y0, w, h = (float(v) for v in bbox)
        x1, y1 = x0 + w, y0 + h
        cx0, cy0 = min(max(x0, 0.0), img["width"]), min(max(y0, 0.0), img["height"])
        cx1, cy1 = min(max(x1, 0.0), img["width"]), min(max(y1, 0.0), img["height"])
        if cx1 <= cx0 or cy1 <= cy0:
            self.stats.dropped += 1
            return None
        if (cx0, cy0, cx1, cy1) != (x0, y0, x1, y1):
            self.stats.clipped += 1
        return [cx0, cy0, cx1 - cx0, cy1 - cy0]

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        return (f"CocoDetection({str(self.ann_file)!r}, images={len(self)}, classes={len(self.cat_ids)}, "
                f"label_mode={self.label_mode!r})")

    def __getitem__(self, index: int) -> dict[str, Any]:
        info, target = self.images[index], self.targets[index]
        path = self.img_dir / info["file_name"]
        image = read_coco_image(path, (info["height"], info["width"]))
        boxes, labels = target["boxes"].copy(), target["labels"].copy()
        if self.transform is not None:
            image, boxes, labels = self.transform(image, boxes, labels)
        size = tuple(image.shape[-2:]) if self.transform is not None else tuple(image.shape[:2])
        return {"image": image, "boxes": boxes, "labels": labels, "image_id": info["id"],
                "orig_size": (info["height"], info["width"]), "size": size, "img_path": str(path)}
