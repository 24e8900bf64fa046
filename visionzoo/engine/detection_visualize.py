"""Detection outputs: PNGs with predicted boxes, labels and scores (`draw_detections`), and `SaveDetectionsHook`.

`tools/test.py --show-dir DIR` writes one PNG per image (the original file, ground truth in thin white,
predictions above `score_thr` in a colour per class); ``--save-preds DIR`` writes the COCO results file
``DIR/detections.json`` (image_id, category_id, bbox xywh, score), plus the PNGs unless --show-dir takes them.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from mmengine.hooks import Hook

from visionzoo.data import read_coco_image

from .checkpoint import atomic_write_text
from .registry import HOOKS

__all__ = ["draw_detections", "save_detections_png", "SaveDetectionsHook", "CLASS_COLOURS"]

CLASS_COLOURS = ((230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
                 (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212))
"""RGB box colour of label ``k`` is ``CLASS_COLOURS[k % 10]``."""


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def draw_detections(image: np.ndarray, boxes, scores, labels, class_names: Sequence[str] | None = None,
                    score_thr: float = 0.5, gt_boxes=None, min_size: int = 256) -> np.ndarray:
    """RGB uint8 copy of `image` with xyxy pixel `boxes` (score >= `score_thr`) labelled "name score".

    `gt_boxes` (xyxy pixels) are drawn first in thin white. Small images are upscaled so the short side is
    at least `min_size` pixels and the text stays legible.
    """
    img = np.ascontiguousarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"draw_detections expects an RGB uint8 (H, W, 3) image, got {img.dtype} {img.shape}.")
    scale = max(1.0, min_size / min(img.shape[:2]))
    if scale > 1:
        img = cv2.resize(img, (round(img.shape[1] * scale), round(img.shape[0] * scale)), interpolation=cv2.INTER_NEAREST)
    else:
        img = img.copy()
    if gt_boxes is not None:
        for b in _np(gt_boxes).reshape(-1, 4) * scale:
            cv2.rectangle(img, (int(b[0]), int(b[1])), (int(b[2]), int(b[3])), (255, 255, 255), 1, cv2.LINE_AA)
    boxes, scores, labels = _np(boxes).reshape(-1, 4) * scale, _np(scores).reshape(-1), _np(labels).reshape(-1)
    for i in np.argsort(scores, kind="stable"):  # highest score drawn last (on top)
        if scores[i] < score_thr:
            continue
        k = int(labels[i])
        colour = CLASS_COLOURS[k % len(CLASS_COLOURS)]
        x0, y0, x1, y1 = (int(round(v)) for v in boxes[i])
        cv2.rectangle(img, (x0, y0), (x1, y1), colour, 2, cv2.LINE_AA)
        name = class_names[k] if class_names is not None and 0 <= k < len(class_names) else str(k)
        text = f"{name} {scores[i]:.2f}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
        ty = max(y0, th + base + 1)
        cv2.rectangle(img, (x0, ty - th - base - 1), (x0 + tw + 2, ty), colour, -1)
        cv2.putText(img, text, (x0 + 1, ty - base), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return img


def save_detections_png(path: str | Path, image: np.ndarray, boxes, scores, labels,
                        class_names: Sequence[str] | None = None, score_thr: float = 0.5, gt_boxes=None) -> Path:
    """Write `draw_detections` as a PNG at `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    drawn = draw_detections(image, boxes, scores, labels, class_names, score_thr, gt_boxes)
    if not cv2.imwrite(str(path), cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path} (is the folder writable?)")
    return path


def _gt_xyxy(sample: dict) -> np.ndarray | None:
    """Ground-truth boxes of a data sample (normalised cxcywh) in pixels of the original image."""
    if "boxes" not in sample or "orig_size" not in sample:
        return None
    b = _np(sample["boxes"]).reshape(-1, 4).astype(np.float64)
    h, w = (float(v) for v in sample["orig_size"])
    xyxy = np.concatenate([b[:, :2] - b[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2], 1)
    return xyxy * np.array([w, h, w, h])


@HOOKS.register_module()
class SaveDetectionsHook(Hook):
    """After each test batch, draw each image's detections into `png_dir` and/or collect COCO results for `pred_dir`."""

    priority = "LOW"

    def __init__(self, pred_dir: str | None = None, png_dir: str | None = None, score_thr: float = 0.5) -> None:
        if pred_dir is None and png_dir is None:
            raise ValueError("SaveDetectionsHook needs pred_dir and/or png_dir.")
        self.pred_dir = Path(pred_dir) if pred_dir else None
        self.png_dir = Path(png_dir) if png_dir else None
        self.score_thr = float(score_thr)
        self.results: list[dict] = []
        self.count = 0

    def before_test(self, runner) -> None:
        self.results, self.count = [], 0

    def after_test_iter(self, runner, batch_idx: int, data_batch: dict | None = None, outputs=None) -> None:
        meta = getattr(runner.test_dataloader.dataset, "metainfo", {}) or {}
        names, label_to_cat = meta.get("classes"), meta.get("label_to_cat") or {}
        for sample in outputs or []:
            image_id = sample.get("image_id", self.count)
            if self.png_dir is not None:
                image = read_coco_image(sample["img_path"])
                save_detections_png(self.png_dir / f"{Path(sample['img_path']).stem}.png", image, sample["pred_boxes"],
                                    sample["pred_scores"], sample["pred_labels"], names, self.score_thr, _gt_xyxy(sample))
            if self.pred_dir is not None:
                for b, s, k in zip(_np(sample["pred_boxes"]), _np(sample["pred_scores"]), _np(sample["pred_labels"])):
                    self.results.append({"image_id": int(image_id), "category_id": int(label_to_cat.get(int(k), int(k))),
                                         "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])],
                                         "score": float(s)})
            self.count += 1

    def after_test(self, runner) -> None:
        where = []
        if self.pred_dir is not None:
            path = self.pred_dir / "detections.json"
            atomic_write_text(path, json.dumps(self.results) + "\n")
            where.append(f"COCO results in {path}")
        if self.png_dir is not None:
            where.append(f"PNGs with boxes in {self.png_dir}")
        runner.logger.info(f"saved detections of {self.count} image(s): " + "; ".join(where))
