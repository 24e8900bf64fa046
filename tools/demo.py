"""`make demo` / `make demo-cls`: a model trained and evaluated end to end with the real tools.

Runs exactly what a user would type, one step after another, and shows each command:

    python tools/train.py CONFIG --work-dir WORK_DIR
    python tools/test.py  CONFIG WORK_DIR/best_<metric>_iter_N.pth --work-dir WORK_DIR --out WORK_DIR/test_metrics.json ...

- ``brats`` (``make demo``): Swin UNETR on synthetic BraTS 2021 cases that its config generates into the work dir
  (case folders with NIfTI files + brats21_folds.json, read by the same loader as real data); the held-out fold's
  Dice / HD95 table, checked against WT Dice >= 0.8 and mean Dice >= 0.6, and the NIfTI predictions and PNG
  overlays. About 5 minutes on 2 CPU cores.
- ``digits`` (``make demo-cls``): a ResNet-18 with CBAM attention on scikit-learn's 1,797 real handwritten digits
  (written as an ImageFolder by its config); top-1 / top-5 on the held-out 20 %, checked against top-1 >= 97 %,
  and the confusion-matrix PNG.
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from visionzoo.cli import run_main

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Demo:
    """One demo: its config, work dir, the metric its best checkpoint is named after, and its targets."""

    config: str
    work_dir: str
    best_metric: str
    targets: dict[str, float]
    title: str
    test_args: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


DEMOS = {
    "brats": Demo(
        config="configs/swin_unetr_brats_synthetic.py", work_dir="work_dirs/demo", best_metric="mean_dice",
        targets={"dice_wt": 0.8, "mean_dice": 0.6},  # the bar for "validation Dice clearly rises"
        title="Swin UNETR on synthetic BraTS (held-out fold) — scores on synthetic data say nothing about real BraTS",
        test_args=("--save-preds", "{work_dir}/predictions"),
        notes=("Real data: python tools/train.py configs/swin_unetr_brats.py --cfg-options data_root=/path/to/BraTS2021",),
    ),
    "digits": Demo(
        config="configs/classification/digits_resnet18_cbam.py", work_dir="work_dirs/demo_cls",
        best_metric="accuracy_top1", targets={"accuracy/top1": 97.0},
        title="ResNet-18 + CBAM on scikit-learn's handwritten digits (held-out 20 %, real scans)",
        notes=("Your own images: python tools/train.py configs/classification/finetune.py --cfg-options "
               "data_root=DIR (DIR/train/<class>/*, DIR/val/<class>/*)",),
    ),
}


def _run(args: list[str]) -> None:
    """Run ``python ARGS`` in the repository root, streaming its output; stop the demo if it fails."""
    print(f"\n$ python {shlex.join(args)}", flush=True)
    result = subprocess.run([sys.executable, *args], cwd=REPO)
    if result.returncode != 0:
        sys.exit(f"demo: `python {shlex.join(args)}` failed with exit code {result.returncode}")


def _clear_previous_run(work_dir: Path) -> None:
    """Remove an earlier demo's checkpoints (the generated data is kept and reused)."""
    stale = [*work_dir.glob("*.pth"), work_dir / "last_checkpoint"]
    for path in stale:
        if path.exists() or path.is_symlink():
            path.unlink()
    if stale:
        print(f"demo: starting a fresh run in {work_dir} (earlier checkpoints removed, synthetic data reused)")


def _best_checkpoint(work_dir: Path, metric: str) -> Path:
    best = sorted(work_dir.glob(f"best_{metric}_iter_*.pth"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    if best:
        return best[-1]
    latest = work_dir / "latest.pth"
    if not latest.exists():
        sys.exit(f"demo: training wrote no checkpoint into {work_dir}")
    return latest


def main(argv: list[str] | None = None) -> int:
    """The tool; user errors print one ``error:`` line and return 2 (``--debug``: the traceback)."""
    return run_main(_main, argv)


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("demo", nargs="?", default="brats", choices=sorted(DEMOS), help="which demo (default: brats)")
    parser.add_argument("--work-dir", default=None, help="where data, checkpoints and results go")
    args = parser.parse_args(argv)
    demo = DEMOS[args.demo]
    work_dir = (REPO / (args.work_dir or demo.work_dir)).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    print(f"demo: 1/2 train {demo.config}, validating on the held-out split")
    _clear_previous_run(work_dir)
    _run(["tools/train.py", demo.config, "--work-dir", str(work_dir)])
    train_s = time.perf_counter() - start

    checkpoint = _best_checkpoint(work_dir, demo.best_metric)
    metrics_file = work_dir / "test_metrics.json"
    print(f"\ndemo: 2/2 evaluate {checkpoint.name} on the held-out split")
    _run(["tools/test.py", demo.config, str(checkpoint), "--work-dir", str(work_dir), "--out", str(metrics_file),
          *(a.format(work_dir=work_dir) for a in demo.test_args)])

    from visionzoo.engine import format_metrics_table  # after the runs: keep the demo's own start fast

    metrics = json.loads(metrics_file.read_text())["metrics"]
    missed = [f"{k} {metrics[k]:.3f} < {v}" for k, v in demo.targets.items() if metrics[k] < v]
    total_s = time.perf_counter() - start
    print("\n" + "=" * 64)
    print(demo.title)
    print(format_metrics_table(metrics))
    print("targets: " + ", ".join(f"{k} >= {v}" for k, v in demo.targets.items()) + ": "
          + ("met" if not missed else "MISSED (" + "; ".join(missed) + ")"))
    print(f"time: {train_s / 60:.1f} min training, {total_s / 60:.1f} min in all")
    print(f"metrics table: {metrics_file} (+ .csv)")
    confusion = metrics_file.with_name(metrics_file.stem + "_confusion.png")
    if confusion.exists():
        print(f"confusion matrix: {confusion}")
    preds = work_dir / "predictions"
    if preds.is_dir():
        print(f"NIfTI label maps: {preds}")
        print(f"PNG overlays:     {', '.join(str(p) for p in sorted(preds.glob('*.png'))) or preds}")
    for note in demo.notes:
        print(note)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
