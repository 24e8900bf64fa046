"""`CocoMetric`: COCO box AP through pycocotools' ``COCOeval`` (AP, AP50, AP75, AP small/medium/large, AR@100).

Predictions are `Detector` outputs (absolute xyxy boxes of the original image, scores, contiguous or raw
labels); labels are mapped back to the annotation file's category ids with the dataset's ``label_to_cat``
and scored against the annotation file itself, crowd regions and areas included, as the official
evaluation does. Only the images that were predicted are evaluated (so a subset run scores that subset).
"""
from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from .registry import METRICS

__all__ = ["CocoMetric", "COCO_METRIC_NAMES", "coco_evaluate"]

COCO_METRIC_NAMES = ("bbox_mAP", "bbox_mAP_50", "bbox_mAP_75", "bbox_mAP_s", "bbox_mAP_m", "bbox_mAP_l",
                     "bbox_AR_1", "bbox_AR_10", "bbox_AR_100")
"""Metric keys, in the order of ``COCOeval.stats`` (AR small/medium/large are left out)."""


def coco_evaluate(ann_file: str | Path | dict, detections: list[dict[str, Any]], img_ids: Sequence[int] | None = None
                  ) -> tuple[dict[str, float], str]:
    """Box AP of `detections` (COCO results: image_id, category_id, bbox xywh, score) against `ann_file`.

    Returns the metrics (`COCO_METRIC_NAMES`) and pycocotools' printed summary. No detections score 0.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        if isinstance(ann_file, dict):
            gt = COCO()
            gt.dataset = ann_file
            gt.createIndex()
        else:
            gt = COCO(str(ann_file))
    if not detections:
        return {k: 0.0 for k in COCO_METRIC_NAMES}, "no detections"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        dt = gt.loadRes(detections)
        ev = COCOeval(gt, dt, iouType="bbox")
        if img_ids is not None:
            ev.params.imgIds = sorted(int(i) for i in img_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = [float(v) for v in ev.stats]
    picks = (0, 1, 2, 3, 4, 5, 6, 7, 8)
    return {name: stats[i] for name, i in zip(COCO_METRIC_NAMES, picks)}, buf.getvalue()


@METRICS.register_module()
class CocoMetric(BaseMetric):
    """COCO box AP of a `Detector`'s predictions (keys `COCO_METRIC_NAMES`, e.g. ``bbox_mAP_50``).

    Args:
        ann_file: the instances JSON to score against; default the dataset's (``dataset_meta["ann_file"]``).
        label_to_cat: label -> category id; default the dataset's (identity when neither is given).
        max_dets: keep each image's `max_dets` highest-scoring boxes (COCO counts at most 100).
    """

    default_prefix: str | None = ""  # plain keys (bbox_mAP, ...): what save_best and the table use

    def __init__(self, ann_file: str | None = None, label_to_cat: dict[int, int] | None = None, max_dets: int = 100,
                 collect_device: str = "cpu", prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.ann_file = ann_file
        self.label_to_cat = {int(k): int(v) for k, v in label_to_cat.items()} if label_to_cat else None
        self.max_dets = int(max_dets)
        self.summary = ""

    def _cat(self, label: int) -> int:
        mapping = self.label_to_cat
        if mapping is None and self.dataset_meta:
            mapping = {int(k): int(v) for k, v in (self.dataset_meta.get("label_to_cat") or {}).items()} or None
        return mapping.get(label, label) if mapping else label

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            scores = np.asarray(sample["pred_scores"], np.float64).reshape(-1)
            boxes = np.asarray(sample["pred_boxes"], np.float64).reshape(-1, 4)
            labels = np.asarray(sample["pred_labels"]).reshape(-1)
            order = np.argsort(-scores, kind="stable")[: self.max_dets]
            dets = []
            for i in order:
                x0, y0, x1, y1 = boxes[i]
                dets.append({"image_id": int(sample["image_id"]), "category_id": self._cat(int(labels[i])),
                             "bbox": [x0, y0, x1 - x0, y1 - y0], "score": float(scores[i])})
            self.results.append({"image_id": int(sample["image_id"]), "detections": dets})

    def compute_metrics(self, results: list[dict]) -> dict[str, float]:
        ann_file = self.ann_file or (self.dataset_meta or {}).get("ann_file")
        if not ann_file:
            raise ValueError("CocoMetric needs ann_file (or a dataset whose metainfo names it, as CocoDetDataset's does).")
        if not results:
            return {}
        detections = [d for r in results for d in r["detections"]]
        metrics, self.summary = coco_evaluate(ann_file, detections, img_ids={r["image_id"] for r in results})
        print_log(f"COCO box evaluation of {len(results)} image(s):\n{self.summary}", logger="current")
        return metrics
