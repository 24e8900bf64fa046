"""`make demo`: Swin UNETR trained and evaluated on synthetic BraTS, end to end, with the real tools.

Runs exactly what a user would type, one step after another, and shows each command:

    python tools/train.py configs/swin_unetr_brats_synthetic.py --work-dir work_dirs/demo
    python tools/test.py  configs/swin_unetr_brats_synthetic.py work_dirs/demo/best_mean_dice_iter_N.pth \
        --work-dir work_dirs/demo --out work_dirs/demo/test_metrics.json --save-preds work_dirs/demo/predictions

The config generates its synthetic BraTS 2021 cases into the work dir on first use (case folders with
NIfTI files + brats21_folds.json, read by the same loader as real data). The demo ends with the metrics
table of the held-out fold, checked against the demo's targets (WT Dice >= 0.8, mean Dice >= 0.6), and
the paths of the NIfTI predictions and PNG overlays. About 5 minutes on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = "configs/swin_unetr_brats_synthetic.py"
TARGETS = {"dice_wt": 0.8, "mean_dice": 0.6}  # the bar for "validation Dice clearly rises"


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


def _best_checkpoint(work_dir: Path) -> Path:
    best = sorted(work_dir.glob("best_mean_dice_iter_*.pth"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    if best:
        return best[-1]
    latest = work_dir / "latest.pth"
    if not latest.exists():
        sys.exit(f"demo: training wrote no checkpoint into {work_dir}")
    return latest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", default="work_dirs/demo", help="where data, checkpoints and results go")
    args = parser.parse_args(argv)
    work_dir = (REPO / args.work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    print("demo: 1/2 train Swin UNETR (feature 12) on synthetic BraTS, validating on the held-out fold")
    _clear_previous_run(work_dir)
    _run(["tools/train.py", CONFIG, "--work-dir", str(work_dir)])
    train_s = time.perf_counter() - start

    checkpoint = _best_checkpoint(work_dir)
    metrics_file, preds = work_dir / "test_metrics.json", work_dir / "predictions"
    print(f"\ndemo: 2/2 evaluate {checkpoint.name} on the held-out cases, save NIfTI predictions and PNG overlays")
    _run(["tools/test.py", CONFIG, str(checkpoint), "--work-dir", str(work_dir), "--out", str(metrics_file),
          "--save-preds", str(preds)])

    from visionzoo.engine import format_metrics_table  # after the runs: keep the demo's own start fast

    metrics = json.loads(metrics_file.read_text())["metrics"]
    missed = [f"{k} {metrics[k]:.3f} < {v}" for k, v in TARGETS.items() if metrics[k] < v]
    total_s = time.perf_counter() - start
    print("\n" + "=" * 64)
    print("Swin UNETR on synthetic BraTS (held-out fold) — scores on synthetic data say nothing about real BraTS")
    print(format_metrics_table(metrics))
    print(f"targets: WT Dice >= {TARGETS['dice_wt']}, mean Dice >= {TARGETS['mean_dice']}: "
          + ("met" if not missed else "MISSED (" + "; ".join(missed) + ")"))
    print(f"time: {train_s / 60:.1f} min training, {total_s / 60:.1f} min in all")
    print(f"metrics table: {metrics_file} (+ .csv)")
    print(f"NIfTI label maps: {preds}")
    print(f"PNG overlays:     {', '.join(str(p) for p in sorted(preds.glob('*.png'))) or preds}")
    print("Real data: python tools/train.py configs/swin_unetr_brats.py --cfg-options data_root=/path/to/BraTS2021")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
