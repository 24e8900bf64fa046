"""tools/infer.py on the tiny runs of the three tasks: the predictions are the ones tools/test.py and create_model make.

Swin UNETR uses the shared BraTS run (`trained_run`), DETR the run test_chain.py shares (same `once` name), and
classification a tiny ResNet trained here once per session on a generated 3-class ImageFolder.
"""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import cv2
import nibabel as nib
import numpy as np
import pytest
import torch

import visionzoo as vz
from visionzoo.data import BratsDataset, labels_to_regions, read_image
from visionzoo.engine import load_config
from visionzoo.engine.classification_data import model_data_config

from .cls_files import CLASSES
from .conftest import REPO, TINY_CONFIG, load_tool, once, run_tool

TINY_DETR = REPO / "tests" / "tools" / "configs" / "tiny_detr_shapes.py"
TINY_CLS = REPO / "tests" / "tools" / "configs" / "tiny_cls.py"


# ---------------------------------------------------------------- shared runs


def _train_detr(out: Path) -> None:  # exactly test_chain.py's, so one session trains it once
    run_tool(["tools/train.py", str(TINY_DETR), "--work-dir", str(out / "work")])


@pytest.fixture(scope="session")
def shared_detr_run(shared_root) -> Path:
    return once(shared_root, "chain_detr", _train_detr) / "work"


def _infer(args: list[str], capsys) -> tuple[int, str, str]:
    code = load_tool("infer").main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ---------------------------------------------------------------- 3D segmentation


def test_segmentation_writes_the_test_tool_predictions_for_case_folders_and_4d_nifti(trained_run, tmp_path, capsys):
    ckpt, data_root = trained_run / "latest.pth", trained_run / "synthetic_brats"
    test_preds = tmp_path / "test_preds"
    assert load_tool("test").main([str(TINY_CONFIG), str(ckpt), "--work-dir", str(tmp_path / "test"),
                                   "--save-preds", str(test_preds), "--cfg-options", f"data_root={data_root}"]) == 0
    (case,) = BratsDataset(data_root, split="val", fold=0).cases  # what tools/test.py predicted
    flair, t1ce, t1, t2 = (nib.load(str(p)) for p in case.images)
    stacked = np.stack([np.asarray(v.dataobj, dtype=np.float32) for v in (flair, t1, t1ce, t2)], -1)  # Decathlon order
    four_d = tmp_path / "volumes" / "patient7.nii.gz"
    four_d.parent.mkdir()
    nib.save(nib.Nifti1Image(stacked, flair.affine), str(four_d))

    out = tmp_path / "out"
    code, printed, _ = _infer([TINY_CONFIG, ckpt, case.images[0].parent, four_d, "--out", out], capsys)
    assert code == 0 and "segmentation: 2 case(s)" in printed
    summary = json.loads((out / "segmentations.json").read_text())
    assert [c["case_id"] for c in summary["cases"]] == [case.case_id, "patient7"]
    assert summary["inference"]["roi_size"] == [64, 32, 32]

    ours = nib.load(str(out / f"{case.case_id}.nii.gz"))
    labels = np.asarray(ours.dataobj)
    assert labels.shape == flair.shape and set(np.unique(labels).tolist()) <= {0, 1, 2, 4}
    np.testing.assert_allclose(ours.affine, flair.affine, atol=1e-6)
    theirs = np.asarray(nib.load(str(test_preds / f"{case.case_id}.nii.gz")).dataobj)
    regions = labels_to_regions(torch.from_numpy(labels.astype(np.int64)), "brats2021")
    assert torch.equal(regions, labels_to_regions(torch.from_numpy(theirs.astype(np.int64)), "brats2021"))
    # the 4D file is the same case: same regions, written with the Decathlon labels (ET = 3)
    decathlon = np.asarray(nib.load(str(out / "patient7.nii.gz")).dataobj)
    assert set(np.unique(decathlon).tolist()) <= {0, 1, 2, 3}
    assert torch.equal(labels_to_regions(torch.from_numpy(decathlon.astype(np.int64)), "decathlon"), regions)
    for name in (case.case_id, "patient7"):
        png = cv2.imread(str(out / f"{name}.png"))
        assert png is not None and png.shape[0] >= 160
    assert not list(out.glob(".infer-staging-*"))


# ---------------------------------------------------------------- detection


def test_detection_writes_boxes_inside_each_image_and_one_png_each(shared_detr_run, tmp_path, capsys):
    ckpt, val = shared_detr_run / "latest.pth", shared_detr_run / "synthetic_shapes" / "val"
    single = tmp_path / "more" / "000000.png"  # same file name as a val image: its outputs get another name
    single.parent.mkdir()
    shutil.copy(val / "000000.png", single)
    out = tmp_path / "dets"
    code, printed, _ = _infer([TINY_DETR, ckpt, val, single, "--out", out, "--score-thr", "0.3"], capsys)
    assert code == 0 and "detection: 4 image(s)" in printed
    saved = json.loads((out / "detections.json").read_text())
    assert saved["classes"] == ["circle", "rectangle", "triangle"] and saved["score_thr"] == 0.3
    images = saved["images"]
    assert [im["png"] for im in images] == ["000000.png", "000001.png", "000002.png", "000000_1.png"]
    for im in images:
        boxes, scores = np.array(im["boxes"]), np.array(im["scores"])
        assert boxes.shape == (4, 4) and len(im["labels"]) == len(im["classes"]) == 4  # 4 queries
        assert (boxes[:, [0, 2]] >= 0).all() and (boxes[:, [0, 2]] <= im["width"]).all()
        assert (boxes[:, [1, 3]] >= 0).all() and (boxes[:, [1, 3]] <= im["height"]).all()
        assert (boxes[:, 2] >= boxes[:, 0]).all() and (boxes[:, 3] >= boxes[:, 1]).all()
        assert (np.diff(scores) <= 0).all() and ((scores >= 0) & (scores <= 1)).all()
        assert im["num_above_thr"] == int((scores >= 0.3).sum())
        assert im["classes"] == [saved["classes"][k] for k in im["labels"]]
        assert cv2.imread(str(out / im["png"])).shape[:2] == (256, 256)  # 64 px, upscaled for legible labels
    assert images[0]["boxes"] == images[3]["boxes"]  # the copy gives the same detections


# ---------------------------------------------------------------- classification


def test_classification_csv_top1_is_create_model_argmax_on_the_config_preprocessing(trained_cls_run, tmp_path, capsys):
    ckpt, val = trained_cls_run / "work" / "latest.pth", trained_cls_run / "data" / "val"
    out = tmp_path / "cls"
    single = val / "blue_square" / "0.png"  # also inside the folder: predicted once
    code, printed, err = _infer([TINY_CLS, ckpt, single, val, "--out", out, "--batch-size", "4"], capsys)
    assert code == 0 and "classification: 9 image(s)" in printed and "9/9" in err  # the progress bar
    with open(out / "predictions.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 9 and list(rows[0]) == ["path", "pred_class", "pred_index", "score", "top5"]
    assert rows[0]["path"] == str(single) and len({r["path"] for r in rows}) == 9
    saved = json.loads((out / "predictions.json").read_text())
    assert saved["classes"] == list(CLASSES) and len(saved["predictions"]) == 9

    cfg = load_config(TINY_CLS)
    net = vz.create_model(**{**cfg.model, "num_classes": 3}, checkpoint_path=str(ckpt)).eval()
    from timm.data import create_transform

    data_cfg = {**model_data_config(dict(cfg.model)), "input_size": (3, 32, 32)}  # the config's eval size
    transform = create_transform(**data_cfg, is_training=False)
    for row, pred in zip(rows, saved["predictions"]):
        with torch.no_grad():
            probs = net(transform(read_image(row["path"]))[None]).softmax(-1)[0]
        index = int(probs.argmax())
        assert int(row["pred_index"]) == index and row["pred_class"] == CLASSES[index]
        assert float(row["score"]) == pytest.approx(float(probs[index]), abs=1e-5)
        assert len(row["top5"].split("; ")) == 3 and row["top5"].startswith(f"{CLASSES[index]}:")
        assert [t["index"] for t in pred["top5"]] == probs.argsort(descending=True).tolist()


def test_bf16_inference_agrees_with_fp32_on_every_task(trained_run, trained_cls_run, shared_detr_run, tmp_path, capsys):
    """``--precision bf16``: the same top-1 and scores within 2e-2 (classification), boxes within 2 % of the image
    (detection) and a Dice of at least 0.99 against the fp32 labels (segmentation); every output stays fp32."""
    cls_ckpt, cls_val = trained_cls_run / "work" / "latest.pth", trained_cls_run / "data" / "val"
    det_ckpt, det_val = shared_detr_run / "latest.pth", shared_detr_run / "synthetic_shapes" / "val"
    seg_ckpt = trained_run / "latest.pth"
    (case,) = BratsDataset(trained_run / "synthetic_brats", split="val", fold=0).cases
    results = {}
    for precision in ("fp32", "bf16"):
        for name, args in (("cls", [TINY_CLS, cls_ckpt, cls_val]), ("det", [TINY_DETR, det_ckpt, det_val]),
                           ("seg", [TINY_CONFIG, seg_ckpt, case.images[0].parent])):
            out = tmp_path / f"{name}_{precision}"
            code, _, _ = _infer([*args, "--out", out, "--precision", precision, "--no-progress"], capsys)
            assert code == 0, (name, precision)
            results[name, precision] = out
    fp32 = json.loads((results["cls", "fp32"] / "predictions.json").read_text())["predictions"]
    bf16 = json.loads((results["cls", "bf16"] / "predictions.json").read_text())["predictions"]
    assert [p["pred_index"] for p in bf16] == [p["pred_index"] for p in fp32]
    assert max(abs(a["score"] - b["score"]) for a, b in zip(fp32, bf16)) <= 2e-2
    fp32 = json.loads((results["det", "fp32"] / "detections.json").read_text())["images"]
    bf16 = json.loads((results["det", "bf16"] / "detections.json").read_text())["images"]
    for a, b in zip(fp32, bf16):
        assert np.abs(np.array(a["scores"]) - np.array(b["scores"])).max() <= 2e-2
        matched = [np.abs(np.array(a["boxes"][i]) - np.array(b["boxes"][i])).max() for i in range(len(a["boxes"]))
                   if a["labels"][i] == b["labels"][i]]
        assert matched and max(matched) <= 0.02 * max(a["width"], a["height"])
    labels = {p: np.asarray(nib.load(str(results["seg", p] / f"{case.case_id}.nii.gz")).dataobj) for p in ("fp32", "bf16")}
    a, b = labels["fp32"] > 0, labels["bf16"] > 0
    assert 2 * (a & b).sum() / max(a.sum() + b.sum(), 1) >= 0.99


# ---------------------------------------------------------------- user errors


def test_bad_inputs_exit_2_with_one_error_line(trained_run, trained_cls_run, shared_detr_run, tmp_path, capsys):
    seg_ckpt, det_ckpt = trained_run / "latest.pth", shared_detr_run / "latest.pth"
    cls_ckpt = trained_cls_run / "work" / "latest.pth"
    png = trained_cls_run / "data" / "val" / "red_bar" / "0.png"
    text = tmp_path / "notes.txt"
    text.write_text("not an image\n")
    fake_png = tmp_path / "fake.png"
    fake_png.write_text("not an image either\n")
    case_dir = next(p for p in sorted((trained_run / "synthetic_brats").iterdir()) if p.is_dir())
    no_t1ce = tmp_path / "no_t1ce" / case_dir.name
    shutil.copytree(case_dir, no_t1ce)
    (no_t1ce / f"{case_dir.name}_t1ce.nii.gz").unlink()
    out = tmp_path / "never"
    cases = [
        ([TINY_CLS, cls_ckpt, tmp_path / "missing.png"], "does not exist"),
        ([TINY_CLS, cls_ckpt, text], "is not an image file"),
        ([TINY_CLS, cls_ckpt, fake_png], "cannot decode image file"),
        ([TINY_DETR, det_ckpt, fake_png], "not a readable image"),
        ([TINY_CONFIG, seg_ckpt, png], "2D image"),
        ([TINY_CONFIG, seg_ckpt, png.parent], "2D images"),
        ([TINY_CONFIG, seg_ckpt, no_t1ce], "missing t1ce"),
        ([TINY_CONFIG, tmp_path / "nope.pth", case_dir], "checkpoint"),
        ([TINY_CLS, seg_ckpt, png], "does not fit"),  # a Swin UNETR checkpoint for the ResNet config
        ([tmp_path / "nope.py", seg_ckpt, case_dir], "config file"),
        ([TINY_CLS, png], "no weights to run"),  # CHECKPOINT left out and the config names none
    ]
    for args, expected in cases:
        code, _, err = _infer([*args, "--out", out, "--no-progress"], capsys)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (args, err)
        assert expected in lines[0] and "Traceback" not in err, (args, err)
        assert not out.exists(), args  # nothing written, not even the folder
