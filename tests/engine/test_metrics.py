"""BratsMetric against hand-computed Dice / HD95 on tiny volumes, including empty predictions and labels."""
from __future__ import annotations

import pytest
import torch

from visionzoo.engine import BRATS_EMPTY_HD95, BratsMetric, format_metrics_table, metrics_table, save_metrics_table
from visionzoo.engine.metrics import voxel_spacing

S = (6, 6, 6)


def masks(*voxel_sets):
    """A (3, *S) mask with channel c set at the voxels of voxel_sets[c]."""
    m = torch.zeros(3, *S)
    for c, voxels in enumerate(voxel_sets):
        for v in voxels:
            m[(c, *v)] = 1
    return m


def test_dice_and_hd95_by_hand():
    metric = BratsMetric()
    # TC: pred 2 voxels, label 3, overlap 1 -> Dice 2*1/(2+3) = 0.4
    # WT: identical 2-voxel masks -> Dice 1, HD95 0
    # ET: pred one voxel, label one voxel 3 voxels away along z (spacing 2 mm) -> Dice 0, HD95 6 mm
    pred = masks([(0, 0, 0), (0, 0, 1)], [(2, 2, 2), (2, 2, 3)], [(4, 4, 0)])
    label = masks([(0, 0, 1), (0, 1, 1), (1, 1, 1)], [(2, 2, 2), (2, 2, 3)], [(4, 4, 3)])
    affine = torch.diag(torch.tensor([-1.0, 1.0, 2.0, 1.0], dtype=torch.float64))
    dice, hd95 = metric.case_scores(pred.bool(), label, affine)
    assert dice == pytest.approx([0.4, 1.0, 0.0])
    assert hd95[1] == 0.0 and hd95[2] == pytest.approx(6.0)
    # TC by hand (spacing 1, 1, 2 mm): pred -> label distances {(0,0,0): 2, (0,0,1): 0}, 95th percentile
    # (linear) 1.9; label -> pred {0, 1, sqrt(2)}, 95th percentile 1 + 0.9 * (sqrt(2) - 1) = 1.37; HD95 = max = 1.9
    assert hd95[0] == pytest.approx(1.9)


def test_empty_prediction_and_label_follow_the_brats_convention():
    metric = BratsMetric()
    empty = torch.zeros(3, *S)
    one = masks([(1, 1, 1)], [(1, 1, 1)], [(1, 1, 1)])
    assert metric.case_scores(empty.bool(), empty) == ([1.0, 1.0, 1.0], [0.0, 0.0, 0.0])  # both empty
    assert metric.case_scores(empty.bool(), one) == ([0.0] * 3, [BRATS_EMPTY_HD95] * 3)  # missed tumour
    assert metric.case_scores(one.bool(), empty) == ([0.0] * 3, [BRATS_EMPTY_HD95] * 3)  # false alarm


def test_process_and_means_over_cases():
    metric = BratsMetric()
    empty = torch.zeros(3, *S)
    one = masks([(1, 1, 1)], [(1, 1, 1)], [(1, 1, 1)])
    metric.process({}, [
        {"pred": one.bool(), "label": one, "case_id": "a"},  # perfect: Dice 1, HD95 0
        {"pred": empty.bool(), "label": one, "case_id": "b"},  # all missed: Dice 0, HD95 373.13
        {"pred": one.bool(), "case_id": "unlabelled"},  # skipped
    ])
    out = metric.compute_metrics(metric.results)
    assert out["dice_tc"] == out["dice_wt"] == out["dice_et"] == out["mean_dice"] == pytest.approx(0.5)
    assert out["mean_hd95"] == pytest.approx(BRATS_EMPTY_HD95 / 2)
    assert [c["case_id"] for c in metric.per_case] == ["a", "b"]
    assert list(out) == ["dice_tc", "dice_wt", "dice_et", "mean_dice", "hd95_tc", "hd95_wt", "hd95_et", "mean_hd95"]


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="must both be"):
        BratsMetric().case_scores(torch.zeros(3, 4, 4, 4, dtype=torch.bool), torch.zeros(3, 4, 4, 5))


def test_voxel_spacing_from_affine():
    a = torch.tensor([[0.0, -2.0, 0, 0], [1.5, 0, 0, 0], [0, 0, 3.0, 0], [0, 0, 0, 1]])
    assert voxel_spacing(a) == [1.5, 2.0, 3.0] and voxel_spacing(None) == [1.0, 1.0, 1.0]


def test_metrics_table_text_json_csv(tmp_path):
    metrics = {"dice_tc": 0.8, "dice_wt": 0.9, "dice_et": 0.7, "mean_dice": 0.8,
               "hd95_tc": 3.0, "hd95_wt": 4.0, "hd95_et": 5.0, "mean_hd95": 4.0}
    rows = metrics_table(metrics)
    assert [r["region"] for r in rows] == ["TC", "WT", "ET", "mean"] and rows[3] == {"region": "mean", "dice": 0.8, "hd95": 4.0}
    text = format_metrics_table(metrics)
    assert "Dice" in text and "HD95" in text and "0.9000" in text
    json_path, csv_path = save_metrics_table(metrics, tmp_path / "m.csv")
    assert json_path.name == "m.json" and csv_path.read_text().splitlines()[1] == "TC,0.8,3.0"
