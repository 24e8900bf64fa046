"""DETR through the tools (in-process, to stay fast): make_synthetic_coco.py, a tiny train.py run, test.py --show-dir."""
from __future__ import annotations

import csv
import json

import cv2
import pytest

from visionzoo.engine import COCO_METRIC_NAMES

from .conftest import REPO, load_tool

TINY_DETR = REPO / "tests" / "tools" / "configs" / "tiny_detr_shapes.py"


def test_make_synthetic_coco_writes_the_coco_layout(tmp_path, capsys):
    tool = load_tool("make_synthetic_coco")
    out = tmp_path / "shapes"
    assert tool.main([str(out), "--num-train", "3", "--num-val", "2", "--size", "48", "--seed", "4", "--max-objects", "2"]) == 0
    assert "instances_train.json" in capsys.readouterr().out
    data = json.loads((out / "annotations" / "instances_val.json").read_text())
    assert len(data["images"]) == 2 and {c["name"] for c in data["categories"]} == {"circle", "rectangle", "triangle"}
    assert all(cv2.imread(str(out / "val" / im["file_name"])).shape == (48, 48, 3) for im in data["images"])
    assert tool.main([str(out)]) == 2  # an existing dataset: one error line, no traceback
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--overwrite" in err and len(err.strip().splitlines()) == 1


def test_tiny_detr_trains_then_tests_with_boxes_drawn(tmp_path, capsys):
    work = tmp_path / "work"
    assert load_tool("train").main([str(TINY_DETR), "--work-dir", str(work)]) == 0
    log = "".join(p.read_text() for p in work.glob("*/*.log"))
    assert "SYNTHETIC DATA" in log and "loss_giou" in log and "bbox_mAP_50" in log
    ckpt = work / "latest.pth"
    assert ckpt.exists()
    capsys.readouterr()

    show, preds, out = tmp_path / "show", tmp_path / "preds", tmp_path / "metrics.json"
    code = load_tool("test").main([
        str(TINY_DETR), str(ckpt), "--work-dir", str(tmp_path / "test"), "--out", str(out), "--show-dir", str(show),
        "--save-preds", str(preds), "--cfg-options", f"data_root={work / 'synthetic_shapes'}",
    ])
    printed = capsys.readouterr().out
    assert code == 0 and "bbox_mAP_50" in printed and "metric" in printed and "Dice" not in printed
    saved = json.loads(out.read_text())
    assert set(COCO_METRIC_NAMES) <= set(saved["metrics"]) and 0 <= saved["metrics"]["bbox_mAP"] <= 1
    with open(out.with_suffix(".csv")) as f:
        assert [r["metric"] for r in csv.DictReader(f)][:2] == ["bbox_mAP", "bbox_mAP_50"]
    pngs = sorted(show.glob("*.png"))
    assert len(pngs) == 3 and all(cv2.imread(str(p)).shape[:2] == (256, 256) for p in pngs)  # 64 px upscaled
    dets = json.loads((preds / "detections.json").read_text())
    assert len(dets) == 3 * 4 and {d["category_id"] for d in dets} <= {1, 2, 3}  # 4 queries per image, COCO ids
    assert all(len(d["bbox"]) == 4 and 0 <= d["score"] <= 1 for d in dets)
