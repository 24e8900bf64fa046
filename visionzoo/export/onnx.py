"""ONNX export through torch's dynamo exporter, verified against eager PyTorch with onnxruntime.

Attention runs its explicit-math path during export (`explicit_attention()`), so the graph holds
plain MatMul/Softmax ops every runtime supports. The file names its inputs and outputs (``input``;
``logits``, ``seg_logits`` or DETR's ``pred_logits``/``pred_boxes``) and carries what a deployment needs in
its ``metadata_props`` (`visionzoo.export.metadata`): model and tag, mean/std, layout, class names or
regions, output activation, the sizes it serves, opset, precision and the visionzoo version.

Sizes. A fixed-size graph (``dynamic_spatial=False``) declares its spatial sizes and onnxruntime refuses
others. With ``dynamic_spatial=True`` the exporter chooses the size it traces at, never the example's
(the example only fixes dtype, channels and rank): window attention computes a grid no larger than its
window as one unshifted window, a different graph from the padded, shifted windows of larger grids, so
it traces where every window attention is in the general (padded, shifted) layout. That graph is exact at
every larger multiple of ``spatial_multiple``; smaller sizes are refused inside the graph (a check node
whose error names the valid sizes) and by `OnnxPredictor`, and are recorded as ``min_size``.
Verification runs onnxruntime at the traced size, at another batch and size, just above the smallest
valid size (non-square) and at a size where no window needs padding, and checks that the size just
below the minimum is refused: ``max|ort - torch| / max(1, max|torch|) <= tolerance`` at each.
"""
from __future__ import annotations

import contextlib
import math
import os
import re
import statistics
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

from ..layers import WindowAttention, explicit_attention

__all__ = ["ExportReport", "OnnxExportError", "export_onnx", "window_size_limits", "output_names_of", "output_tensors",
           "task_of_outputs"]

QUANTIZE_CHOICES = (None, "int8")
PRECISION_CHOICES = ("fp32", "fp16")


class OnnxExportError(RuntimeError):
    """The exporter could not convert the model; the message names the operator when it can be found."""


@dataclass
class ExportReport:
    """What `export_onnx` produced and measured."""

    path: Path
    opset: int
    dynamic_axes: dict[str, list[int]]
    checks: list[dict[str, Any]] = field(default_factory=list)
    torch_ms: float | None = None
    onnxruntime_ms: float | None = None
    input_names: list[str] = field(default_factory=list)
    output_names: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    trace_shape: tuple[int, ...] | None = None
    min_size: tuple[int, ...] | None = None
    max_size: tuple[int | None, ...] | None = None
    precision: str = "fp32"
    refusals: list[dict[str, Any]] = field(default_factory=list)
    variant_checks: list[dict[str, Any]] = field(default_factory=list)
    variant_ms: float | None = None
    fp32_ms: float | None = None
    file_bytes: int | None = None
    fp32_bytes: int | None = None

    def table(self) -> str:
        """Verification and latency as aligned text."""
        sizes = ""
        if self.min_size is not None:
            top = "x".join("any" if m is None else str(m) for m in (self.max_size or ()))
            low = "x".join(map(str, self.min_size))
            sizes = f", sizes {low}" + (f"..{top}" if top != low else "")
        lines = [f"ONNX export: {self.path} (opset {self.opset}, dynamic {self.dynamic_axes or 'none'}{sizes})"]
        for c in self.checks:
            status = "ok" if c["passed"] else "FAILED"
            lines.append(f"  input {c['shape']}: max|diff| {c['max_abs_diff']:.2e}, relative {c['rel_diff']:.2e} [{status}]")
        for c in self.refusals:
            status = "ok" if c["passed"] else "FAILED: answered"
            lines.append(f"  input {c['shape']}: below the minimum size, refused by the graph [{status}]")
        if self.torch_ms is not None:
            ratio = self.torch_ms / self.onnxruntime_ms if self.onnxruntime_ms else float("nan")
            lines.append(
                f"  latency: PyTorch eager {self.torch_ms:.1f} ms, onnxruntime {self.onnxruntime_ms:.1f} ms "
                f"(onnxruntime {ratio:.2f}x eager speed)"
            )
        for c in self.variant_checks:
            agree = f", top-1 agreement {c['top1_agreement']:.0%}" if c.get("top1_agreement") is not None else ""
            lines.append(f"  {self.precision} vs fp32, input {c['shape']}: relative {c['rel_diff']:.2e}{agree}")
        if self.file_bytes is not None and self.fp32_bytes:
            speed = ""
            if self.variant_ms and self.fp32_ms:
                speed = f"; onnxruntime {self.variant_ms:.1f} vs {self.fp32_ms:.1f} ms ({self.fp32_ms / self.variant_ms:.2f}x)"
            lines.append(f"  {self.precision}: {self.file_bytes / 2**20:.1f} MiB vs fp32 {self.fp32_bytes / 2**20:.1f} MiB{speed}")
        return "\n".join(lines)


def output_tensors(out: Any) -> list[Tensor]:
    """The tensors of a model output (a tensor, or dicts/lists of them), in the exporter's order."""
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, dict):
        return [t for v in out.values() for t in output_tensors(v)]
    if isinstance(out, (list, tuple)):
        return [t for v in out for t in output_tensors(v)]
    return []


def _failing_op(error: BaseException) -> str | None:
    text = "".join(str(e) for e in (error, error.__cause__, error.__context__) if e is not None)
    match = re.search(r"(aten[.:]{1,2}[A-Za-z_0-9]+(?:\.[A-Za-z_0-9]+)?)", text)
    return match.group(1) if match else None


# ------------------------------------------------------------------------------------------- names and tasks

def output_names_of(out: Any, x: Tensor, prefix: str = "") -> list[str]:
    """Names of the tensors of a model output, in the exporter's order.

    A tensor is ``logits`` when it is (B, classes), ``seg_logits`` when it is dense like the input (same
    rank and spatial size), else ``output``; dict keys and list indices are joined by dots (DETR:
    ``pred_logits``, ``pred_boxes``, ``aux_outputs.0.pred_logits``, ...).
    """
    if isinstance(out, Tensor):
        if prefix:
            return [prefix.rstrip(".")]
        if out.ndim == 2 and x.ndim >= 3:
            return ["logits"]
        if out.ndim == x.ndim and out.ndim >= 4 and tuple(out.shape[2:]) == tuple(x.shape[2:]):
            return ["seg_logits"]
        return ["output"]
    if isinstance(out, dict):
        return [n for k, v in out.items() for n in output_names_of(v, x, f"{prefix}{k}.")]
    if isinstance(out, (list, tuple)):
        names = [n for i, v in enumerate(out) for n in output_names_of(v, x, f"{prefix or 'output.'}{i}.")]
        return names
    return []


def task_of_outputs(names: Sequence[str]) -> str:
    """classification, segmentation, detection or other, from the output names."""
    if "pred_logits" in names and "pred_boxes" in names:
        return "detection"
    if names and names[0] == "logits":
        return "classification"
    if names and names[0] == "seg_logits":
        return "segmentation"
    return "other"


# ------------------------------------------------------------------------------------------- sizes

SizeLimits = list[tuple[int, int | None]]


def window_size_limits(model: nn.Module, x: Tensor) -> SizeLimits:
    """Per spatial axis, the (min, max) input sizes at which every window attention keeps its layout on `x`.

    A window attention over a grid no larger than its window uses one window of the grid's size and
    no shift; a larger grid is padded to whole (shifted) windows. The two are different graphs, so one
    exported file can serve only sizes on the example's side of each such boundary. Found by running
    `x` once and reading each `WindowAttention`'s grid; `max` is None where sizes are unbounded.
    """
    return _limits_from(_window_records_with(model, x, ()), x.shape[2:])


@dataclass
class _SizePlan:
    """Where a dynamic-spatial graph is traced and which sizes it serves (in pixels, per spatial axis)."""

    trace: list[int]
    minimum: list[int]
    multiple: int
    windowed: bool
    records: list[tuple[tuple[int, ...], tuple[int, ...]]]


def _size_plan(model: nn.Module, x: Tensor, multiple: int, extras: Mapping[str, Tensor]) -> _SizePlan:
    """The smallest multiple of `multiple` (per axis, from the example's size up) where every window is general.

    Sizes from there up keep one layout (window attention's only size-dependent branch); its minimum is
    the first multiple above every window boundary. Models without window attention keep the example's
    size as their minimum (sizes from there upward are verified; other branches may hide below it).
    """
    if multiple < 1:
        raise ValueError(f"spatial_multiple must be a positive integer, got {multiple}")
    windowed = any(isinstance(m, WindowAttention) for m in model.modules())
    sizes = [max(multiple, -(-int(s) // multiple) * multiple) for s in x.shape[2:]]
    records: list = []
    if not windowed:
        return _SizePlan(sizes, list(sizes), multiple, False, [])
    for _ in range(64):
        probe = torch.zeros(1, x.shape[1], *sizes, dtype=x.dtype)
        probe_extras = [_resized_like(t, x, probe) for t in extras.values()]
        limits = _limits_from(records := _window_records_with(model, probe, probe_extras), sizes)
        grown = False
        for i, (_, high) in enumerate(limits):
            if high is not None:  # a window spans the whole grid along this axis: trace larger
                sizes[i] = (high // multiple + 1) * multiple
                grown = True
        if not grown:
            minimum = [max(multiple, -(-low // multiple) * multiple) for low, _ in limits]
            return _prefer_padding(model, x, extras, _SizePlan(sizes, minimum, multiple, True, records))
    raise ValueError(
        f"dynamic_spatial: found no size (multiples of {multiple}) at which every window attention of "
        f"{type(model).__name__} is in its general, shifted-window layout; export it at a fixed size"
    )


def _prefer_padding(model: nn.Module, x: Tensor, extras: Mapping[str, Tensor], plan: _SizePlan) -> _SizePlan:
    """Move the trace size up (a few multiples at most) until every window attention pads its grid.

    Where a grid is a whole number of windows, the tracer sees ``padded == grid`` and may drop a crop
    or a pad as a no-op; traced where every grid needs padding, those ops stay in the graph for all sizes.
    """
    sizes = list(plan.trace)
    for _ in range(8):
        probe = torch.zeros(1, x.shape[1], *sizes, dtype=x.dtype)
        records = _window_records_with(model, probe, [_resized_like(t, x, probe) for t in extras.values()])
        exact = [any(grid[a] % window[a] == 0 for grid, window in records) for a in range(len(sizes))]
        if not any(exact):
            return _SizePlan(sizes, plan.minimum, plan.multiple, True, records)
        sizes = [s + plan.multiple if e else s for s, e in zip(sizes, exact)]
    return plan


def _window_records_with(model: nn.Module, x: Tensor, extras: Sequence[Tensor]) -> list:
    records: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
    hooks = [
        m.register_forward_pre_hook(lambda mod, args: records.append((tuple(int(s) for s in args[1]), mod.window_size)))
        for m in model.modules()
        if isinstance(m, WindowAttention)
    ]
    try:
        with torch.no_grad():
            model(x, *extras)
    finally:
        for h in hooks:
            h.remove()
    return records


def _limits_from(records: list, sizes: Sequence[int]) -> SizeLimits:
    limits: SizeLimits = []
    for axis, size in enumerate(sizes):
        low, high = 1, None
        for grid, window in records:
            if axis >= len(grid):
                continue
            stride = size / grid[axis]
            if grid[axis] > window[axis]:
                low = max(low, math.floor(window[axis] * stride) + 1)
            else:
                bound = math.floor(window[axis] * stride)
                high = bound if high is None else min(high, bound)
        limits.append((low, high))
    return limits


def _zero_padding_size(plan: _SizePlan) -> list[int] | None:
    """The smallest valid size (per axis, at least the trace size) at which no window attention pads its grid."""
    if not plan.records:
        return None
    out = []
    for axis, trace in enumerate(plan.trace):
        step = plan.multiple
        for grid, window in plan.records:
            stride = trace // grid[axis] if grid[axis] else 1
            step = math.lcm(step, window[axis] * max(1, stride))
        size = -(-trace // step) * step
        out.append(size)
    return out


# ------------------------------------------------------------------------------------------- tracing helpers

@contextlib.contextmanager
def _explicit_conv3d_bias(model: nn.Module) -> Iterator[None]:
    """Give bias-less Conv3d layers a zero bias while exporting, then remove it again.

    onnxscript 0.7's ``aten::conv3d`` translation fills a missing bias with a (C_out, 2) tensor that
    onnxruntime rejects ("bias must be a 1D tensor of size output_channels"); a real zero bias avoids it.
    """
    patched = [m for m in model.modules() if isinstance(m, nn.Conv3d) and m.bias is None]
    for m in patched:
        m.bias = nn.Parameter(m.weight.new_zeros(m.out_channels), requires_grad=False)
    try:
        yield
    finally:
        for m in patched:
            m.bias = None


@contextlib.contextmanager
def _plain_builtin_min_max() -> Iterator[None]:
    """Keep Python's own ``min``/``max`` while torch.export traces.

    Non-strict torch.export replaces them by ``sym_min``/``sym_max`` expressions, so a window of
    ``min(grid, 7)`` stays a symbolic ``Min(7, grid)`` that sympy then simplifies for minutes in every
    reshape. With the builtins, the comparison is decided by the size range (every grid is larger than
    its window there) and the window is the integer 7 again. A private torch hook: if it moves, tracing
    is only slower.
    """
    try:
        from torch.export import _trace
    except ImportError:  # pragma: no cover - torch without torch.export
        yield
        return
    original = getattr(_trace, "_override_builtin_ops", None)
    if original is None:
        yield
        return
    _trace._override_builtin_ops = contextlib.nullcontext
    try:
        yield
    finally:
        _trace._override_builtin_ops = original


class _Blocked(nn.Module):
    """Runs `model` on inputs given in block form: spatial side ``k * m`` as two axes ``(k, m)``.

    Tracing a size as ``multiple * k`` with an integer symbol ``k`` keeps every padding and window count
    an exact expression of ``k`` (a plain symbolic size makes sympy reason about remainders at every
    reshape). The exported file takes plain (B, C, H, W) inputs again (`_unblock_inputs`).
    """

    def __init__(self, model: nn.Module, nd: int, blocked: Sequence[bool]) -> None:
        super().__init__()
        self.model = model
        self.nd = nd
        self.blocked = list(blocked)

    def forward(self, *inputs: Tensor) -> Any:
        plain = []
        for t, blocked in zip(inputs, self.blocked):
            if blocked:
                lead = t.shape[: t.ndim - 2 * self.nd]
                sides = [t.shape[t.ndim - 2 * self.nd + 2 * i] * t.shape[t.ndim - 2 * self.nd + 2 * i + 1]
                         for i in range(self.nd)]
                t = t.reshape(*lead, *sides)
            plain.append(t)
        return self.model(*plain)


def _to_blocks(t: Tensor, nd: int, multiple: int) -> Tensor:
    lead = t.shape[: t.ndim - nd]
    split = []
    for s in t.shape[t.ndim - nd:]:
        split += [s // multiple, multiple]
    return t.reshape(*lead, *split)


def _spatial_tail(t: Tensor, x: Tensor) -> bool:
    """True when the trailing axes of `t` are the image's spatial sides (a padding mask, ...)."""
    nd = x.ndim - 2
    return t.ndim >= nd and tuple(t.shape[t.ndim - nd:]) == tuple(x.shape[2:])


def _check_deferred_asserts(program: Any, plan: _SizePlan, blocked_names: Sequence[str], nd: int) -> None:
    """Evaluate the size assumptions torch.export deferred to run time at every size near the minimum.

    Guards that sympy cannot prove over the whole range become runtime asserts in the exported program;
    the ONNX graph drops them. Each is checked here for every multiple from the minimum up to 24 steps
    above the trace size along each axis (and a few far sizes): a graph that would be wrong somewhere in its
    range is an export error, not a file.
    """
    import sympy

    exprs = []
    for node in program.graph.nodes:
        if node.op == "call_function" and "_assert_scalar" in str(node.target) and node.args:
            arg = node.args[0]
            val = arg.meta.get("val") if hasattr(arg, "meta") else arg
            expr = getattr(getattr(val, "node", None), "expr", None)
            if expr is not None and expr not in exprs:
                exprs.append(expr)
    if not exprs:
        return
    symbols: dict[Any, tuple[str, int]] = {}
    placeholders = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    for spec in program.graph_signature.input_specs:
        node = placeholders.get(spec.arg.name) if hasattr(spec.arg, "name") else None
        val = node.meta.get("val") if node is not None else None
        if not isinstance(val, Tensor):
            continue
        shape = val.shape
        blocked = len(shape) >= 2 * nd and spec.arg.name in blocked_names
        for axis, s in enumerate(shape):
            expr = getattr(getattr(s, "node", None), "expr", None)
            if isinstance(expr, sympy.Symbol):
                if axis == 0:
                    symbols.setdefault(expr, ("batch", 0))
                elif blocked and axis >= len(shape) - 2 * nd and (axis - (len(shape) - 2 * nd)) % 2 == 0:
                    symbols.setdefault(expr, ("side", (axis - (len(shape) - 2 * nd)) // 2))
    m = plan.multiple
    lo = [s // m for s in plan.minimum]
    hi = [t // m + 24 for t in plan.trace]
    candidates: set[tuple[int, ...]] = set()
    for axis in range(nd):
        for k in range(lo[axis], hi[axis] + 1):
            for other in (lo, hi):
                steps = list(other)
                steps[axis] = k
                candidates.add(tuple(steps))
    for far in (64, 257, 1000):
        candidates.add(tuple(max(lo[a], far) for a in range(nd)))
    # ``Ne`` assumptions record that the trace saw two sizes differ (a crop or broadcast that is not a no-op):
    # the general op stays correct where they are equal (checked numerically at a size without padding).
    # Equalities and orderings that fail mean a different computation: those are errors.
    exprs = [e for e in exprs if not isinstance(e, sympy.Ne) and e.free_symbols <= set(symbols)]
    checks = _compiled(exprs)
    names = {str(sym): (kind, idx) for sym, (kind, idx) in symbols.items()}
    for steps in sorted(candidates):
        for batch in (1, 3):
            env = {"max": max, "min": min, "abs": abs}
            env.update({name: batch if kind == "batch" else steps[idx] for name, (kind, idx) in names.items()})
            for expr, code in checks:
                try:
                    value = eval(code, env) if code is not None else expr.xreplace(
                        {sym: sympy.Integer(env[str(sym)]) for sym in expr.free_symbols})
                except ZeroDivisionError:
                    value = False
                if value is sympy.false or value is False:
                    size = "x".join(str(k * m) for k in steps)
                    raise OnnxExportError(
                        f"the graph traced at {'x'.join(map(str, plan.trace))} assumes {expr} (torch.export), which "
                        f"fails at {size} (batch {batch}) inside the range it would serve; export at a fixed size"
                    )


def _compiled(exprs: Sequence[Any]) -> list[tuple[Any, Any]]:
    """Each sympy condition with its Python code (None where torch's printer cannot write it: evaluated by sympy)."""
    try:
        from torch.utils._sympy.printers import PythonPrinter

        printer = PythonPrinter()
    except ImportError:  # pragma: no cover - older torch
        printer = None
    out = []
    for expr in exprs:
        code = None
        if printer is not None:
            try:
                code = compile(printer.doprint(expr), "<size assert>", "eval")
            except Exception:  # an expression the printer does not support
                code = None
        out.append((expr, code))
    return out


# ------------------------------------------------------------------------------------------- export

def _median_ms(fn, runs: int = 5) -> float:
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def export_onnx(
    model: nn.Module,
    path: str | Path,
    example_input: Tensor,
    dynamic_batch: bool = True,
    dynamic_spatial: bool = False,
    opset: int = 18,
    verify: bool = True,
    tolerance: float = 1e-4,
    spatial_multiple: int = 32,
    benchmark: bool = True,
    verbose: bool = True,
    optimize: bool = True,
    extra_inputs: Mapping[str, Tensor] | None = None,
    *,
    metadata: Mapping[str, Any] | None = None,
    quantize: str | None = None,
    precision: str = "fp32",
    input_name: str = "input",
    output_names: Sequence[str] | None = None,
    check_size: bool = True,
) -> ExportReport:
    """Export `model` (eval mode, explicit attention) to ONNX at `path` and check it with onnxruntime.

    `dynamic_batch`/`dynamic_spatial` make those input axes symbolic. With `dynamic_spatial` the graph
    serves every multiple of `spatial_multiple` from its minimum size up (2D inputs only; volumes are
    exported at their sliding-window ROI and run in windows): the exporter traces at a size where
    every window attention has its general layout (see the module docstring), so `example_input` only
    fixes dtype, channels and rank; `check_size` adds the in-graph refusal of other sizes. `optimize`
    runs the exporter's graph optimiser (constant folding, fusions). `extra_inputs` are further named
    graph inputs passed positionally after the image (e.g. DETR's padding ``mask``); their batch axis and
    any trailing axes equal to the image's spatial sides follow the image's dynamic axes.

    `metadata` adds or overrides ``metadata_props`` entries (e.g. ``class_names``, ``input_size``,
    ``crop_pct``; ``roi_size``/``overlap``/``threshold`` for volumes); the rest comes from the model's
    ``pretrained_cfg`` (`visionzoo.export.metadata`). `quantize="int8"` writes onnxruntime's dynamic int8
    quantization of the verified fp32 graph, `precision="fp16"` its float16 conversion (fp32 inputs and
    outputs); their difference from fp32 is reported, not enforced. `input_name`/`output_names` override
    the names (default ``input`` and names from the output's structure, `output_names_of`).

    Raises `OnnxExportError` when export fails and `RuntimeError` when verification exceeds `tolerance`.
    """
    if quantize not in QUANTIZE_CHOICES:
        raise ValueError(f"quantize must be one of {QUANTIZE_CHOICES}, got {quantize!r}")
    if precision not in PRECISION_CHOICES:
        raise ValueError(f"precision must be one of {PRECISION_CHOICES}, got {precision!r}")
    if quantize and precision != "fp32":
        raise ValueError("quantize='int8' keeps fp32 activations: pass either quantize or precision='fp16', not both")
    nd = example_input.ndim - 2
    if dynamic_spatial and nd != 2:
        raise ValueError(
            f"dynamic_spatial supports 2D images (N, C, H, W), got a {example_input.ndim}D input: tracing symbolic "
            "depth, height and width of volumes does not finish. Export at the sliding-window ROI (fixed size, "
            "dynamic batch); OnnxPredictor runs sliding windows over whole volumes."
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    extras = dict(extra_inputs or {})
    names_in = [input_name, *extras]
    try:
        plan = _size_plan(model, example_input, spatial_multiple, extras) if dynamic_spatial else None
        if plan is not None:
            trace_x = torch.randn(example_input.shape[0], example_input.shape[1], *plan.trace, dtype=example_input.dtype)
            trace_extras = {k: _resized_like(t, example_input, trace_x, keep_values=True) for k, t in extras.items()}
        else:
            trace_x, trace_extras = example_input, extras
        with torch.no_grad():
            eager_out = model(trace_x, *trace_extras.values())
        names_out = list(output_names) if output_names is not None else output_names_of(eager_out, trace_x)
        inputs = (trace_x, *trace_extras.values())
        traced = inputs
        if dynamic_batch and trace_x.shape[0] == 1:  # a batch of 1 would be specialised to a constant
            traced = tuple(torch.cat([t, t]) for t in inputs)
        fd, tmp_name = tempfile.mkstemp(suffix=".onnx", dir=path.parent, prefix=f".{path.stem}.")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            axes = _export(model, tmp, traced, names_in, dynamic_batch, plan, opset, optimize, nd)
            proto = _finish_graph(tmp, names_in, names_out, plan, example_input, check_size)
            meta = _deployment_metadata(model, example_input, names_in, names_out, dynamic_batch, plan, opset,
                                        "fp32", metadata)
            from .metadata import write_metadata

            write_metadata(proto, meta)
            import onnx

            onnx.save(proto, str(tmp))
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    finally:
        model.train(was_training)

    report = ExportReport(path=path, opset=opset, dynamic_axes=axes, input_names=names_in, output_names=names_out,
                          metadata=meta, trace_shape=tuple(trace_x.shape),
                          min_size=tuple(meta["min_size"]), max_size=tuple(meta["max_size"]))
    model.eval()
    try:
        if verify:
            samples = _verification_samples(example_input, trace_x, extras, trace_extras, dynamic_batch, plan)
            _verify(model, report, samples, tolerance, benchmark)
            if plan is not None and check_size:
                _check_refusal(report, example_input, trace_x, extras, plan)
        failed = [c for c in report.checks + report.refusals if not c["passed"]]
        if failed:  # a file that gives wrong answers is not left behind
            path.unlink(missing_ok=True)
            if verbose:
                print(report.table(), flush=True)
            raise RuntimeError(f"onnxruntime output differs from PyTorch beyond {tolerance} (or a size below the "
                               f"minimum was answered); {path} was removed:\n{report.table()}")
        if quantize or precision != "fp32":
            _make_variant(report, quantize or precision, verify, benchmark)
    finally:
        model.train(was_training)
    if verbose:
        print(report.table(), flush=True)
    return report


def _export(model: nn.Module, out: Path, traced: tuple[Tensor, ...], names: list[str], dynamic_batch: bool,
            plan: _SizePlan | None, opset: int, optimize: bool, nd: int) -> dict[str, list[int]]:
    """Trace and convert; returns the dynamic axes of each (plain) input."""
    x = traced[0]
    try:
        with torch.no_grad(), explicit_attention(), _explicit_conv3d_bias(model):
            if plan is None:
                shapes = None
                axes: dict[str, list[int]] = {}
                if dynamic_batch:
                    batch = torch.export.Dim("batch", min=1, max=1024)
                    specs = [{0: batch} if t.ndim and t.shape[0] == x.shape[0] else {} for t in traced]
                    shapes = tuple(specs)
                    axes = {n: [0] for n, s in zip(names, specs) if s}
                program = torch.onnx.export(model, traced, dynamo=True, opset_version=opset, dynamic_shapes=shapes,
                                            input_names=names, optimize=optimize, verbose=False)
            else:
                blocked = [_spatial_tail(t, x) for t in traced]
                wrapper = _Blocked(model, nd, blocked)
                block_inputs = tuple(_to_blocks(t, nd, plan.multiple) if b else t for t, b in zip(traced, blocked))
                batch = torch.export.Dim("batch", min=1, max=1024) if dynamic_batch else None
                sides = [torch.export.Dim(f"size{i}", min=plan.minimum[i] // plan.multiple) for i in range(nd)]
                specs, axes = [], {}
                for name, t, b in zip(names, traced, blocked):
                    spec: dict[int, Any] = {}
                    dyn: list[int] = []
                    if batch is not None and t.ndim and t.shape[0] == x.shape[0]:
                        spec[0] = batch
                        dyn.append(0)
                    if b:
                        first = t.ndim - nd
                        for i in range(nd):
                            spec[first + 2 * i] = sides[i]
                            dyn.append(first + i)
                    specs.append(spec)
                    if dyn:
                        axes[name] = dyn
                block_names = [f"{n}__blocks" if b else n for n, b in zip(names, blocked)]
                with _plain_builtin_min_max():
                    program = torch.export.export(wrapper, block_inputs, dynamic_shapes=(tuple(specs),),
                                                  prefer_deferred_runtime_asserts_over_guards=True)
                _check_deferred_asserts(program, plan, [n for n, b in zip(program.graph_signature.user_inputs, blocked) if b], nd)
                program = torch.onnx.export(program, block_inputs, dynamo=True, opset_version=opset,
                                            input_names=block_names, optimize=optimize, verbose=False)
            program.save(str(out))
    except OnnxExportError:
        raise
    except Exception as e:  # the exporters raise many types; translate into one clear error
        op = _failing_op(e)
        where = f" at operator {op}" if op else ""
        raise OnnxExportError(
            f"ONNX export of {type(model).__name__} failed{where}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        ) from e
    return axes


def _finish_graph(path: Path, names_in: list[str], names_out: list[str], plan: _SizePlan | None, x: Tensor,
                  check_size: bool) -> Any:
    """Plain inputs again (for a blocked trace), the output names and the size check; returns the ModelProto."""
    import onnx

    from .graph import add_size_check, rename_outputs

    proto = onnx.load(str(path))
    if plan is not None:
        _unblock_inputs(proto, names_in, x.ndim - 2, plan.multiple)
        if check_size:
            add_size_check(proto, names_in[0], plan.minimum, [None] * len(plan.minimum), plan.multiple)
    if not rename_outputs(proto, names_out):
        names_out[:] = [o.name for o in proto.graph.output]
    return proto


def _unblock_inputs(proto: Any, names: list[str], nd: int, multiple: int) -> None:
    """Replace each ``NAME__blocks`` input (sides split as (k, m)) by a plain ``NAME`` input and a Reshape."""
    from onnx import TensorProto, helper

    graph = proto.graph
    new_nodes = []
    for name in names:
        blocked = next((i for i in graph.input if i.name == f"{name}__blocks"), None)
        if blocked is None:
            continue
        dims = list(blocked.type.tensor_type.shape.dim)
        lead = dims[: len(dims) - 2 * nd]
        shape: list[Any] = [d.dim_param or d.dim_value for d in lead]
        shape += ["height", "width"] if nd == 2 else [f"size{i}" for i in range(nd)]
        plain = helper.make_tensor_value_info(name, blocked.type.tensor_type.elem_type, shape)
        rank = len(lead) + nd
        p = f"vz_unblock_{name}_"
        new_nodes += [
            helper.make_node("Shape", [name], [p + "lead"], start=0, end=len(lead)),
            helper.make_node("Shape", [name], [p + "sides"], start=len(lead), end=rank),
            helper.make_node("Constant", [], [p + "m"], value=helper.make_tensor(p + "m_v", TensorProto.INT64, [1], [multiple])),
            helper.make_node("Div", [p + "sides", p + "m"], [p + "k"]),
            helper.make_node("Unsqueeze", [p + "k", p + "axis1"], [p + "k_col"]),
            helper.make_node("Constant", [], [p + "axis1"], value=helper.make_tensor(p + "axis1_v", TensorProto.INT64, [1], [1])),
            helper.make_node("Constant", [], [p + "m_col"], value=helper.make_tensor(p + "m_col_v", TensorProto.INT64, [nd, 1], [multiple] * nd)),
            helper.make_node("Concat", [p + "k_col", p + "m_col"], [p + "pairs"], axis=1),
            helper.make_node("Constant", [], [p + "flat"], value=helper.make_tensor(p + "flat_v", TensorProto.INT64, [1], [2 * nd])),
            helper.make_node("Reshape", [p + "pairs", p + "flat"], [p + "split"]),
            helper.make_node("Concat", [p + "lead", p + "split"], [p + "shape"], axis=0),
            helper.make_node("Reshape", [name, p + "shape"], [blocked.name]),
        ]
        index = list(graph.input).index(blocked)
        graph.input.remove(blocked)
        graph.input.insert(index, plain)
    # Constants first, so the node list stays topologically sorted
    new_nodes.sort(key=lambda n: n.op_type != "Constant")
    for k, node in enumerate(new_nodes):
        graph.node.insert(k, node)


def _model_version() -> str:
    try:
        from importlib.metadata import version

        return version("visionzoo")
    except Exception:  # not installed (a source tree on sys.path)
        return "unknown"


def _deployment_metadata(model: nn.Module, x: Tensor, names_in: list[str], names_out: list[str], dynamic_batch: bool,
                         plan: _SizePlan | None, opset: int, precision: str, extra: Mapping[str, Any] | None) -> dict:
    cfg = dict(getattr(model, "pretrained_cfg", None) or {})
    nd = x.ndim - 2
    task = task_of_outputs(names_out)
    meta: dict[str, Any] = {
        "visionzoo_version": _model_version(),
        "opset": opset,
        "precision": precision,
        "model": cfg.get("architecture") or type(model).__name__,
        "tag": cfg.get("tag"),
        "task": task,
        "input_names": names_in,
        "output_names": names_out,
        "input_layout": {2: "NCHW", 3: "NCDHW"}.get(nd, f"N C +{nd} spatial"),
        "input_dtype": str(x.dtype).replace("torch.", ""),
        "channels": int(x.shape[1]),
        "dynamic_batch": bool(dynamic_batch),
    }
    if plan is None:
        meta.update(min_size=list(x.shape[2:]), max_size=list(x.shape[2:]), spatial_multiple=None,
                    size_check="fixed-shape")
    else:
        meta.update(min_size=list(plan.minimum), max_size=[None] * nd, spatial_multiple=plan.multiple,
                    trace_size=list(plan.trace), size_check="in-graph")
    if cfg.get("mean") is not None and cfg.get("std") is not None:
        meta.update(mean=list(cfg["mean"]), std=list(cfg["std"]))
    elif nd == 3 and "nonzero" in str(cfg.get("normalization") or ""):
        meta["normalization"] = "zscore_nonzero_channelwise"
    if task == "classification":
        input_size = cfg.get("input_size")
        meta.update(
            input_size=list(input_size) if input_size and len(input_size) == x.ndim - 1 else [int(x.shape[1]), *x.shape[2:]],
            crop_pct=cfg.get("crop_pct"),
            crop_mode=cfg.get("crop_mode", "center"),
            interpolation=cfg.get("interpolation"),
        )
    if cfg.get("class_names"):
        meta["class_names"] = list(cfg["class_names"])
    if cfg.get("channel_names"):
        meta["channel_names"] = list(cfg["channel_names"])
    activation = cfg.get("output_activation")
    if activation is None and task in ("classification", "detection"):
        activation = "softmax"
    if activation is not None:
        meta["output_activation"] = activation
    if task == "segmentation" and nd == 3:
        meta.update(roi_size=list(x.shape[2:]), overlap=0.5, sw_batch_size=1, blend_mode="constant",
                    sigma_scale=0.125, threshold=0.5)
    for key, value in (extra or {}).items():
        meta[key] = value
    if task == "classification" and meta.get("input_size"):
        meta["input_size"] = _servable_input_size(list(meta["input_size"]), meta)
    if task == "segmentation" and nd == 3 and list(meta.get("roi_size") or []) != list(x.shape[2:]):
        raise ValueError(f"metadata roi_size {meta['roi_size']} differs from the exported input size {tuple(x.shape[2:])}")
    return meta


def _servable_input_size(size: list[int], meta: Mapping[str, Any]) -> list[int]:
    """The eval crop size a classifier's predictor resizes to, within the sizes the graph serves.

    A fixed-size graph takes its own size; a dynamic one keeps the recorded size when it serves it, else
    the smallest size it serves above it (e.g. Swin-T's 224 -> 256 on a graph whose minimum is 256).
    """
    channels, spatial = size[0], [int(s) for s in size[1:]]
    low, high, multiple = meta["min_size"], meta["max_size"], meta.get("spatial_multiple")
    if multiple is None:  # fixed size
        return [channels, *[int(s) for s in low]]
    out = []
    for s, lo, hi in zip(spatial, low, high):
        s = max(s, int(lo))
        s = -(-s // multiple) * multiple
        if hi is not None:
            s = min(s, int(hi))
        out.append(s)
    return [channels, *out]


# ------------------------------------------------------------------------------------------- verification

def _resized_like(t: Tensor, old_image: Tensor, new_image: Tensor, keep_values: bool = False) -> Tensor:
    """An extra input for another image shape: batch and image-sized trailing axes follow `new_image`.

    Float inputs are random; others (masks, indices) are zeros, i.e. a batch without padding. With
    `keep_values`, an input whose shape does not change is returned as it is.
    """
    shape = list(t.shape)
    if shape and shape[0] == old_image.shape[0]:
        shape[0] = new_image.shape[0]
    old_sp, new_sp = tuple(old_image.shape[2:]), tuple(new_image.shape[2:])
    if len(shape) >= len(old_sp) and tuple(shape[len(shape) - len(old_sp):]) == old_sp:
        shape[len(shape) - len(old_sp):] = new_sp
    if keep_values and tuple(shape) == tuple(t.shape):
        return t
    return torch.randn(shape, dtype=t.dtype) if t.is_floating_point() else torch.zeros(shape, dtype=t.dtype)


def _sample(x: Tensor, extras: Mapping[str, Tensor], batch: int, sizes: Sequence[int]) -> tuple[Tensor, ...]:
    new = torch.randn(batch, x.shape[1], *sizes, dtype=x.dtype)
    return (new, *(_resized_like(t, x, new) for t in extras.values()))


def _verification_samples(x: Tensor, trace_x: Tensor, extras: Mapping[str, Tensor], trace_extras: Mapping[str, Tensor],
                          dynamic_batch: bool, plan: _SizePlan | None) -> list[tuple[Tensor, ...]]:
    """The trace input, another batch and size, and (window models) the sizes next to the layout boundaries."""
    first = (x, *extras.values()) if plan is None or tuple(x.shape) == tuple(trace_x.shape) else \
        (trace_x, *trace_extras.values())
    batch = x.shape[0] + 1 if dynamic_batch else x.shape[0]
    spatial = list(trace_x.shape[2:])
    if plan is not None:
        spatial = [s + plan.multiple for s in spatial]
    samples = [first, _sample(trace_x, trace_extras, batch, spatial)]
    if plan is not None and plan.windowed:
        seen = {tuple(s[0].shape[2:]) for s in samples}
        lowest = list(plan.minimum)
        if len(lowest) >= 2:
            lowest[-1] += 2 * plan.multiple  # non-square, just above the smallest valid size
        zero_pad = _zero_padding_size(plan)
        for sizes in (lowest, zero_pad):
            if sizes is None or tuple(sizes) in seen:
                continue
            if math.prod(sizes) > 4 * math.prod(plan.trace):
                continue  # too costly to verify eagerly; the deferred size asserts were checked there
            seen.add(tuple(sizes))
            samples.append(_sample(trace_x, trace_extras, x.shape[0], sizes))
    return samples


def _session(path: Path, threads: int | None = None, quiet: bool = False):
    import onnxruntime as ort

    options = ort.SessionOptions()
    if quiet:  # expected failures (the size check) are not logged
        options.log_severity_level = 4
    options.intra_op_num_threads = threads or torch.get_num_threads()
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _verify(
    model: nn.Module,
    report: ExportReport,
    samples: Sequence[tuple[Tensor, ...]],
    tolerance: float,
    benchmark: bool,
) -> None:
    session = _session(report.path)
    names = [i.name for i in session.get_inputs()]
    model.eval()
    for sample in samples:
        with torch.no_grad():
            expected = [t.numpy() for t in output_tensors(model(*sample))]
        got = session.run(None, {n: t.numpy() for n, t in zip(names, sample)})
        diff = max(float(np.abs(g - e).max()) for g, e in zip(got, expected))
        scale = max(1.0, max(float(np.abs(e).max()) for e in expected))
        report.checks.append(
            {"shape": tuple(sample[0].shape), "max_abs_diff": diff, "rel_diff": diff / scale, "passed": diff / scale <= tolerance}
        )
    if benchmark:
        first = samples[0]
        feed = {n: t.numpy() for n, t in zip(names, first)}
        with torch.no_grad():
            report.torch_ms = _median_ms(lambda: model(*first))
        report.onnxruntime_ms = _median_ms(lambda: session.run(None, feed))


def _check_refusal(report: ExportReport, x: Tensor, trace_x: Tensor, extras: Mapping[str, Tensor], plan: _SizePlan) -> None:
    """The size one step below the minimum (each axis in turn) must be an onnxruntime error, not an answer."""
    session = _session(report.path, threads=1, quiet=True)
    names = [i.name for i in session.get_inputs()]
    for axis in range(len(plan.minimum)):
        sizes = list(plan.minimum)
        sizes[axis] -= plan.multiple
        if sizes[axis] < 1:
            continue
        sample = _sample(trace_x, {}, 1, sizes)
        sample = (sample[0], *(_resized_like(t, x, sample[0]) for t in extras.values()))
        try:
            session.run(None, {n: t.numpy() for n, t in zip(names, sample)})
        except Exception as e:  # onnxruntime raises its own Fail/InvalidArgument types
            refused = "input_size_check" in str(e)
        else:
            refused = False
        report.refusals.append({"shape": tuple(sample[0].shape), "passed": refused})


def _make_variant(report: ExportReport, kind: str, verify: bool, benchmark: bool) -> None:
    """Replace the verified fp32 file by its int8 (dynamic quantization) or fp16 version; compare the two."""
    import onnx

    from .graph import convert_fp16, quantize_int8
    from .metadata import write_metadata

    path = report.path
    fp32 = path.with_name(f".{path.stem}.fp32{path.suffix}")
    os.replace(path, fp32)
    try:
        if kind == "int8":
            quantize_int8(fp32, path)
            proto = onnx.load(str(path))
        else:
            proto = convert_fp16(onnx.load(str(fp32)))
        write_metadata(proto, {"precision": kind})
        onnx.save(proto, str(path))
        report.precision = kind
        report.metadata["precision"] = kind
        report.file_bytes, report.fp32_bytes = path.stat().st_size, fp32.stat().st_size
        if verify:
            _compare_variant(report, fp32, benchmark)
    except Exception:
        os.replace(fp32, path)  # leave the verified fp32 file rather than nothing
        raise
    finally:
        fp32.unlink(missing_ok=True)


def _compare_variant(report: ExportReport, fp32: Path, benchmark: bool) -> None:
    try:
        variant = _session(report.path)
    except Exception as e:
        raise OnnxExportError(
            f"onnxruntime's CPU provider cannot run the {report.precision} graph ({str(e).splitlines()[0][:200]}); "
            f"{report.precision} files need a provider with those kernels (e.g. CUDA)"
        ) from e
    reference = _session(fp32)
    names = [i.name for i in reference.get_inputs()]
    rng = np.random.default_rng(0)
    shapes = [c["shape"] for c in report.checks][:2]
    feeds = []
    for shape in shapes:
        feed = {}
        for i, inp in enumerate(reference.get_inputs()):
            if i == 0:
                feed[inp.name] = rng.standard_normal(shape).astype(np.float32)
            else:  # extra inputs (masks): no padding
                dims = [shape[0], *shape[2:]] if len(inp.shape) == len(shape) - 1 else list(shape)
                feed[inp.name] = np.zeros(dims, dtype=bool if "bool" in inp.type else np.float32)
        feeds.append(feed)
    for feed in feeds:
        want = reference.run(None, feed)
        got = variant.run(None, feed)
        diff = max(float(np.abs(g.astype(np.float32) - w).max()) for g, w in zip(got, want))
        scale = max(1.0, max(float(np.abs(w).max()) for w in want))
        check = {"shape": tuple(feed[names[0]].shape), "rel_diff": diff / scale, "max_abs_diff": diff}
        if report.metadata.get("task") == "classification":
            check["top1_agreement"] = float(np.mean(got[0].argmax(-1) == want[0].argmax(-1)))
        report.variant_checks.append(check)
    if benchmark and feeds:
        report.fp32_ms = _median_ms(lambda: reference.run(None, feeds[0]))
        report.variant_ms = _median_ms(lambda: variant.run(None, feeds[0]))
