"""tools/test.py on the tiny run's checkpoint: metrics table (printed, JSON, CSV), NIfTI label maps and PNG overlays."""
from __future__ import annotations

import csv
import json

import cv2
import nibabel as nib
import numpy as np

from visionzoo.data import BratsDataset

from .conftest import TINY_CONFIG, run_tool


def test_test_tool_writes_table_nifti_and_png(tmp_path, trained_run):
    preds, out = tmp_path / "preds", tmp_path / "metrics.json"
    proc = run_tool(["tools/test.py", str(TINY_CONFIG), str(trained_run / "latest.pth"), "--work-dir", str(tmp_path / "work"),
                     "--out", str(out), "--save-preds", str(preds),
                     "--cfg-options", f"data_root={trained_run / 'synthetic_brats'}"])
    printed = proc.stdout
    for row in ("TC", "WT", "ET", "mean"):
        assert any(line.startswith(row) for line in printed.splitlines()), f"row {row} missing:\n{printed}"
    assert "Dice" in printed and "HD95" in printed and str(preds) in printed

    saved = json.loads(out.read_text())
    assert [r["region"] for r in saved["table"]] == ["TC", "WT", "ET", "mean"]
    assert 0 <= saved["metrics"]["mean_dice"] <= 1 and len(saved["per_case"]) == 1
    with open(out.with_suffix(".csv")) as f:
        rows = list(csv.DictReader(f))
    assert [r["region"] for r in rows] == ["TC", "WT", "ET", "mean"] and set(rows[0]) == {"region", "dice", "hd95"}

    val = BratsDataset(trained_run / "synthetic_brats", split="val", fold=0)
    (case,) = val.cases
    written = nib.load(str(preds / f"{case.case_id}.nii.gz"))
    original = nib.load(str(case.label))
    labels = np.asarray(written.dataobj)
    assert written.shape == original.shape and labels.dtype == np.uint8
    assert set(np.unique(labels).tolist()) <= {0, 1, 2, 4}
    np.testing.assert_allclose(written.affine, original.affine, atol=1e-5)

    png = cv2.imread(str(preds / f"{case.case_id}.png"))
    assert png is not None and png.ndim == 3 and png.shape[0] >= 2 * 160  # prediction row + label row
