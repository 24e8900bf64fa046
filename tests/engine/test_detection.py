"""Detection engine: COCO mAP against known answers, batching with padding masks, `Detector`, configs, drawing."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from visionzoo.engine import (
    CocoDetDataset, CocoMetric, Detector, DetectionDataPreprocessor, coco_evaluate, detection_collate, draw_detections,
    load_config, pad_images, resolve_coco_data_root,
)

from .conftest import REPO

TINY_NET = dict(name="detr", backbone="resnet18", num_classes=2, num_queries=4, hidden_dim=32, nheads=2, enc_layers=1,
                dec_layers=2, dim_feedforward=32, dropout=0.0, backbone_kwargs=dict(layers=(1, 1, 1, 1)))


@pytest.fixture(scope="module")
def gt_file(tmp_path_factory) -> Path:
    """Two 100x80 images; categories 5 and 9 (non-contiguous); boxes of 20-40 px."""
    path = tmp_path_factory.mktemp("coco") / "instances.json"
    anns = [(1, 1, 5, [10, 10, 30, 20]), (2, 1, 9, [50, 40, 40, 30]), (3, 2, 5, [20, 30, 25, 25])]
    path.write_text(json.dumps({
        "images": [{"id": i, "file_name": f"{i}.png", "width": 100, "height": 80} for i in (1, 2)],
        "annotations": [{"id": a, "image_id": i, "category_id": c, "bbox": b, "area": b[2] * b[3], "iscrowd": 0}
                        for a, i, c, b in anns],
        "categories": [{"id": 5, "name": "five"}, {"id": 9, "name": "nine"}],
    }))
    return path


def _perfect(gt_file: Path, shift: float = 0.0, label_offset: int = 0) -> list[dict]:
    """`Detector.predict`-style samples: each ground-truth box (xyxy) shifted right by `shift` of its width."""
    data = json.loads(gt_file.read_text())
    samples = []
    for img in data["images"]:
        anns = [a for a in data["annotations"] if a["image_id"] == img["id"]]
        boxes = torch.tensor([[x + shift * w, y, x + w + shift * w, y + h] for x, y, w, h in (a["bbox"] for a in anns)])
        labels = torch.tensor([{5: 0, 9: 1}[a["category_id"]] + label_offset for a in anns]) % 2
        samples.append({"image_id": img["id"], "pred_boxes": boxes, "pred_scores": torch.full((len(anns),), 0.9),
                        "pred_labels": labels})
    return samples


def _score(gt_file: Path, samples: list[dict]) -> dict[str, float]:
    metric = CocoMetric(ann_file=str(gt_file), label_to_cat={0: 5, 1: 9})
    metric.process({}, samples)
    return metric.compute_metrics(metric.results)


def test_coco_metric_known_answers(gt_file):
    perfect = _score(gt_file, _perfect(gt_file))
    assert perfect["bbox_mAP"] == pytest.approx(1.0) and perfect["bbox_mAP_50"] == pytest.approx(1.0)
    assert perfect["bbox_AR_100"] == pytest.approx(1.0)
    # shifted by 20% of the width: IoU = 0.8 / 1.2 = 0.667 -> a hit at 0.5, a miss at 0.75
    shifted = _score(gt_file, _perfect(gt_file, shift=0.2))
    assert shifted["bbox_mAP_50"] == pytest.approx(1.0) and shifted["bbox_mAP_75"] == pytest.approx(0.0)
    assert 0.0 < shifted["bbox_mAP"] < perfect["bbox_mAP"]
    wrong_class = _score(gt_file, _perfect(gt_file, label_offset=1))
    assert wrong_class["bbox_mAP"] == pytest.approx(0.0)


def test_coco_metric_matches_an_independent_iou_count(gt_file):
    """Half the boxes perfect, half shifted by 60%: AP50 from COCOeval equals the precision-recall area by hand."""
    samples = _perfect(gt_file)
    far = _perfect(gt_file, shift=0.6)  # IoU = 0.4 / 1.6 = 0.25: a false positive and a missed object
    samples[1] = far[1]
    # category 5: objects in images 1 and 2, only image 1's found -> AP 0.5 (101-point interpolation: 51/101)
    # category 9: its only object found -> AP 1
    ap5 = len(np.flatnonzero(np.linspace(0, 1, 101) <= 0.5)) / 101
    assert _score(gt_file, samples)["bbox_mAP_50"] == pytest.approx((ap5 + 1.0) / 2, abs=1e-6)


def test_coco_evaluate_takes_a_dict_and_scores_no_detections_as_zero(gt_file):
    gt = json.loads(gt_file.read_text())
    metrics, _ = coco_evaluate(gt, [])
    assert metrics["bbox_mAP"] == 0.0
    dets = [{"image_id": 1, "category_id": 5, "bbox": [10, 10, 30, 20], "score": 1.0}]
    metrics, summary = coco_evaluate(gt, dets, img_ids=[1])  # image 1 alone: its category-9 object is missed
    assert metrics["bbox_mAP_50"] == pytest.approx(0.5) and "Average Precision" in summary


def test_padding_batches_differently_sized_images_with_a_mask():
    a, b = torch.rand(3, 5, 7), torch.rand(3, 6, 4)
    batch, mask = pad_images([a, b])
    assert batch.shape == (2, 3, 6, 7) and mask.shape == (2, 6, 7)
    assert torch.equal(batch[0, :, :5, :7], a) and torch.equal(batch[1, :, :6, :4], b)
    assert mask[0, 5:].all() and not mask[0, :5].any() and mask[1, :, 4:].all() and not mask[1, :, :4].any()
    assert pad_images([a], size_divisor=4)[0].shape == (1, 3, 8, 8)
    collated = detection_collate([
        {"image": a, "boxes": np.zeros((0, 4), np.float32), "labels": np.zeros(0, np.int64), "image_id": 1,
         "orig_size": (5, 7), "size": (5, 7), "img_path": "x"},
        {"image": b, "boxes": torch.tensor([[0.5, 0.5, 0.2, 0.2]]), "labels": torch.tensor([1]), "image_id": 2,
         "orig_size": (6, 4), "size": (6, 4), "img_path": "y"},
    ])
    out = DetectionDataPreprocessor()(collated)
    assert torch.equal(out["mask"], mask) and out["data_samples"][0]["boxes"].shape == (0, 4)
    assert out["data_samples"][1]["labels"].dtype == torch.int64


@pytest.fixture(scope="module")
def tiny_detector() -> Detector:
    torch.manual_seed(0)
    return Detector(net=TINY_NET, criterion=dict(eos_coef=0.2, matcher=dict(cost_class=1.0, cost_bbox=5.0, cost_giou=2.0)))


def test_detector_loss_predict_and_tensor_modes(tiny_detector):
    det = tiny_detector
    assert det.criterion.eos_coef == 0.2 and det.num_classes == 2
    images = [torch.randn(3, 64, 80), torch.randn(3, 48, 64)]
    samples = [{"boxes": torch.tensor([[0.5, 0.5, 0.3, 0.4]]), "labels": torch.tensor([1]), "image_id": 7,
                "orig_size": (128, 160)},
               {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64), "image_id": 8,
                "orig_size": (48, 64)}]
    data = det.data_preprocessor({"inputs": images, "data_samples": samples}, True)
    losses = det(**data, mode="loss")
    assert {"loss_ce", "loss_bbox", "loss_giou", "loss_ce_0"} <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert det.net.class_embed.weight.grad is not None
    preds = det(**data, mode="predict")
    assert [p["image_id"] for p in preds] == [7, 8]
    assert preds[0]["pred_boxes"].shape == (4, 4) and preds[0]["pred_scores"].shape == (4,)
    # boxes are in pixels of the original image (160 x 128 for the first one), not of the input
    b = preds[0]["pred_boxes"]
    assert b[:, 0::2].max() <= 160 + 1e-3 and b[:, 1::2].max() <= 128 + 1e-3 and (b[:, 2:] >= b[:, :2]).all()
    out = det(images, mode="tensor")
    assert out["pred_logits"].shape == (2, 4, 3) and len(out["aux_outputs"]) == 1
    with pytest.raises(ValueError, match="mode"):
        det(images, mode="bogus")
    with pytest.raises(ValueError, match="boxes and labels"):
        det(**dict(data, data_samples=[{}, {}]), mode="loss")


def test_predictions_do_not_depend_on_batching_and_padding(tiny_detector):
    """DETR issues #191/#217/#239: the same images evaluated one at a time and as one padded batch of 4 (sizes
    that are and are not multiples of the backbone's stride 32) give the same boxes and scores."""
    det = tiny_detector.eval()
    torch.manual_seed(3)
    images = [torch.randn(3, 64, 80), torch.randn(3, 45, 70), torch.randn(3, 96, 52), torch.randn(3, 33, 33)]
    samples = [{"image_id": i, "orig_size": tuple(im.shape[1:])} for i, im in enumerate(images)]

    def predict(group: list[int]) -> list[dict]:
        data = det.data_preprocessor({"inputs": [images[i] for i in group],
                                      "data_samples": [dict(samples[i]) for i in group]}, False)
        return det(**data, mode="predict")

    batched = predict([0, 1, 2, 3])
    assert det.data_preprocessor({"inputs": images, "data_samples": samples}, False)["mask"].any()  # it was padded
    for i in range(4):
        alone = predict([i])[0]
        scale = max(images[i].shape[1:])
        assert (alone["pred_boxes"] - batched[i]["pred_boxes"]).abs().max() / scale <= 1e-4
        assert (alone["pred_scores"] - batched[i]["pred_scores"]).abs().max() <= 1e-4
        assert torch.equal(alone["pred_labels"], batched[i]["pred_labels"])
    det.per_image_predict = False  # the padded batch at once: border features see the padding
    try:
        padded = predict([0, 1, 2, 3])
    finally:
        det.per_image_predict = True
    assert max((p["pred_boxes"] - b["pred_boxes"]).abs().max() for p, b in zip(padded, batched)) > 0.1


def test_backbone_learning_rate_is_a_tenth_through_paramwise_cfg(tiny_detector):
    from mmengine.optim import build_optim_wrapper

    cfg = load_config(REPO / "configs" / "detr_r50_coco.py")
    wrapper = build_optim_wrapper(tiny_detector, cfg.optim_wrapper)
    lrs = {}
    names = {id(p): n for n, p in tiny_detector.named_parameters()}
    for group in wrapper.optimizer.param_groups:
        for p in group["params"]:
            lrs[names[id(p)]] = group["lr"]
    backbone = sorted({round(v, 12) for k, v in lrs.items() if ".backbone." in k})
    rest = sorted({round(v, 12) for k, v in lrs.items() if ".backbone." not in k})
    assert backbone == [1e-5] and rest == [1e-4] and len(lrs) == sum(p.requires_grad for p in tiny_detector.parameters())
    assert wrapper.clip_grad_kwargs == {"max_norm": 0.1, "norm_type": 2}


def test_published_recipe_values():
    cfg = load_config(REPO / "configs" / "detr_r50_coco.py")
    assert cfg.model.name == "detr_r50" and cfg.model.num_classes == 91 and cfg.model.num_queries == 100
    assert cfg.optim_wrapper.optimizer == {"type": "AdamW", "lr": 1e-4, "weight_decay": 1e-4}
    assert cfg.param_scheduler == [{"type": "MultiStepLR", "milestones": [400], "gamma": 0.1, "by_epoch": True}]
    assert cfg.train_cfg.max_epochs == 500 and cfg.train_dataloader.batch_size == 2
    crit = cfg.detector.criterion
    assert crit.eos_coef == 0.1 and crit.matcher == {"cost_class": 1.0, "cost_bbox": 5.0, "cost_giou": 2.0}
    pipe = cfg.train_dataloader.dataset.pipeline
    assert pipe.max_size == 1333 and pipe.crop and tuple(pipe.crop_size) == (384, 600)
    assert cfg.train_dataloader.dataset.label_mode == "category_id" and cfg.data_root == "data/coco"
    assert cfg.default_hooks.checkpoint.save_best == "bbox_mAP"


def test_finetune_config_starts_from_the_coco_detector_and_needs_the_class_count():
    cfg = load_config(REPO / "configs" / "detr_r50_finetune.py")
    assert cfg.model.name == "detr_r50.fb_coco" and cfg.model.pretrained and cfg.model.num_classes is None
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys.backbone.lr_mult == 0.1  # the published backbone lr kept
    assert cfg.param_scheduler == [{"type": "MultiStepLR", "milestones": [40], "gamma": 0.1, "by_epoch": True}]
    for split, name in (("train", "train"), ("test", "val")):
        dataset = cfg[f"{split}_dataloader"].dataset
        assert dataset.label_mode == "contiguous" and dataset.img_dir == name
        assert dataset.ann_file == f"annotations/instances_{name}.json"
    net = {**cfg.model.to_dict(), "pretrained": False}
    with pytest.raises(ValueError, match="model.num_classes=K"):
        Detector(net=net)


def test_synthetic_default_is_generated_and_announced(tmp_path):
    cfg = load_config(REPO / "configs" / "detr_shapes_synthetic.py",
                      {"synthetic_shapes": dict(num_train=3, num_val=2, size=48, seed=0)})
    cfg.work_dir = str(tmp_path / "work")
    banner = resolve_coco_data_root(cfg)
    assert "SYNTHETIC DATA" in banner and "GENERATED" in banner
    root = tmp_path / "work" / "synthetic_shapes"
    assert cfg.train_dataloader.dataset.data_root == str(root) == cfg.test_dataloader.dataset.data_root
    ds = CocoDetDataset(**{k: v for k, v in cfg.train_dataloader.dataset.items() if k != "type"})
    assert len(ds) == 3 and ds.metainfo["classes"] == ("circle", "rectangle", "triangle")
    assert ds.metainfo["label_to_cat"] == {0: 1, 1: 2, 2: 3}
    a, b = ds[(0, 11)], ds[(0, 11)]
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["boxes"], b["boxes"])
    with pytest.raises(ValueError, match="needs a pipeline"):
        CocoDetDataset(str(root), "annotations/instances_val.json", "val", pipeline=None)
    cfg2 = load_config(REPO / "configs" / "detr_shapes_synthetic.py",
                       {"synthetic_shapes": dict(num_train=3, num_val=2, size=48, seed=0)})
    cfg2.work_dir = str(tmp_path / "work")
    assert "REUSED" in resolve_coco_data_root(cfg2)
    real = load_config(REPO / "configs" / "detr_r50_coco.py", {"data_root": None})
    real.work_dir = str(tmp_path)
    with pytest.raises(FileNotFoundError, match="make_synthetic_coco.py"):
        resolve_coco_data_root(real)


def test_draw_detections_puts_coloured_boxes_above_the_threshold():
    img = np.zeros((40, 50, 3), np.uint8)
    out = draw_detections(img, [[5, 5, 30, 30], [10, 10, 20, 20]], [0.9, 0.1], [0, 1], ["a", "b"], score_thr=0.5,
                          min_size=40)
    assert out.shape == img.shape and out[5, 15].any()  # top edge of the confident box
    assert not out[15, 10:20].any() or out[15, 5:8].any()  # the 0.1 box is not drawn (only the first box's edge)
    big = draw_detections(img, [[5, 5, 30, 30]], [0.9], [0], min_size=200)
    assert min(big.shape[:2]) == 200
    with pytest.raises(ValueError, match="RGB uint8"):
        draw_detections(img.astype(np.float32), [], [], [])
