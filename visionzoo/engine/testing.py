"""`run_test`: evaluate a checkpoint on a config's test split, save the metrics table and (optionally) predictions."""
from __future__ import annotations

import os.path as osp
from dataclasses import dataclass, field
from pathlib import Path

from mmengine.config import Config

from .checkpoint import checkpoint_to_run
from .classification import Accuracy
from .confusion import save_confusion_matrix_png
from .report import save_metrics_table
from .runner import build_runner

__all__ = ["run_test", "TestResult"]


@dataclass
class TestResult:
    """What `run_test` produced: the metrics, the files written, and per-case scores."""

    metrics: dict[str, float]
    table_files: list[Path]
    per_case: list[dict] = field(default_factory=list)
    nifti_dir: Path | None = None
    png_dir: Path | None = None
    confusion_png: Path | None = None


def run_test(cfg: Config, checkpoint: str | Path | None, *, work_dir: str | None = None, out: str | Path | None = None,
             save_preds: str | Path | None = None, show_dir: str | Path | None = None) -> TestResult:
    """Load `checkpoint` (weights only, strict) and run the test loop of `cfg`.

    `checkpoint` None evaluates the weights the config's model dict names itself (``pretrained=True`` on a
    ``name.tag``, or ``checkpoint_path=``), e.g. published ImageNet weights.

    The metrics table goes to `out` (.json and .csv) or ``work_dir/test_metrics.{json,csv}``;
    `save_preds` receives one label NIfTI per case (plus PNG overlays unless `show_dir` takes them).
    """
    checkpoint = checkpoint_to_run(cfg, checkpoint, "evaluate")
    cfg.load_from = str(checkpoint) if checkpoint is not None else None
    cfg.resume = False
    nifti_dir = Path(save_preds) if save_preds else None
    png_dir = Path(show_dir) if show_dir else nifti_dir
    if nifti_dir or png_dir:
        if cfg.get("predictions_hook"):  # e.g. SaveDetectionsHook: pred_dir gets its own outputs (not NIfTI)
            hook = dict(cfg.predictions_hook, pred_dir=str(nifti_dir) if nifti_dir else None,
                        png_dir=str(png_dir) if png_dir else None)
            nifti_dir = None
        else:
            hook = dict(type="SavePredictionsHook", nifti_dir=str(nifti_dir) if nifti_dir else None,
                        png_dir=str(png_dir) if png_dir else None)
        cfg.custom_hooks = [*(cfg.get("custom_hooks") or []), hook]
    runner = build_runner(cfg, work_dir=work_dir)
    metrics = runner.test()
    evaluators = runner.test_evaluator.metrics
    brats = [m for m in evaluators if isinstance(getattr(m, "per_case", None), list)]  # BratsMetric's case rows
    accuracy = [m for m in evaluators if isinstance(m, Accuracy) and m.confusion is not None]
    per_case = brats[0].per_case if brats else []
    target = Path(out) if out else Path(osp.join(runner.work_dir, "test_metrics.json"))
    weights = str(checkpoint) if checkpoint is not None else str(cfg.model.get("checkpoint_path") or cfg.model.get("name"))
    extra: dict = {"checkpoint": weights, "per_case": per_case}
    confusion_png = None
    if accuracy:
        acc = accuracy[0]
        classes = list((acc.dataset_meta or {}).get("classes") or range(acc.confusion.shape[0]))
        extra.update(per_class_accuracy=acc.per_class, confusion_matrix=acc.confusion.tolist(),
                     classes=[str(c) for c in classes])
        confusion_png = save_confusion_matrix_png(acc.confusion, classes,
                                                  target.with_name(target.stem + "_confusion.png"))
    files = save_metrics_table(metrics, target, extra=extra)
    return TestResult(dict(metrics), files, per_case, nifti_dir, png_dir, confusion_png)
