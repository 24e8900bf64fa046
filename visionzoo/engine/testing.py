"""`run_test`: evaluate a checkpoint on a config's test split, save the metrics table and (optionally) predictions."""
from __future__ import annotations

import os.path as osp
from dataclasses import dataclass, field
from pathlib import Path

from mmengine.config import Config

from .metrics import BratsMetric
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


def run_test(cfg: Config, checkpoint: str | Path, *, work_dir: str | None = None, out: str | Path | None = None,
             save_preds: str | Path | None = None, show_dir: str | Path | None = None) -> TestResult:
    """Load `checkpoint` (weights only, strict) and run the test loop of `cfg`.

    The metrics table goes to `out` (.json and .csv) or ``work_dir/test_metrics.{json,csv}``;
    `save_preds` receives one label NIfTI per case (plus PNG overlays unless `show_dir` takes them).
    """
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise FileNotFoundError(f"checkpoint {str(checkpoint)!r} does not exist.")
    cfg.load_from = str(checkpoint)
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
    brats = [m for m in runner.test_evaluator.metrics if isinstance(m, BratsMetric)]
    per_case = brats[0].per_case if brats else []
    target = Path(out) if out else Path(osp.join(runner.work_dir, "test_metrics.json"))
    files = save_metrics_table(metrics, target, extra={"checkpoint": str(checkpoint), "per_case": per_case})
    return TestResult(dict(metrics), files, per_case, nifti_dir, png_dir)
