"""Saving predictions (NIfTI labels in the original affine, PNG overlays) and the per-process thread choice."""
from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch

from visionzoo.engine import configure_threads, overlay_montage, save_case_outputs


def test_save_case_outputs_writes_brats_labels_and_an_overlay(tmp_path):
    pred = torch.zeros(3, 10, 12, 8, dtype=torch.bool)
    pred[1, 2:8, 2:9, 2:6] = True  # WT
    pred[0, 3:6, 3:6, 3:5] = True  # TC
    pred[2, 4, 4, 3:5] = True  # ET
    affine = np.diag([-1.5, -1.5, 2.0, 1.0])
    affine[:3, 3] = [10, 20, -5]
    sample = {"pred": pred, "case_id": "BraTS2021_00001", "format": "brats2021", "affine": torch.as_tensor(affine),
              "label": pred.float()}
    nifti, png = save_case_outputs(sample, torch.randn(4, 10, 12, 8), tmp_path / "nii", tmp_path / "png")
    img = nib.load(str(nifti))
    labels = np.asarray(img.dataobj)
    assert img.shape == (10, 12, 8) and set(np.unique(labels).tolist()) == {0, 1, 2, 4}
    assert labels[4, 4, 3] == 4 and labels[3, 3, 3] == 1 and labels[2, 2, 2] == 2
    np.testing.assert_allclose(img.affine, affine)
    assert png.is_file() and png.stat().st_size > 0


def test_overlay_montage_rows_and_bad_shapes():
    flair, pred = np.random.rand(20, 24, 16), np.zeros((3, 20, 24, 16), bool)
    pred[1, 5:10, 5:10, 4:12] = True
    one_row = overlay_montage(flair, pred, n_slices=3)
    two_rows = overlay_montage(flair, pred, pred, n_slices=3)
    assert one_row.dtype == np.uint8 and one_row.shape[2] == 3 and two_rows.shape[0] == 2 * one_row.shape[0]
    with pytest.raises(ValueError, match="expects flair"):
        overlay_montage(flair, pred[:, :10])


def test_threads_per_process(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        monkeypatch.setattr("visionzoo.engine.distributed.available_cpus", lambda: 8)
        assert configure_threads(None, 2) == (4, "8 cores / 2 process(es)") and torch.get_num_threads() == 4
        monkeypatch.setenv("OMP_NUM_THREADS", "3")
        assert configure_threads(None, 2)[0] == 3
        assert configure_threads(2, 2) == (2, "env_cfg.torch_threads")
    finally:
        torch.set_num_threads(before)
