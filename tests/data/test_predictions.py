"""Predicted regions -> the format's label map -> NIfTI with the original affine."""
import nibabel as nib
import numpy as np
import pytest
import torch

from visionzoo.data import BratsDataset, labels_to_regions, regions_to_labels, save_prediction_nifti

from .brats_files import AFFINE, known_seg, write_dataset


@pytest.mark.parametrize("fmt", ["brats2021", "brats2023", "decathlon"])
def test_regions_to_labels_inverts_labels_to_regions(fmt):
    seg, _ = known_seg(fmt)
    assert np.array_equal(regions_to_labels(labels_to_regions(seg, fmt), fmt), seg)


def test_regions_to_labels_per_format():
    # one voxel each: WT only, TC (and WT), ET (and TC, WT)
    regions = np.zeros((3, 3, 1, 1), np.float32)
    regions[1, 0] = 1
    regions[:2, 1] = 1
    regions[:, 2] = 1
    assert regions_to_labels(regions, "brats2021").ravel().tolist() == [2, 1, 4]
    assert regions_to_labels(regions, "brats2023").ravel().tolist() == [2, 1, 3]
    assert regions_to_labels(regions, "brats2024").ravel().tolist() == [2, 1, 3]
    assert regions_to_labels(regions, "decathlon").ravel().tolist() == [1, 2, 3]
    assert regions_to_labels(torch.from_numpy(regions) * 0.4, "brats2021").sum() == 0  # probabilities <= 0.5


@pytest.mark.parametrize("fmt", ["brats2021", "decathlon"])
def test_prediction_saved_with_original_affine(tmp_path, fmt):
    write_dataset(tmp_path / "data", fmt, n=1)
    sample = BratsDataset(tmp_path / "data", split="all")[0]
    pred = sample["label"]  # a perfect "prediction", (3, X, Y, Z)
    out = save_prediction_nifti(pred, sample["affine"], tmp_path / "pred" / f"{sample['case_id']}.nii.gz", format=fmt)
    img = nib.load(str(out))
    assert np.allclose(img.affine, AFFINE) and img.get_data_dtype() == np.uint8
    assert np.array_equal(np.asarray(img.dataobj), known_seg(fmt)[0])
    # also from a label map with a reference file, or from the sample dict
    ref = sorted((tmp_path / "data").rglob("*.nii.gz"))[0]
    out2 = save_prediction_nifti(regions_to_labels(pred, fmt), ref, tmp_path / "pred2.nii.gz")
    out3 = save_prediction_nifti(regions_to_labels(pred, fmt)[None], sample, tmp_path / "pred3.nii.gz")
    for p in (out2, out3):
        img = nib.load(str(p))
        assert np.allclose(img.affine, AFFINE) and img.shape == pred.shape[1:]
        assert np.array_equal(np.asarray(img.dataobj), known_seg(fmt)[0])


def test_save_prediction_rejects_ambiguous_input(tmp_path):
    with pytest.raises(ValueError, match="pass format="):
        save_prediction_nifti(np.zeros((3, 4, 4, 4)), np.eye(4), tmp_path / "x.nii.gz")
    with pytest.raises(ValueError, match="4x4 affine"):
        save_prediction_nifti(np.zeros((4, 4, 4)), np.eye(4)[None], tmp_path / "x.nii.gz")
