"""Synthetic detection data: coloured circles, rectangles and triangles on textured backgrounds, as COCO JSON + PNGs.

`write_synthetic_coco` writes the layout of a real COCO download, so the same `CocoDetection` loader
reads it::

    OUT/annotations/instances_train.json   OUT/train/000000.png ...
    OUT/annotations/instances_val.json     OUT/val/000000.png ...

The class is the shape; colour, size and background vary independently of it, so a detector has to
learn shape. Objects do not overlap (their boxes keep a small gap), every image is a pure function of
(seed, split, index), and the ``area`` of an annotation is its shape's pixel count.
"""
from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

__all__ = ["SHAPE_CATEGORIES", "SyntheticShapesConfig", "synthesize_shapes_image", "write_synthetic_coco", "synthetic_coco_matches"]

SHAPE_CATEGORIES: tuple[dict[str, Any], ...] = (
    {"id": 1, "name": "circle", "supercategory": "shape"},
    {"id": 2, "name": "rectangle", "supercategory": "shape"},
    {"id": 3, "name": "triangle", "supercategory": "shape"},
)
"""COCO categories of the synthetic set (ids 1-3, as COCO's ids start at 1)."""

_COLOURS = ((230, 40, 40), (40, 200, 60), (50, 90, 240), (250, 210, 30), (220, 60, 220), (30, 210, 220))
"""Saturated RGB object colours; backgrounds are kept dull so every colour stands out."""

_INFO = "synthetic_info.json"


@dataclass(frozen=True)
class SyntheticShapesConfig:
    """What the generator draws: image size, objects per image, object sizes (fractions of the image side)."""

    size: int = 128
    min_objects: int = 1
    max_objects: int = 4
    object_sizes: Sequence[float] = (0.2, 0.3, 0.4)
    size_jitter: float = 0.1
    colours: Sequence[tuple[int, int, int]] = field(default=_COLOURS)

    def __post_init__(self) -> None:
        if self.size < 32:
            raise ValueError(f"synthetic images need size >= 32 pixels, got {self.size}.")
        if not 0 <= self.min_objects <= self.max_objects:
            raise ValueError(f"need 0 <= min_objects <= max_objects, got {self.min_objects}, {self.max_objects}.")
        if not self.object_sizes or not all(0.05 <= s <= 0.9 for s in self.object_sizes):
            raise ValueError(f"object_sizes must be fractions of the image side in [0.05, 0.9], got {self.object_sizes}.")


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A dull textured background: a random linear gradient, low-frequency blobs and pixel noise."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * xx + np.sin(angle) * yy
    base = rng.uniform(60, 150, size=3)
    spread = rng.uniform(-50, 50, size=3)
    img = base[None, None] + spread[None, None] * (ramp - ramp.mean())[..., None]
    coarse = rng.normal(0, 12, size=(max(2, size // 16), max(2, size // 16), 3)).astype(np.float32)
    img += cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    img += rng.normal(0, rng.uniform(3, 10), size=img.shape)
    img = img.mean(-1, keepdims=True) * 0.5 + img * 0.5  # desaturate: objects carry the colour
    return np.clip(img, 0, 255).astype(np.uint8)


def _shape_mask(kind: str, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """A filled shape touching all four sides of a (h, w) box."""
    mask = np.zeros((h, w), np.uint8)
    if kind == "circle":
        cv2.ellipse(mask, (((w - 1) / 2, (h - 1) / 2), (float(w), float(h)), 0.0), 1, -1)
    elif kind == "rectangle":
        mask[:] = 1
    else:  # triangle: base on one side, apex on the opposite side at a random position
        apex = int(rng.integers(0, w))
        pts = np.array([[0, h - 1], [w - 1, h - 1], [apex, 0]], np.int32)
        if rng.random() < 0.5:  # point down
            pts[:, 1] = h - 1 - pts[:, 1]
        cv2.fillPoly(mask, [pts], 1)
    return mask


def _place(rng: np.random.Generator, size: int, w: int, h: int, boxes: list[tuple[int, int, int, int]],
           gap: int, tries: int = 50) -> tuple[int, int] | None:
    """Top-left corner for a (w, h) box inside the image that keeps `gap` pixels from every box so far."""
    for _ in range(tries):
        x, y = int(rng.integers(0, size - w + 1)), int(rng.integers(0, size - h + 1))
        if all(x + w + gap <= bx or bx + bw + gap <= x or y + h + gap <= by or by + bh + gap <= y
               for bx, by, bw, bh in boxes):
            return x, y
    return None


def synthesize_shapes_image(rng: np.random.Generator, cfg: SyntheticShapesConfig = SyntheticShapesConfig()
                            ) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """One RGB uint8 (size, size, 3) image and its objects: ``category_id``, ``bbox`` [x, y, w, h], ``area``."""
    size = cfg.size
    img = _background(rng, size)
    n = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
    boxes: list[tuple[int, int, int, int]] = []
    objects = []
    for _ in range(n):
        cat = SHAPE_CATEGORIES[int(rng.integers(len(SHAPE_CATEGORIES)))]
        side = cfg.object_sizes[int(rng.integers(len(cfg.object_sizes)))] * size
        w, h = (max(6, int(round(side * (1 + rng.uniform(-cfg.size_jitter, cfg.size_jitter))))) for _ in range(2))
        w, h = min(w, size), min(h, size)
        corner = _place(rng, size, w, h, boxes, gap=max(2, size // 64))
        if corner is None:
            continue
        x, y = corner
        mask = _shape_mask(cat["name"], w, h, rng).astype(bool)
        colour = np.asarray(cfg.colours[int(rng.integers(len(cfg.colours)))], np.float32)
        shade = colour * rng.uniform(0.85, 1.0) + rng.normal(0, 6, size=(h, w, 3))
        patch = img[y:y + h, x:x + w]
        patch[mask] = np.clip(shade[mask], 0, 255).astype(np.uint8)
        boxes.append((x, y, w, h))
        objects.append({"category_id": cat["id"], "bbox": [float(x), float(y), float(w), float(h)],
                        "area": float(mask.sum())})
    return img, objects


def _split_json(split: str, n: int, cfg: SyntheticShapesConfig, seed: int, out: Path) -> dict[str, Any]:
    images, annotations = [], []
    img_dir = out / split
    img_dir.mkdir(parents=True, exist_ok=True)
    split_key = {"train": 0, "val": 1}.get(split, 2)
    for i in range(n):
        rng = np.random.default_rng([seed, split_key, i])
        img, objects = synthesize_shapes_image(rng, cfg)
        name = f"{i:06d}.png"
        if not cv2.imwrite(str(img_dir / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR)):
            raise OSError(f"could not write {img_dir / name}")
        image_id = i + 1
        images.append({"id": image_id, "file_name": name, "width": cfg.size, "height": cfg.size})
        for obj in objects:
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "iscrowd": 0, **obj})
    return {
        "info": {"description": f"visionzoo synthetic shapes ({split}), seed {seed}", "version": "1.0"},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [dict(c) for c in SHAPE_CATEGORIES],
    }


def write_synthetic_coco(out: str | Path, num_train: int = 256, num_val: int = 64, size: int = 128, seed: int = 0,
                         overwrite: bool = False, **shape_kwargs: Any) -> dict[str, Path]:
    """Write train and val splits of synthetic shapes under `out` in the COCO layout (see the module docstring).

    `shape_kwargs` are further `SyntheticShapesConfig` fields. Returns the annotation file of each split.
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{out} exists and is not empty; pass overwrite=True (--overwrite) to replace it.")
        for sub in ("annotations", "train", "val"):
            shutil.rmtree(out / sub, ignore_errors=True)
    cfg = SyntheticShapesConfig(size=size, **shape_kwargs)
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    files = {}
    for split, n in (("train", num_train), ("val", num_val)):
        path = out / "annotations" / f"instances_{split}.json"
        path.write_text(json.dumps(_split_json(split, n, cfg, seed, out)))
        files[split] = path
    info = {"num_train": num_train, "num_val": num_val, "seed": seed, **asdict(cfg)}
    (out / _INFO).write_text(json.dumps(info, indent=2, default=list) + "\n")
    return files


def synthetic_coco_matches(out: str | Path, num_train: int, num_val: int, size: int, seed: int, **shape_kwargs: Any) -> bool:
    """Whether `out` already holds the set `write_synthetic_coco` would write with these arguments."""
    try:
        info = json.loads((Path(out) / _INFO).read_text())
    except (OSError, ValueError):
        return False
    want = json.loads(json.dumps({"num_train": num_train, "num_val": num_val, "seed": seed,
                                  **asdict(SyntheticShapesConfig(size=size, **shape_kwargs))}, default=list))
    return info == want and all((Path(out) / "annotations" / f"instances_{s}.json").is_file() for s in ("train", "val"))
