"""VolumeSegmenter (loss, sliding-window prediction), losses, the BraTS dataset wrapper, collate and preprocessor."""
from __future__ import annotations

import pytest
import torch
from monai.losses import DiceLoss

from visionzoo.engine import BratsDataPreprocessor, BratsSegDataset, DiceBCELoss, VolumeSegmenter, brats_collate

TINY_NET = dict(name="swin_unetr", in_chans=4, num_classes=3, feature_size=12, depths=(1, 1, 1, 1))


def _pipeline(mode="train"):
    extra = {"roi_size": (64, 32, 32)} if mode == "train" else {}
    return dict(type="BratsTransforms", mode=mode, **extra)


def test_dataset_augmentation_is_a_function_of_the_draw_seed(tiny_brats):
    ds = BratsSegDataset(tiny_brats, split="train", fold=0, pipeline=_pipeline())
    a, b, c = ds[(0, 123)], ds[(0, 123)], ds[(0, 124)]
    assert a["image"].shape == (4, 64, 32, 32) and a["label"].shape == (3, 64, 32, 32)
    assert torch.equal(a["image"], b["image"]) and not torch.equal(a["image"], c["image"])
    assert ds.metainfo["classes"] == ("TC", "WT", "ET") and len(ds) == 4


def test_collate_and_preprocessor_stack_crops_and_keep_volumes_apart(tiny_brats):
    train = BratsSegDataset(tiny_brats, split="train", fold=0, pipeline=_pipeline())
    batch = brats_collate([train[(0, 1)], train[(1, 2)]])
    assert batch["inputs"].shape == (2, 4, 64, 32, 32) and batch["data_samples"][0]["label"].shape == (3, 64, 32, 32)
    val = BratsSegDataset(tiny_brats, split="all", fold=0, pipeline=_pipeline("val"))
    volumes = brats_collate([val[0], val[1]])
    out = BratsDataPreprocessor()(volumes)
    assert isinstance(out["inputs"], torch.Tensor) and out["inputs"].shape == (2, 4, 40, 40, 32)  # same-size volumes
    assert out["data_samples"][1]["affine"].shape == (4, 4) and out["data_samples"][1]["case_id"] == val.case_ids[1]


def test_segmenter_loss_and_sliding_window_prediction():
    torch.manual_seed(0)
    model = VolumeSegmenter(net=TINY_NET, inference=dict(roi_size=(64, 32, 32), overlap=0.25, mode="gaussian"))
    x = torch.randn(1, 4, 64, 32, 32)
    label = (torch.rand(3, 64, 32, 32) > 0.7).float()
    losses = model(x, [{"label": label}], mode="loss")
    expected = DiceLoss(sigmoid=True)(model.net(x), label[None])
    assert torch.allclose(losses["loss"], expected)
    volume = torch.randn(4, 66, 34, 32)  # larger than the ROI: 4 overlapping windows, blended
    (pred,) = model([volume], [{"case_id": "c", "label": torch.zeros(3, 66, 34, 32)}], mode="predict")
    assert pred["pred"].dtype == torch.bool and pred["pred"].shape == (3, 66, 34, 32) and pred["case_id"] == "c"
    logits = model.sliding_window_logits(volume[None])
    assert torch.equal(pred["pred"], torch.sigmoid(logits)[0] > 0.5)


def test_segmenter_rejects_bad_settings():
    with pytest.raises(ValueError, match="inference mode"):
        VolumeSegmenter(net=TINY_NET, inference=dict(mode="median"))
    with pytest.raises(ValueError, match="mode must be"):
        VolumeSegmenter(net=TINY_NET)(torch.zeros(1, 4, 64, 32, 32), mode="logits")


def test_dice_bce_is_dice_plus_binary_cross_entropy():
    logits, target = torch.randn(2, 3, 4, 4, 4), (torch.rand(2, 3, 4, 4, 4) > 0.5).float()
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
    expected = DiceLoss(sigmoid=True)(logits, target) + 0.5 * bce
    assert torch.allclose(DiceBCELoss(lambda_bce=0.5)(logits, target), expected)
