"""Train/val pipelines: ROI shapes (padding when the ROI exceeds the volume), normalisation, foreground crops."""
import numpy as np
import pytest
import torch

from visionzoo.data import BratsDataset, ConvertToBratsRegionsd, brats_transforms

from .brats_files import save


@pytest.fixture
def dataset_root(tmp_path):
    """Two brats2021 cases, 20x18x12, with a brain box and a small tumour."""
    rng = np.random.default_rng(0)
    for i in (1, 2):
        cid = f"BraTS2021_{i:05d}"
        seg = np.zeros((20, 18, 12), np.uint8)
        seg[8:12, 7:11, 4:8] = 2
        seg[9:11, 8:10, 5:7] = 1
        seg[9, 8, 5] = 4
        for m in ("flair", "t1ce", "t1", "t2"):
            img = np.zeros((20, 18, 12), np.float32)
            img[2:18, 2:16, 1:11] = rng.uniform(50, 150, (16, 14, 10))
            save(img, tmp_path / cid / f"{cid}_{m}.nii.gz")
        save(seg, tmp_path / cid / f"{cid}_seg.nii.gz")
    return tmp_path


@pytest.mark.parametrize("roi", [(8, 8, 8), (16, 24, 32)])  # the second is larger than the volume: padded
def test_train_transform_gives_roi(dataset_root, roi, caplog):
    ds = BratsDataset(dataset_root, split="all", transform=brats_transforms("train", roi, seed=0))
    with caplog.at_level("INFO"):
        sample = ds[0]
    assert sample["image"].shape == (4, *roi) and sample["label"].shape == (3, *roi)
    assert sample["image"].dtype == sample["label"].dtype == torch.float32
    assert set(sample["label"].unique().tolist()) <= {0.0, 1.0}
    if roi[2] > 12:
        assert torch.all(sample["image"][:, :, :, 0] == sample["image"][:, :, :, 0].flatten()[0])  # padding (then shifted)


def test_val_transform_normalises_nonzero_per_channel(dataset_root):
    sample = BratsDataset(dataset_root, split="all", transform=brats_transforms("val"))[0]
    image = sample["image"]
    assert image.shape == (4, 20, 18, 12) and sample["label"].shape == (3, 20, 18, 12)
    brain = image[0] != 0
    for c in range(4):
        assert abs(float(image[c][brain].mean())) < 1e-4 and abs(float(image[c][brain].std()) - 1) < 1e-2
    assert float(image[:, 0, 0, 0].abs().sum()) == 0  # background stays 0


def test_foreground_crops_centre_on_tumour(dataset_root):
    t = brats_transforms("train", (4, 4, 4), crop="foreground", pos=1.0, neg=0.0, num_samples=3, seed=0)
    crops = BratsDataset(dataset_root, split="all", transform=t)[0]
    assert isinstance(crops, list) and len(crops) == 3
    for crop in crops:
        assert crop["image"].shape == (4, 4, 4, 4) and crop["label"][1].sum() > 0  # always some tumour
    one = BratsDataset(dataset_root, split="all", transform=brats_transforms("train", 4, crop="foreground"))[0]
    assert isinstance(one, dict) and one["label"].shape == (3, 4, 4, 4)


def test_train_transform_is_reproducible_with_seed(dataset_root):
    a = BratsDataset(dataset_root, split="all", transform=brats_transforms("train", 8, seed=3))[0]
    b = BratsDataset(dataset_root, split="all", transform=brats_transforms("train", 8, seed=3))[0]
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["label"], b["label"])


def test_transform_arguments_are_checked():
    with pytest.raises(ValueError, match="mode must be one of"):
        brats_transforms("predict")
    with pytest.raises(ValueError, match="crop must be one of"):
        brats_transforms("train", crop="centre")
    with pytest.raises(ValueError, match="crop='foreground'"):
        brats_transforms("train", num_samples=2)
    with pytest.raises(ValueError, match="converted twice"):
        ConvertToBratsRegionsd(format="brats2021")({"label": torch.zeros(3, 2, 2, 2)})
