"""Export a visionzoo model (by name or from a config) to ONNX and verify it with onnxruntime.

    .venv/bin/python tools/export_onnx.py vit_small_patch16_224 --output vit_s.onnx
    .venv/bin/python tools/export_onnx.py swin_unetr_brats --input-size 4 96 96 96 --checkpoint model.pt
    .venv/bin/python tools/export_onnx.py configs/swin_unetr_brats_synthetic.py --checkpoint work_dirs/demo/latest.pth
    .venv/bin/python tools/export_onnx.py configs/detr_shapes_synthetic.py --checkpoint work_dirs/detr/latest.pth
    .venv/bin/python tools/export_onnx.py vit_small_patch16_224 --quantize int8 --output vit_s_int8.onnx
    visionzoo export swin_unetr_brats_synthetic --checkpoint work_dirs/demo/latest.pth   # a packaged config, by name

With a config (a ``.py`` file or the name of a packaged config), the network is the config's ``model`` dict (a ``create_model`` dict, ``name=...``; overrides
with ``--cfg-options``), and ``--checkpoint`` takes whatever ``tools/train.py`` wrote (a training checkpoint,
its EMA weights, a bare state dict) as well as the official releases. ``--set key=value`` passes further
constructor arguments (Python literals, never evaluated as code). The exported batch axis is dynamic by
default. Networks that take a padding mask (DETR) get it as a second input, ``mask`` (B, H, W) bool, True on
padding, as the engine's Detector feeds it.

The file names its outputs (``logits``, ``seg_logits``, ``pred_logits``/``pred_boxes``) and records in its
metadata what `visionzoo.export.OnnxPredictor` (and ``tools/infer.py --onnx``) needs: class names (from the
checkpoint's dataset_meta, else the config's data), the config's preprocessing (a classifier's eval transform;
a BraTS segmenter's sliding-window ROI, overlap and threshold), layout and the sizes the graph serves.
``--quantize int8`` writes onnxruntime's dynamic int8 quantization (MatMul/Gemm weights) of the verified
graph; ``--precision fp16`` its float16 version (onnxruntime's CPU provider lacks many fp16 kernels).

Mistakes (a missing file, a checkpoint of another architecture, an unknown model or key) print one
``error: ...`` line (a checkpoint mismatch lists the keys below it) and exit with status 2.
"""
from __future__ import annotations

import argparse
import ast
import inspect
import sys
from pathlib import Path
from typing import Any

import torch

import visionzoo as vz

from ._configs import list_configs, load_config
from ._errors import UserError, require, run_main
from ._options import DictAction, positive_int

INPUT_SIZE_HELP = (
    "C H W or C D H W (batch --batch-size). Default: a registered name uses its pretrained_cfg input_size; a "
    "classification config the size its test pipeline evaluates at; a BraTS "
    "(segmenter) config its sliding-window ROI segmenter.inference.roi_size with the network's in_chans (4) "
    "channels, the window the ONNX model is run on; a detection config a square of the test pipeline's test_size, "
    "or (test_size None: images at their stored size) of synthetic_shapes.size, else the model's pretrained_cfg "
    "input_size (3 800 1333 for DETR). Pass --dynamic batch,spatial to serve other sizes."
)


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _plain(value: Any) -> Any:
    """mmengine ConfigDicts (and lists of them) -> plain dicts, as create_model(**...) expects."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _is_config(target: str) -> bool:
    """A config file, or the name of a packaged config that is not also a registered model."""
    if target.endswith(".py"):
        return True
    if vz.list_models(target):
        return False
    key = target.replace("\\", "/")
    return key in list_configs() or any(name.rsplit("/", 1)[-1] == key for name in list_configs())


def load_model_config(target: str, cfg_options: dict[str, Any] | None = None) -> tuple[dict[str, Any], Any]:
    """``(create_model arguments, config or None)`` from a registered name or a config file's ``model`` dict."""
    if not _is_config(target):
        if cfg_options:
            raise UserError("--cfg-options needs a config file (.py); pass constructor arguments with --set key=value")
        return {"model_name": target}, None
    cfg = load_config(target, cfg_options)
    model_cfg = cfg.get("model")
    if not isinstance(model_cfg, dict):
        raise UserError(f"{target} has no `model` dict (a create_model dict such as dict(name='swin_unetr_brats', ...))")
    model_cfg = _plain(model_cfg)
    if "type" in model_cfg:  # a full engine model dict, e.g. dict(type="VolumeSegmenter", net=dict(name=...))
        network = model_cfg.get("net", model_cfg.get("network"))
        if not isinstance(network, dict):
            raise UserError(f"{target}: model has type={model_cfg['type']!r} but no `net` dict with the network's name")
        model_cfg = network
    if "name" not in model_cfg and "model_name" not in model_cfg:
        raise UserError(f"{target}: the `model` dict names no network (write model = dict(name='...', ...))")
    return model_cfg, cfg


def _detection_size(cfg: Any) -> tuple[int, ...] | None:
    loader = cfg.get("test_dataloader") or cfg.get("val_dataloader") or {}
    pipeline = (loader.get("dataset") or {}).get("pipeline") or {}
    size = pipeline.get("test_size", 800) if isinstance(pipeline, dict) else None
    if size is None and cfg.get("data_root") is None:
        size = (cfg.get("synthetic_shapes") or {}).get("size")
    return (3, int(size), int(size)) if size else None


def default_input_size(model: torch.nn.Module, cfg: Any) -> tuple[int, ...]:
    """The input (without batch) to export at; see INPUT_SIZE_HELP."""
    if cfg is not None:
        if cfg.get("classifier") is not None:
            from visionzoo.engine import eval_input_size

            return eval_input_size(cfg)
        roi = ((cfg.get("segmenter") or {}).get("inference") or {}).get("roi_size")
        if cfg.get("detector") is None and roi:
            return (int(getattr(model, "in_chans", None) or 4), *(int(r) for r in roi))
        if cfg.get("detector") is not None:
            size = _detection_size(cfg)
            if size:
                return size
    return tuple(model.pretrained_cfg.get("input_size", (3, 224, 224)))


def _takes_mask(model: torch.nn.Module) -> bool:
    try:
        return "mask" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="registered model name, or a config (a .py file or a packaged config's name) with a "
                                 "`model` dict")
    p.add_argument("--checkpoint", default=None,
                   help="weights to load: a tools/train.py checkpoint (EMA weights when the run used EMA), a state dict, "
                        "or an official release (converted)")
    p.add_argument("--input-size", type=int, nargs="+", default=None, metavar="N", help=INPUT_SIZE_HELP)
    p.add_argument("--batch-size", type=positive_int, default=1)
    p.add_argument("--dynamic", default="batch", choices=("none", "batch", "batch,spatial"), help="symbolic input axes")
    p.add_argument("--spatial-multiple", type=positive_int, default=32,
                   help="with --dynamic batch,spatial: exported sizes are multiples of this (the model's total stride)")
    p.add_argument("--opset", type=int, default=18)
    p.add_argument("--output", default=None, help="output .onnx path (default: <model>.onnx)")
    p.add_argument("--no-verify", action="store_true", help="skip the onnxruntime comparison")
    p.add_argument("--quantize", choices=("int8",), default=None,
                   help="int8: onnxruntime dynamic quantization (MatMul/Gemm weights int8) of the verified fp32 graph")
    p.add_argument("--precision", choices=("fp32", "fp16"), default="fp32",
                   help="fp16: float16 weights and arithmetic (fp32 inputs/outputs); for providers with fp16 kernels")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="a constructor argument of the network (Python literal), e.g. --set drop_path_rate=0.0")
    p.add_argument("--cfg-options", nargs="+", action=DictAction, default={}, metavar="KEY=VALUE",
                   help="override config keys (config files only), e.g. model.feature_size=24 "
                        "segmenter.inference.roi_size='(96,96,96)'")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return p


def _build(args: argparse.Namespace) -> tuple[torch.nn.Module, Any]:
    overrides = {}
    for pair in args.overrides:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"--set expects key=value, got {pair!r}")
        overrides[key] = _literal(value)
    if args.checkpoint and not Path(args.checkpoint).expanduser().is_file():
        raise FileNotFoundError(f"checkpoint file not found: {args.checkpoint}")
    model_args, cfg = load_model_config(args.model, args.cfg_options)
    if cfg is not None:
        from visionzoo.engine import trained_num_classes

        model_args = trained_num_classes(model_args, args.checkpoint)
    try:
        model = vz.create_model(checkpoint_path=args.checkpoint, **{**model_args, **overrides})
    except TypeError as e:  # a --set or config key the network's constructor does not take
        if "unexpected keyword argument" not in str(e):
            raise
        raise UserError(f"{e} (check --set / the config's model dict)") from e
    return model.eval(), cfg


def _main(argv: list[str], prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    if args.quantize and args.precision != "fp32":
        raise UserError("--quantize int8 and --precision fp16 are alternatives; pass one of them")
    require("onnx", "onnxscript", *(() if args.no_verify and not args.quantize else ("onnxruntime",)))
    model, cfg = _build(args)
    input_size = tuple(args.input_size or default_input_size(model, cfg))
    example = torch.randn(args.batch_size, *input_size)
    extra = {}
    if _takes_mask(model) and len(input_size) == 3:  # DETR: the padding mask is part of what a deployment feeds
        extra["mask"] = torch.zeros(args.batch_size, *input_size[1:], dtype=torch.bool)
    output = args.output or f"{Path(args.model).stem}.onnx"
    try:
        metadata = deployment_metadata(model, cfg, args.checkpoint, tuple(input_size))
    except ValueError as e:
        raise UserError(str(e).splitlines()[0]) from e
    try:
        report = vz.export_onnx(
            model,
            output,
            example,
            dynamic_batch=args.dynamic != "none",
            dynamic_spatial=args.dynamic == "batch,spatial",
            spatial_multiple=args.spatial_multiple,
            opset=args.opset,
            verify=not args.no_verify,
            extra_inputs=extra or None,
            metadata=metadata,
            quantize=args.quantize,
            precision=args.precision,
        )
    except ValueError as e:  # a size or option the exporter cannot serve: one line
        raise UserError(str(e).splitlines()[0]) from e
    names = report.output_names
    shown = ", ".join(names[:2]) + (f", ... ({len(names)} outputs)" if len(names) > 2 else "")
    sizes = "x".join("any" if s is None else str(s) for s in report.max_size or ())
    low = "x".join(map(str, report.min_size or ()))
    served = low if sizes == low else f"{low} up, multiples of {report.metadata.get('spatial_multiple')}"
    print(f"wrote {output} (input {'x'.join(map(str, example.shape))}{', mask' if extra else ''}; "
          f"outputs {shown}; sizes {served}; {report.precision})")
    return 0


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Mistakes print ``error: ...`` (a checkpoint mismatch lists the keys below it) and return 2."""
    return run_main(lambda a: _main(a, prog), argv, user_errors=(ValueError,), keep_lines=True)


def deployment_metadata(model: torch.nn.Module, cfg: Any, checkpoint: str | None,
                        input_size: tuple[int, ...]) -> dict[str, Any]:
    """What the ONNX file records beyond the model's pretrained_cfg: the weights, class names from the checkpoint's
    dataset_meta (else the config's data), and the config's preprocessing (classification eval transform, BraTS
    sliding-window settings)."""
    meta: dict[str, Any] = {}
    if checkpoint:
        meta["weights"] = Path(checkpoint).name
        meta["tag"] = None  # the weights are the checkpoint's, not a registered tag's
    ckpt_meta: dict[str, Any] = {}
    if checkpoint:
        from visionzoo.weights.checkpoint import checkpoint_meta

        ckpt_meta = checkpoint_meta(checkpoint) or {}
    classes = (ckpt_meta.get("dataset_meta") or {}).get("classes")
    if cfg is None:
        if classes:
            meta["class_names"] = [str(c) for c in classes]
        return meta
    from visionzoo.engine import model_data_config
    from visionzoo.engine.inference import inference_class_names
    from visionzoo.engine import task_wrapper

    key, _ = task_wrapper(cfg)
    num_classes = getattr(model, "num_classes", None)
    names = inference_class_names(cfg, ckpt_meta, num_classes)
    if names:
        meta["class_names"] = list(names)
    if key == "classifier":
        data_cfg = dict(model_data_config(dict(cfg.model)))
        for loader in ("test_dataloader", "val_dataloader"):
            pipeline = ((cfg.get(loader) or {}).get("dataset") or {}).get("pipeline") or {}
            if isinstance(pipeline, dict) and pipeline.get("type") == "ClsTransforms":
                data_cfg.update({k: v for k, v in pipeline.items() if k not in ("type", "mode") and v is not None})
                break
        for k in ("interpolation", "mean", "std", "crop_pct", "crop_mode"):
            if data_cfg.get(k) is not None:
                meta[k] = list(data_cfg[k]) if isinstance(data_cfg[k], tuple) else data_cfg[k]
        size = data_cfg.get("input_size", input_size)
        meta["input_size"] = [int(size)] * 3 if isinstance(size, int) else [int(s) for s in size]
        meta["output_activation"] = "softmax"
    elif key == "segmenter":
        inference = dict((cfg.get("segmenter") or {}).get("inference") or {})
        for ours, theirs in (("roi_size", "roi_size"), ("overlap", "overlap"), ("sw_batch_size", "sw_batch_size"),
                             ("blend_mode", "mode"), ("sigma_scale", "sigma_scale"), ("threshold", "threshold")):
            if inference.get(theirs) is not None:
                value = inference[theirs]
                meta[ours] = [int(v) for v in value] if ours == "roi_size" else value
        if "roi_size" in meta and list(meta["roi_size"]) != list(input_size[1:]):
            meta.pop("roi_size")  # exported at another size (--input-size): the graph's own size is its ROI
        meta["output_activation"] = "sigmoid"
    return meta


if __name__ == "__main__":
    sys.exit(main())
