"""Set criterion: loss values against a naive per-image computation, aux losses, weights, empty images, errors."""
import math

import pytest
import torch
import torch.distributed as dist

from visionzoo.heads.detr import HungarianMatcher, SetCriterion

NUM_CLASSES = 3


def _outputs(seed, batch=2, queries=4, aux=2):
    g = torch.Generator().manual_seed(seed)

    def one():
        return {"pred_logits": torch.randn(batch, queries, NUM_CLASSES + 1, generator=g),
                "pred_boxes": torch.rand(batch, queries, 4, generator=g) * 0.4 + 0.2}

    out = one()
    out["aux_outputs"] = [one() for _ in range(aux)]
    return out


TARGETS = [
    {"labels": torch.tensor([0, 2]), "boxes": torch.tensor([[0.3, 0.3, 0.2, 0.2], [0.6, 0.5, 0.3, 0.4]])},
    {"labels": torch.tensor([1]), "boxes": torch.tensor([[0.5, 0.5, 0.5, 0.5]])},
]


def _xyxy(b):
    return (b[0] - b[2] / 2, b[1] - b[3] / 2, b[0] + b[2] / 2, b[1] + b[3] / 2)


def _giou(a, b):
    a, b = _xyxy(a), _xyxy(b)
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    union = area(a) + area(b) - inter
    hull = (max(a[2], b[2]) - min(a[0], b[0])) * (max(a[3], b[3]) - min(a[1], b[1]))
    return inter / union - (hull - union) / hull


def _naive_losses(out, targets, indices, eos_coef=0.1):
    """Weighted CE over all queries (unmatched -> no object), L1 and 1 - GIoU over matched pairs / number of boxes."""
    num_boxes = max(sum(len(t["labels"]) for t in targets), 1)
    ce_num = ce_den = l1 = giou = 0.0
    for b, (rows, cols) in enumerate(indices):
        match = dict(zip(rows.tolist(), cols.tolist()))
        for q in range(out["pred_logits"].shape[1]):
            label = int(targets[b]["labels"][match[q]]) if q in match else NUM_CLASSES
            w = eos_coef if label == NUM_CLASSES else 1.0
            logp = out["pred_logits"][b, q].log_softmax(-1)[label].item()
            ce_num, ce_den = ce_num - w * logp, ce_den + w
            if q in match:
                pred, tgt = out["pred_boxes"][b, q].tolist(), targets[b]["boxes"][match[q]].tolist()
                l1 += sum(abs(p - t) for p, t in zip(pred, tgt))
                giou += 1 - _giou(pred, tgt)
    return {"loss_ce": ce_num / ce_den, "loss_bbox": l1 / num_boxes, "loss_giou": giou / num_boxes}


def test_losses_match_naive_computation_for_every_decoder_layer():
    out = _outputs(0)
    criterion = SetCriterion(NUM_CLASSES)
    losses = criterion(out, TARGETS)
    assert sorted(losses) == sorted(f"{k}{s}" for k in ("loss_ce", "loss_bbox", "loss_giou") for s in ("", "_0", "_1"))
    weights = {"loss_ce": 1.0, "loss_bbox": 5.0, "loss_giou": 2.0}
    for suffix, layer in [("", out), ("_0", out["aux_outputs"][0]), ("_1", out["aux_outputs"][1])]:
        naive = _naive_losses(layer, TARGETS, HungarianMatcher()(layer, TARGETS))
        for name, value in naive.items():
            assert losses[name + suffix].item() == pytest.approx(weights[name] * value, rel=1e-5, abs=1e-6)


def test_custom_weights_eos_and_no_aux():
    out = _outputs(1)
    criterion = SetCriterion(NUM_CLASSES, eos_coef=0.5, weight_dict={"loss_ce": 2.0, "loss_giou": 1.0}, aux_loss=False)
    losses = criterion(out, TARGETS)
    assert sorted(losses) == ["loss_ce", "loss_giou"]
    naive = _naive_losses(out, TARGETS, HungarianMatcher()(out, TARGETS), eos_coef=0.5)
    assert losses["loss_ce"].item() == pytest.approx(2.0 * naive["loss_ce"], rel=1e-5)
    assert losses["loss_giou"].item() == pytest.approx(naive["loss_giou"], rel=1e-5)


def test_images_without_objects_train_towards_no_object():
    out = _outputs(2, aux=0)
    empty = [{"labels": torch.zeros(0, dtype=torch.int64), "boxes": torch.zeros(0, 4)}] * 2
    out["pred_logits"].requires_grad_(True)
    losses = SetCriterion(NUM_CLASSES)(out, empty)
    assert losses["loss_bbox"].item() == 0 and losses["loss_giou"].item() == 0
    expected = -out["pred_logits"].detach().log_softmax(-1)[..., -1].mean().item()  # all weights eos_coef: a plain mean
    assert losses["loss_ce"].item() == pytest.approx(expected, rel=1e-5)
    sum(losses.values()).backward()
    assert torch.isfinite(out["pred_logits"].grad).all()


def test_gradients_reach_predictions():
    out = _outputs(3, aux=1)
    for d in [out, *out["aux_outputs"]]:
        d["pred_logits"].requires_grad_(True)
        d["pred_boxes"].requires_grad_(True)
    sum(SetCriterion(NUM_CLASSES)(out, TARGETS).values()).backward()
    assert out["pred_boxes"].grad.abs().sum() > 0 and out["aux_outputs"][0]["pred_boxes"].grad.abs().sum() > 0


def test_num_boxes_is_averaged_over_processes(tmp_path):
    """Under torch.distributed the box count is all-reduced (one-process gloo group: count / 1)."""
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        assert SetCriterion(NUM_CLASSES).num_boxes(TARGETS, torch.device("cpu")) == 3.0
    finally:
        dist.destroy_process_group()
    assert SetCriterion(NUM_CLASSES).num_boxes([], torch.device("cpu")) == 1.0  # clamped to at least 1


@pytest.mark.parametrize(
    "targets, match",
    [
        ([{"labels": torch.tensor([3]), "boxes": torch.rand(1, 4)}] * 2, r"labels must lie in \[0, 3\)"),
        ([{"labels": torch.tensor([0]), "boxes": torch.rand(1, 5)}] * 2, r"boxes \(n, 4\)"),
        ([{"boxes": torch.rand(1, 4)}] * 2, "needs 'labels'"),
    ],
)
def test_bad_targets(targets, match):
    with pytest.raises(ValueError, match=match):
        SetCriterion(NUM_CLASSES)(_outputs(0), targets)


def test_wrong_class_count():
    with pytest.raises(ValueError, match="num_classes \\+ 1 = 6"):
        SetCriterion(5)(_outputs(0), TARGETS)
    with pytest.raises(ValueError, match="unknown loss names"):
        SetCriterion(3, weight_dict={"loss_mask": 1.0})
    assert math.isclose(SetCriterion(3).empty_weight[-1].item(), 0.1, rel_tol=1e-6)
