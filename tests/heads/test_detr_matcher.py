"""Hungarian matcher: cost matrix against the per-pair formula, assignment against brute force on tiny problems."""
import itertools

import pytest
import torch

from visionzoo.heads.detr import HungarianMatcher


def _giou(a, b):
    """Generalised IoU of two cx, cy, w, h boxes, written out."""
    ax0, ay0, ax1, ay1 = a[0] - a[2] / 2, a[1] - a[3] / 2, a[0] + a[2] / 2, a[1] + a[3] / 2
    bx0, by0, bx1, by1 = b[0] - b[2] / 2, b[1] - b[3] / 2, b[0] + b[2] / 2, b[1] + b[3] / 2
    inter = max(0.0, min(ax1, bx1) - max(ax0, bx0)) * max(0.0, min(ay1, by1) - max(ay0, by0))
    union = a[2] * a[3] + b[2] * b[3] - inter
    hull = (max(ax1, bx1) - min(ax0, bx0)) * (max(ay1, by1) - min(ay0, by0))
    return inter / union - (hull - union) / hull


def _problem(seed, batch, queries, sizes, classes=4):
    g = torch.Generator().manual_seed(seed)
    outputs = {"pred_logits": torch.randn(batch, queries, classes + 1, generator=g),
               "pred_boxes": torch.rand(batch, queries, 4, generator=g) * 0.5 + 0.1}
    targets = [{"labels": torch.randint(0, classes, (n,), generator=g), "boxes": torch.rand(n, 4, generator=g) * 0.5 + 0.1}
               for n in sizes]
    return outputs, targets


def _naive_cost(outputs, target, b, q, k, weights=(1.0, 5.0, 2.0)):
    """Cost of query q of image b against box k of `target`: -p(class), L1 and -GIoU, weighted."""
    prob = outputs["pred_logits"][b, q].softmax(-1)
    pred = outputs["pred_boxes"][b, q].tolist()
    tgt_label = int(target["labels"][k])
    tgt = target["boxes"][k].tolist()
    l1 = sum(abs(p - t) for p, t in zip(pred, tgt))
    return -weights[0] * prob[tgt_label].item() + weights[1] * l1 - weights[2] * _giou(pred, tgt)


def test_cost_matrix_matches_per_pair_formula():
    outputs, targets = _problem(0, batch=2, queries=4, sizes=[2, 3])
    cost = HungarianMatcher().cost_matrix(outputs, targets)
    assert cost.shape == (2, 4, 5)  # every prediction against every target of the batch
    flat = [(t, k) for t, tg in enumerate(targets) for k in range(len(tg["labels"]))]
    for b in range(2):
        for q in range(4):
            for col, (t, k) in enumerate(flat):
                assert cost[b, q, col].item() == pytest.approx(_naive_cost(outputs, targets[t], b, q, k), abs=1e-5)


@pytest.mark.parametrize("seed", range(5))
def test_assignment_is_optimal(seed):
    sizes = [3, 1, 0, 4]
    outputs, targets = _problem(seed, batch=4, queries=5, sizes=sizes)
    matcher = HungarianMatcher(cost_class=2.0, cost_bbox=1.0, cost_giou=3.0)
    indices = matcher(outputs, targets)
    cost = matcher.cost_matrix(outputs, targets).split(sizes, -1)
    for b, (rows, cols) in enumerate(indices):
        n = sizes[b]
        assert len(rows) == len(cols) == n and rows.dtype == torch.int64
        assert len(set(rows.tolist())) == n and sorted(cols.tolist()) == list(range(n))
        c = cost[b][b]
        best = min((sum(c[p, t].item() for t, p in enumerate(perm)) for perm in itertools.permutations(range(5), n)), default=0.0)
        assert sum(c[r, k].item() for r, k in zip(rows, cols)) == pytest.approx(best, abs=1e-5)


def test_no_targets_and_errors():
    outputs, targets = _problem(0, batch=2, queries=3, sizes=[0, 0])
    assert all(len(r) == len(c) == 0 for r, c in HungarianMatcher()(outputs, targets))
    with pytest.raises(ValueError, match="3 target dicts for a batch of 2"):
        HungarianMatcher()(outputs, targets + targets[:1])
    outputs, targets = _problem(0, batch=1, queries=3, sizes=[2])
    outputs["pred_boxes"][0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        HungarianMatcher()(outputs, targets)
    with pytest.raises(ValueError, match="non-zero"):
        HungarianMatcher(0, 0, 0)
