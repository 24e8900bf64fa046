"""Evaluate a checkpoint on a config's test split: prints and saves the metrics table (Dice/HD95, COCO AP or top-1/top-5).

    python tools/test.py configs/swin_unetr_brats_synthetic.py work_dirs/demo/latest.pth --save-preds preds/
    visionzoo test swin_unetr_brats_synthetic work_dirs/demo/latest.pth

The table goes to --out (FILE.json and FILE.csv) or WORK_DIR/test_metrics.{json,csv}; classification also writes
per-class accuracy into the JSON and a confusion-matrix PNG beside it (FILE_confusion.png). ``--save-preds DIR``
writes one BraTS label NIfTI per case (labels 1/2/4 for 2021, original affine) and a PNG overlay montage;
``--show-dir DIR`` puts the PNGs there instead (or alone, without NIfTI).
"""
from __future__ import annotations

import argparse

from ._configs import load_config
from ._errors import import_engine, run_main
from ._options import DictAction


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    p.add_argument("config", help="config file (or packaged config name) the checkpoint was trained with")
    p.add_argument("checkpoint", nargs="?", default=None,
                   help="checkpoint file (e.g. WORK_DIR/latest.pth or best_mean_dice_iter_N.pth); leave it out to "
                        "evaluate weights named in the config (model.name=<model>.<tag> +model.pretrained=True)")
    p.add_argument("--work-dir", help="where logs go (default: work_dirs/<config name>)")
    p.add_argument("--out", help="metrics table file (.json; a .csv is written beside it)")
    p.add_argument("--save-preds", metavar="DIR", help="write per-case NIfTI label maps (and PNG overlays) here")
    p.add_argument("--show-dir", metavar="DIR", help="write per-case PNG overlay montages here")
    p.add_argument("--cfg-options", nargs="+", action=DictAction, default={}, metavar="KEY=VALUE",
                   help="override config keys, e.g. data_root=/data/brats segmenter.inference.overlap=0.6")
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16", "auto"), default=None,
                   help="inference precision (default: the config's; fp32 unless it says): bf16 autocast runs about "
                        "1.5-3x faster on CPUs with AVX512-BF16/AMX, outputs within about 1e-2 of fp32; auto: bf16 "
                        "where the hardware has native bf16, else fp32")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return p


def _main(argv: list[str], prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    engine = import_engine()
    format_metrics_table, run_test = engine.format_metrics_table, engine.run_test

    cfg = load_config(args.config, args.cfg_options)
    engine.set_inference_precision(cfg, args.precision)
    result = run_test(cfg, args.checkpoint, work_dir=args.work_dir, out=args.out, save_preds=args.save_preds,
                      show_dir=args.show_dir)
    print(format_metrics_table(result.metrics))
    print("metrics table: " + ", ".join(str(f) for f in result.table_files))
    if result.nifti_dir:
        print(f"NIfTI label maps (one per case, original affine): {result.nifti_dir}")
    if result.confusion_png:
        print(f"confusion matrix: {result.confusion_png}")
    if result.png_dir:
        print(f"PNG overlays (BraTS: FLAIR with WT/TC/ET contours; detection: boxes, labels, scores): {result.png_dir}")
    return 0


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    return run_main(lambda a: _main(a, prog), argv)
