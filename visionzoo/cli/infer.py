"""Run a trained (or named) model on new images or BraTS cases with its config's own preprocessing.

    python tools/infer.py configs/swin_unetr_brats_synthetic.py work_dirs/demo/latest.pth data/BraTS2021_00000 --out preds/
    python tools/infer.py configs/detr_shapes_synthetic.py work_dirs/detr/latest.pth photos/ --out dets/ --score-thr 0.7
    python tools/infer.py configs/classification/digits_resnet18_cbam.py work_dirs/demo_cls/latest.pth a.png b.png --out cls/
    visionzoo infer digits_resnet18_cbam work_dirs/demo_cls/latest.pth a.png --out cls/

The task follows the config. Classification writes DIR/predictions.csv (path, pred_class, pred_index, score, top5)
and DIR/predictions.json; detection writes DIR/detections.json (per image: xyxy boxes in original pixels, scores,
labels, class names) and one PNG per image with the boxes scoring at least --score-thr drawn; 3D segmentation
takes case folders (or a folder of them) or 4D NIfTI files (FLAIR, T1w, T1gd, T2w) and writes one label NIfTI per
case (the format's labels, the input's affine), a PNG overlay and DIR/segmentations.json. Folders are searched
recursively. Leave CHECKPOINT out to run weights the config names
(--cfg-options model.name=<model>.<tag> +model.pretrained=True).

An exported file runs without config or checkpoint, with the preprocessing and class names it records
(tools/export_onnx.py; classifiers and BraTS segmenters, whose volumes go through sliding windows):

    python tools/infer.py --onnx swin_unetr.onnx data/BraTS2021_00000 --out preds/
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ._configs import load_config
from ._errors import UserError, import_engine, run_main
from ._options import DictAction, positive_int

_CKPT_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".safetensors", ".tar")


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    p.add_argument("config", nargs="?", help="config file (or packaged config name) the checkpoint was trained with "
                                             "(not with --onnx)")
    p.add_argument("checkpoint", nargs="?", help="checkpoint file (e.g. WORK_DIR/latest.pth); leave it out to run "
                                                 "weights named in the config")
    p.add_argument("inputs", nargs="*", metavar="INPUT",
                   help="image files or folders; for 3D segmentation BraTS case folders, folders of cases or 4D NIfTI")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the predictions")
    p.add_argument("--onnx", default=None, metavar="MODEL.onnx",
                   help="run an exported ONNX file (its recorded preprocessing); every positional is then an INPUT")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument("--batch-size", type=positive_int, default=8, help="images per forward pass (classification, detection)")
    p.add_argument("--score-thr", type=float, default=0.5, help="lowest score of a box drawn on detection PNGs")
    p.add_argument("--format", default="auto", help="BraTS format of case folders (default: from the file names)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16", "auto"), default=None,
                   help="inference precision (default: the config's; fp32 unless it says): bf16 autocast runs about "
                        "1.5-3x faster on CPUs with AVX512-BF16/AMX, outputs within about 1e-2 of fp32; auto: bf16 "
                        "where the hardware has native bf16, else fp32")
    p.add_argument("--cfg-options", nargs="+", action=DictAction, default={}, metavar="KEY=VALUE",
                   help="override config keys, e.g. segmenter.inference.overlap=0.6")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return p


def _split_checkpoint(checkpoint: str | None, inputs: list[str]) -> tuple[str | None, list[str]]:
    """CHECKPOINT is optional: a first positional that is not a checkpoint file is an input."""
    if checkpoint is None:
        return None, inputs
    path = Path(checkpoint)
    if path.name.lower().endswith(_CKPT_SUFFIXES):
        return checkpoint, inputs
    if path.exists() or not inputs:  # an image, a folder or a case: no CHECKPOINT given
        return None, [checkpoint, *inputs]
    return checkpoint, inputs


def _run_onnx(args: argparse.Namespace) -> int:
    import_engine()
    from visionzoo.engine.inference import run_onnx_inference

    inputs = [a for a in (args.config, args.checkpoint, *args.inputs) if a is not None]
    if args.cfg_options:
        raise UserError("--cfg-options needs a config; an --onnx file carries its own settings")
    if args.precision is not None:
        raise UserError("--precision is for PyTorch inference; an --onnx file has the precision it was exported with "
                        "(visionzoo export --precision fp16 or --quantize int8)")
    result = run_onnx_inference(args.onnx, inputs, args.out, batch_size=args.batch_size, format=args.format,
                                progress=not args.no_progress)
    kind = {"segmentation": "case(s)"}.get(result.task, "image(s)")
    print(f"{result.task}: {result.count} {kind} -> {result.out_dir}")
    for f in result.summary_files:
        print(f"  {f}")
    return 0


def _main(argv: list[str], prog: str | None = None) -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if args.onnx is not None:
        return _run_onnx(args)
    if args.config is None:
        parser.error("the following arguments are required: config (or --onnx MODEL.onnx)")
    import_engine()
    from visionzoo.engine import set_inference_precision
    from visionzoo.engine.inference import run_inference

    checkpoint, inputs = _split_checkpoint(args.checkpoint, list(args.inputs))
    cfg = load_config(args.config, args.cfg_options)
    set_inference_precision(cfg, args.precision)
    result = run_inference(cfg, checkpoint, inputs, args.out, device=args.device, batch_size=args.batch_size,
                           score_thr=args.score_thr, format=args.format, progress=not args.no_progress)
    kind = {"segmentation": "case(s)"}.get(result.task, "image(s)")
    print(f"{result.task}: {result.count} {kind} -> {result.out_dir}")
    for f in result.summary_files:
        print(f"  {f}")
    return 0


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    return run_main(lambda a: _main(a, prog), argv, user_errors=(ValueError, PermissionError))
