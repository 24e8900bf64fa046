"""Classification engine pieces: Accuracy against a hand count, timm parameter groups, the classifier's losses, and how
`resolve_cls_data` fills a config from the model and the data."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config

from tests.tools.cls_files import CLASSES, make_image_folder
from visionzoo.data import DataFormatError
from visionzoo.engine import (
    Accuracy, ImageClassifier, ImageClsDataset, TimmOptimWrapperConstructor, load_config, resolve_cls_data,
)

REPO = Path(__file__).resolve().parents[2]
TINY_CLS = REPO / "tests" / "tools" / "configs" / "tiny_cls.py"


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return make_image_folder(tmp_path_factory.mktemp("cls_folder"), n_train=3, n_val=2, size=36)


def test_accuracy_matches_a_hand_count_with_confusion_and_per_class():
    metric = Accuracy(topk=(1, 2, 5))
    metric.dataset_meta = {"classes": ("a", "b", "c")}
    scores = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.5, 0.4, 0.1], [0.2, 0.5, 0.3]])
    gts = [0, 1, 1, 1]  # top-1 hits: yes, no (2 predicted), no (0), yes -> 50 %; top-2: yes, yes, yes, yes
    metric.process({}, [{"gt_label": g, "pred_scores": s} for g, s in zip(gts, scores)])
    out = metric.evaluate(4)
    assert out["accuracy/top1"] == pytest.approx(50.0)
    assert out["accuracy/top2"] == pytest.approx(100.0)
    assert out["accuracy/top5"] == pytest.approx(100.0)  # k clamped to the 3 classes
    np.testing.assert_array_equal(metric.confusion, [[1, 0, 0], [1, 1, 1], [0, 0, 0]])
    assert metric.per_class == {"a": 100.0, "b": pytest.approx(100 / 3)}  # "c" has no image: no entry
    assert out["accuracy/mean_class"] == pytest.approx((100 + 100 / 3) / 2)


def test_timm_param_groups_skip_decay_on_norms_biases_and_position_embeddings():
    net = ImageClassifier(net=dict(name="vit_tiny_patch16_224", img_size=32, depth=2, num_classes=3))
    wrapper = TimmOptimWrapperConstructor(dict(type="OptimWrapper", optimizer=dict(type="AdamW", lr=1e-3,
                                                                                   weight_decay=0.05)))(net)
    by_param = {id(p): g for g in wrapper.optimizer.param_groups for p in g["params"]}
    names = dict(net.net.named_parameters())
    assert len(by_param) == len(names)  # every parameter in exactly one group
    for name, p in names.items():
        decayed = by_param[id(p)]["weight_decay"] > 0
        assert decayed == (p.ndim > 1 and name not in ("pos_embed", "cls_token")), name


def test_layer_decay_scales_lr_from_the_head_down():
    net = ImageClassifier(net=dict(name="vit_tiny_patch16_224", img_size=32, depth=2, num_classes=3))
    ctor = TimmOptimWrapperConstructor(dict(type="OptimWrapper", optimizer=dict(type="AdamW", lr=1e-3,
                                                                                weight_decay=0.05)),
                                       paramwise_cfg=dict(layer_decay=0.5))
    wrapper = ctor(net)
    lr_of = {n: g["lr"] for g in wrapper.optimizer.param_groups for n, p in net.net.named_parameters()
             if any(p is q for q in g["params"])}
    assert lr_of["head.weight"] == pytest.approx(1e-3)
    assert lr_of["blocks.1.mlp.fc1.weight"] == pytest.approx(1e-3 * 0.5)
    assert lr_of["blocks.0.mlp.fc1.weight"] == pytest.approx(1e-3 * 0.25)
    assert lr_of["patch_embed.proj.weight"] == pytest.approx(1e-3 * 0.125)
    with pytest.raises(ValueError, match="layer_decay must be in"):
        TimmOptimWrapperConstructor(dict(optimizer=dict(type="AdamW", lr=1e-3)), paramwise_cfg=dict(layer_decay=2))
    with pytest.raises(ValueError, match="unknown paramwise_cfg keys"):
        TimmOptimWrapperConstructor(dict(optimizer=dict(type="AdamW", lr=1e-3)), paramwise_cfg=dict(layer_dacay=.5))


def test_classifier_losses_follow_timm():
    from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy

    x, labels = torch.randn(4, 3, 32, 32), [0, 2, 1, 2]
    samples = [{"gt_label": g} for g in labels]
    plain = ImageClassifier(net=dict(name="resnet18", layers=(1, 1, 1, 1), num_classes=3))
    expected = torch.nn.functional.cross_entropy(plain.net(x), torch.tensor(labels))
    assert torch.allclose(plain.loss(x, samples)["loss"], expected)

    smooth = ImageClassifier(net=dict(name="resnet18", layers=(1, 1, 1, 1), num_classes=3), label_smoothing=0.1)
    assert isinstance(smooth.loss_fn, LabelSmoothingCrossEntropy)
    mixed = ImageClassifier(net=dict(name="resnet18", layers=(1, 1, 1, 1), num_classes=3),
                            mixup=dict(mixup_alpha=0.8, cutmix_alpha=1.0, label_smoothing=0.1))
    assert isinstance(mixed.loss_fn, SoftTargetCrossEntropy)
    assert torch.isfinite(mixed.loss(x, samples)["loss"])
    assert torch.isfinite(mixed.loss(x[:3], samples[:3])["loss"])  # odd batch: smoothed targets, no pairing
    preds = mixed.predict(x, samples)
    assert len(preds) == 4 and all(abs(float(p["pred_scores"].sum()) - 1) < 1e-5 for p in preds)
    assert all(p["pred_label"] == int(p["pred_scores"].argmax()) for p in preds)
    with pytest.raises(ValueError, match="gt_label"):
        plain.loss(x, [{}] * 4)
    with pytest.raises(ValueError, match="label_smoothing"):
        ImageClassifier(net=dict(name="resnet18", num_classes=3), label_smoothing=1.5)


def _tiny(folder: Path, **options) -> Config:
    cfg = load_config(TINY_CLS, {"data_root": str(folder), **options})
    cfg.work_dir = str(folder / "work")
    return cfg


def test_resolve_fills_num_classes_classes_and_the_models_data_config(folder):
    cfg = _tiny(folder, **{"model.name": "vit_tiny_patch16_224", "+model.img_size": 48})
    resolve_cls_data(cfg)
    assert cfg.model.num_classes == len(CLASSES)
    assert list(cfg.val_dataloader.dataset.classes) == list(CLASSES)
    val_pipe = cfg.val_dataloader.dataset.pipeline
    assert val_pipe["interpolation"] == "bicubic" and val_pipe["crop_pct"] == 0.9  # from vit's pretrained_cfg
    assert tuple(val_pipe["mean"]) == (0.5, 0.5, 0.5)
    assert tuple(cfg.train_dataloader.dataset.pipeline["input_size"]) == (3, 32, 32)  # the config's own wins
    data = ImageClsDataset(**{k: v for k, v in cfg.val_dataloader.dataset.items() if k != "type"})
    sample = data[0]
    assert sample["inputs"].shape == (3, 32, 32) and sample["data_samples"]["gt_label"] == 0


def test_num_classes_mismatch_names_both_unless_the_head_is_replaced(folder):
    with pytest.raises(DataFormatError, match=r"model.num_classes=10 but .* has 3 classes"):
        resolve_cls_data(_tiny(folder, **{"model.num_classes": 10}))
    cfg = _tiny(folder, **{"model.num_classes": 10, "+classifier.replace_head": True})
    resolve_cls_data(cfg)
    assert cfg.model.num_classes == 3


def test_missing_data_root_and_unknown_validation_class_are_clear_errors(folder, tmp_path):
    cfg = _tiny(folder, data_root=None)
    with pytest.raises(FileNotFoundError, match="data_root"):
        resolve_cls_data(cfg)
    with pytest.raises(FileNotFoundError, match="not a folder"):
        resolve_cls_data(_tiny(folder, data_root=str(tmp_path / "nowhere")))
    make_image_folder(tmp_path / "d", n_train=1, n_val=1, size=20)
    (tmp_path / "d" / "val" / "zebra").mkdir()
    (tmp_path / "d" / "val" / CLASSES[0] / "0.png").rename(tmp_path / "d" / "val" / "zebra" / "0.png")
    cfg = _tiny(tmp_path / "d")
    resolve_cls_data(cfg)
    with pytest.raises(DataFormatError, match="zebra"):
        ImageClsDataset(**{k: v for k, v in cfg.val_dataloader.dataset.items() if k != "type"})


def test_train_augmentation_is_a_function_of_the_draw_seed(folder):
    cfg = _tiny(folder)
    resolve_cls_data(cfg)
    data = ImageClsDataset(**{k: v for k, v in cfg.train_dataloader.dataset.items() if k != "type"})
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a, b, c = data[(1, 7)]["inputs"], data[(1, 7)]["inputs"], data[(1, 8)]["inputs"]
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(torch.get_rng_state(), state)  # the global stream (dropout, init) is untouched


def test_randaugment_posterize_keeping_zero_bits_gives_black_not_an_error():
    """RandAugment inc1 at magnitude 10 keeps 0 bits; Pillow 13 raises for that, our pipeline gives timm's black image."""
    from PIL import Image
    from timm.data.auto_augment import AugmentOp

    from visionzoo.engine.classification_data import cls_transforms, posterize_zero_bits_safe

    pipeline = cls_transforms(mode="train", input_size=(3, 32, 32), auto_augment="rand-m9-mstd0.5-inc1")
    ops = [op for t in pipeline.transforms for op in getattr(t, "ops", [])]
    posterize = [op for op in ops if isinstance(op, AugmentOp) and op.name == "PosterizeIncreasing"]
    assert posterize and all(op.aug_fn is posterize_zero_bits_safe for op in posterize)
    op = posterize[0]
    op.prob, op.magnitude, op.magnitude_std = 1.0, 10, 0.0
    img = Image.fromarray(np.full((8, 8, 3), 200, np.uint8))
    assert np.asarray(op(img)).max() == 0
    assert np.asarray(posterize_zero_bits_safe(img, 1)).max() == 128 and posterize_zero_bits_safe(img, 8) is img
