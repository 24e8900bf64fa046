"""Export a visionzoo model (by name or from a config) to ONNX and verify it with onnxruntime.

    .venv/bin/python tools/export_onnx.py vit_small_patch16_224 --output vit_s.onnx
    .venv/bin/python tools/export_onnx.py swin_unetr_brats --input-size 4 96 96 96 --checkpoint model.pt
    .venv/bin/python tools/export_onnx.py configs/swin_unetr_brats_synthetic.py --checkpoint work_dirs/demo/latest.pth
    .venv/bin/python tools/export_onnx.py configs/detr_shapes_synthetic.py --checkpoint work_dirs/detr/latest.pth

With a config, the network is the config's ``model`` dict (a ``create_model`` dict, ``name=...``; overrides
with ``--cfg-options``), and ``--checkpoint`` takes whatever ``tools/train.py`` wrote (a training checkpoint,
its EMA weights, a bare state dict) as well as the official releases. ``--set key=value`` passes further
constructor arguments (Python literals, never evaluated as code). The exported batch axis is dynamic by
default. Networks that take a padding mask (DETR) get it as a second input, ``mask`` (B, H, W) bool, True on
padding, as the engine's Detector feeds it.

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
from mmengine.config import DictAction

import visionzoo as vz
from visionzoo.weights.checkpoint import CheckpointError

INPUT_SIZE_HELP = (
    "C H W or C D H W (batch --batch-size). Default: a registered name uses its pretrained_cfg input_size; a "
    "classification config the size its test pipeline evaluates at; a BraTS "
    "(segmenter) config its sliding-window ROI segmenter.inference.roi_size with the network's in_chans (4) "
    "channels, the window the ONNX model is run on; a detection config a square of the test pipeline's test_size, "
    "or (test_size None: images at their stored size) of synthetic_shapes.size, else the model's pretrained_cfg "
    "input_size (3 800 1333 for DETR). Pass --dynamic batch,spatial to serve other sizes."
)


class UserError(Exception):
    """A mistake in the command line: reported as one ``error:`` line, exit status 2."""


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


def _user_errors() -> tuple[type[BaseException], ...]:
    from visionzoo.engine import USER_ERRORS  # mmengine and the engine only load for configs and error handling

    return (UserError, CheckpointError, FileNotFoundError, *USER_ERRORS)


def load_model_config(target: str, cfg_options: dict[str, Any] | None = None) -> tuple[dict[str, Any], Any]:
    """``(create_model arguments, config or None)`` from a registered name or a config file's ``model`` dict."""
    if not target.endswith(".py"):
        if cfg_options:
            raise UserError("--cfg-options needs a config file (.py); pass constructor arguments with --set key=value")
        return {"model_name": target}, None
    from visionzoo.engine import load_config

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


def output_names(out: Any, prefix: str = "") -> list[str]:
    """Names of the tensors of a model output, in the exporter's order: dict keys and list indices joined by dots.

    A plain tensor is ``output``; DETR gives ``pred_logits``, ``pred_boxes``, ``aux_outputs.0.pred_logits``, ...
    """
    if isinstance(out, torch.Tensor):
        return [prefix.rstrip(".") or "output"]
    if isinstance(out, dict):
        return [n for k, v in out.items() for n in output_names(v, f"{prefix}{k}.")]
    if isinstance(out, (list, tuple)):
        return [n for i, v in enumerate(out) for n in output_names(v, f"{prefix}{i}.")]
    return []


def name_outputs(path: str | Path, names: list[str]) -> bool:
    """Rename the graph outputs of the ONNX file at `path` to `names` (external data stays where it is)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    graph = model.graph
    taken = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    if len(graph.output) != len(names) or len(set(names)) != len(names) or taken & set(names):
        return False
    renames = {o.name: n for o, n in zip(graph.output, names) if o.name != n}
    for node in graph.node:
        node.output[:] = [renames.get(x, x) for x in node.output]
        node.input[:] = [renames.get(x, x) for x in node.input]
    for o in graph.output:
        o.name = renames.get(o.name, o.name)
    for info in graph.value_info:
        info.name = renames.get(info.name, info.name)
    onnx.save(model, str(path))
    return True


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="registered model name, or a config file (.py) with a `model` dict")
    p.add_argument("--checkpoint", default=None,
                   help="weights to load: a tools/train.py checkpoint (EMA weights when the run used EMA), a state dict, "
                        "or an official release (converted)")
    p.add_argument("--input-size", type=int, nargs="+", default=None, metavar="N", help=INPUT_SIZE_HELP)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--dynamic", default="batch", choices=("none", "batch", "batch,spatial"), help="symbolic input axes")
    p.add_argument("--spatial-multiple", type=int, default=32,
                   help="with --dynamic batch,spatial: exported sizes are multiples of this (the model's total stride)")
    p.add_argument("--opset", type=int, default=18)
    p.add_argument("--output", default=None, help="output .onnx path (default: <model>.onnx)")
    p.add_argument("--no-verify", action="store_true", help="skip the onnxruntime comparison")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="a constructor argument of the network (Python literal), e.g. --set drop_path_rate=0.0")
    p.add_argument("--cfg-options", nargs="+", action=DictAction, default={}, metavar="KEY=VALUE",
                   help="override config keys (config files only), e.g. model.feature_size=24 "
                        "segmenter.inference.roi_size='(96,96,96)'")
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        model, cfg = _build(args)
    except Exception as e:
        if not isinstance(e, (ValueError, *_user_errors())):
            raise
        first, _, rest = str(e).partition("\n")
        print(f"error: {first}" + (f"\n{rest}" if rest else ""), file=sys.stderr)
        return 2
    input_size = tuple(args.input_size or default_input_size(model, cfg))
    example = torch.randn(args.batch_size, *input_size)
    extra = {}
    if _takes_mask(model) and len(input_size) == 3:  # DETR: the padding mask is part of what a deployment feeds
        extra["mask"] = torch.zeros(args.batch_size, *input_size[1:], dtype=torch.bool)
    output = args.output or f"{Path(args.model).stem}.onnx"
    vz.export_onnx(
        model,
        output,
        example,
        dynamic_batch=args.dynamic != "none",
        dynamic_spatial=args.dynamic == "batch,spatial",
        spatial_multiple=args.spatial_multiple,
        opset=args.opset,
        verify=not args.no_verify,
        extra_inputs=extra or None,
    )
    with torch.no_grad():
        names = output_names(model(example, *extra.values()))
    named = name_outputs(output, names)
    shown = ", ".join(names[:2]) + (f", ... ({len(names)} outputs)" if len(names) > 2 else "")
    print(f"wrote {output} (input {'x'.join(map(str, example.shape))}{', mask' if extra else ''}; "
          f"outputs {shown if named else 'unnamed'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
