"""ONNX export through torch's dynamo exporter, verified against eager PyTorch with onnxruntime.

Attention runs its explicit-math path during export (`explicit_attention()`), so the graph holds
plain MatMul/Softmax ops every runtime supports. Verification runs the exported graph on the example
input and on a second shape (another batch size and, with `dynamic_spatial`, another spatial size)
and compares with eager outputs: ``max|ort - torch| / max(1, max|torch|) <= tolerance``.
"""
from __future__ import annotations

import contextlib
import math
import re
import statistics
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

from ..layers import WindowAttention, explicit_attention

__all__ = ["ExportReport", "OnnxExportError", "export_onnx", "window_size_limits"]


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

    def table(self) -> str:
        """Verification and latency as aligned text."""
        lines = [f"ONNX export: {self.path} (opset {self.opset}, dynamic {self.dynamic_axes or 'none'})"]
        for c in self.checks:
            status = "ok" if c["passed"] else "FAILED"
            lines.append(f"  input {c['shape']}: max|diff| {c['max_abs_diff']:.2e}, relative {c['rel_diff']:.2e} [{status}]")
        if self.torch_ms is not None:
            ratio = self.torch_ms / self.onnxruntime_ms if self.onnxruntime_ms else float("nan")
            lines.append(
                f"  latency: PyTorch eager {self.torch_ms:.1f} ms, onnxruntime {self.onnxruntime_ms:.1f} ms "
                f"(onnxruntime {ratio:.2f}x eager speed)"
            )
        return "\n".join(lines)


def _first_tensor(out: Any) -> list[Tensor]:
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, dict):
        return [t for v in out.values() for t in _first_tensor(v)]
    if isinstance(out, (list, tuple)):
        return [t for v in out for t in _first_tensor(v)]
    return []


def _failing_op(error: BaseException) -> str | None:
    text = "".join(str(e) for e in (error, error.__cause__, error.__context__) if e is not None)
    match = re.search(r"(aten[.:]{1,2}[A-Za-z_0-9]+(?:\.[A-Za-z_0-9]+)?)", text)
    return match.group(1) if match else None


SizeLimits = list[tuple[int, int | None]]


def window_size_limits(model: nn.Module, x: Tensor) -> SizeLimits:
    """Per spatial axis, the (min, max) input sizes at which every window attention keeps its layout on `x`.

    A window attention over a grid no larger than its window uses one window of the grid's size and
    no shift; a larger grid is padded to whole (shifted) windows. The two are different graphs, so one
    exported file can serve only sizes on the example's side of each such boundary. Found by running
    `x` once and reading each `WindowAttention`'s grid; `max` is None where sizes are unbounded.
    """
    records: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
    hooks = [
        m.register_forward_pre_hook(lambda mod, args: records.append((tuple(int(s) for s in args[1]), mod.window_size)))
        for m in model.modules()
        if isinstance(m, WindowAttention)
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    limits: SizeLimits = []
    for axis, size in enumerate(x.shape[2:]):
        low, high = 1, None
        for grid, window in records:
            if axis >= len(grid):
                continue
            stride = size / grid[axis]
            if grid[axis] > window[axis]:  # windowed: the grid must stay larger than the window
                low = max(low, math.floor(window[axis] * stride) + 1)
            else:  # one window covering the grid: the grid must not outgrow the window
                bound = math.floor(window[axis] * stride)
                high = bound if high is None else min(high, bound)
        limits.append((low, high))
    return limits


def _dynamic_shapes(
    x: Tensor, dynamic_batch: bool, dynamic_spatial: bool, spatial_multiple: int, limits: SizeLimits | None = None
) -> tuple[tuple[dict] | None, dict[str, list[int]]]:
    """torch.export dims: a free batch; spatial sides as `spatial_multiple` x an integer within `limits`.

    Tying spatial sides to the model's padding multiple keeps padding and window partitions exact in
    the graph; a plain dynamic dim would be specialised to the example size wherever the model pads.
    """
    spec: dict[int, Any] = {}
    if dynamic_batch:
        spec[0] = torch.export.Dim("batch", min=1, max=1024)
    if dynamic_spatial:
        for axis in range(2, x.ndim):
            size = x.shape[axis]
            if size % spatial_multiple:
                raise ValueError(
                    f"dynamic_spatial export needs example sizes divisible by spatial_multiple={spatial_multiple}, "
                    f"got {tuple(x.shape[2:])}; pass an example input of such a size (or another spatial_multiple)"
                )
            lo, hi = _step_range(size, spatial_multiple, (limits or [])[axis - 2] if limits else (1, None))
            spec[axis] = spatial_multiple * torch.export.Dim(f"size{axis - 2}", min=lo, max=hi)
    return ((spec,) if spec else None), ({"input": sorted(spec)} if spec else {})


def _step_range(size: int, multiple: int, limit: tuple[int, int | None]) -> tuple[int, int]:
    """Range of k with k * multiple inside `limit`; clear error when the example's size is the only one."""
    steps = size // multiple
    hi = max(steps, steps + 1024 if limit[1] is None else limit[1] // multiple)
    # from the example upward (other branches may hide below it) unless a window boundary caps the sizes
    lo = steps if hi > steps else min(steps, max(1, -(-limit[0] // multiple)))
    if lo == hi:
        bound = f"at most {limit[1]}" if limit[1] is not None else "unbounded"
        raise ValueError(
            f"dynamic_spatial: size {size} is the only multiple of {multiple} at which this model keeps its window "
            f"layout (sizes {limit[0]}..{bound}); window attention uses one unshifted window on grids no larger "
            f"than the window. Export from an example whose every stage grid is larger than its window for a "
            f"graph that runs at any larger multiple of {multiple}."
        )
    return lo, hi


def _second_input(
    x: Tensor, dynamic_batch: bool, dynamic_spatial: bool, spatial_multiple: int, limits: SizeLimits | None = None
) -> Tensor:
    """A verification input of another shape along every dynamic axis (larger where allowed, else smaller)."""
    batch = x.shape[0] + 1 if dynamic_batch else x.shape[0]
    spatial = list(x.shape[2:])
    if dynamic_spatial:
        for i, size in enumerate(spatial):
            lo, hi = _step_range(size, spatial_multiple, limits[i] if limits else (1, None))
            step = 1 if size // spatial_multiple < hi else -1
            spatial[i] = size + step * spatial_multiple
    return torch.randn(batch, x.shape[1], *spatial, dtype=x.dtype)


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
) -> ExportReport:
    """Export `model` (eval mode, explicit attention) to ONNX at `path` and check it with onnxruntime.

    `dynamic_batch`/`dynamic_spatial` make those input axes symbolic; the second verification input
    grows the batch by one and each spatial side by `spatial_multiple` (shrinks it where window
    attention caps the sizes, see `window_size_limits`); `optimize` runs the exporter's
    graph optimiser (constant folding, fusions; a third of the export time). `extra_inputs` are further
    named graph inputs passed positionally after the image (e.g. DETR's padding ``mask``); their batch
    axis and any trailing axes equal to the image's spatial sides follow the image's dynamic axes.
    Raises `OnnxExportError` when export fails and `RuntimeError` when verification exceeds `tolerance`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    extras = dict(extra_inputs or {})
    limits = window_size_limits(model, example_input) if dynamic_spatial else None
    shapes, axes = _dynamic_shapes(example_input, dynamic_batch, dynamic_spatial, spatial_multiple, limits)
    if extras:
        shapes, axes = _tie_extra_inputs(example_input, extras, shapes, axes)
    inputs = (example_input, *extras.values())
    traced = inputs
    if dynamic_batch and example_input.shape[0] == 1:  # a batch of 1 would be specialised to a constant
        traced = tuple(torch.cat([t, t]) for t in inputs)
    try:
        with torch.no_grad(), explicit_attention(), _explicit_conv3d_bias(model):
            program = torch.onnx.export(
                model,
                traced,
                dynamo=True,
                opset_version=opset,
                dynamic_shapes=shapes,
                input_names=["input", *extras],
                optimize=optimize,
                verbose=False,
            )
            program.save(str(path))
    except Exception as e:  # the exporters raise many types; translate into one clear error
        op = _failing_op(e)
        where = f" at operator {op}" if op else ""
        raise OnnxExportError(
            f"ONNX export of {type(model).__name__} failed{where}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        ) from e
    finally:
        model.train(was_training)

    report = ExportReport(path=path, opset=opset, dynamic_axes=axes)
    if verify:
        second = _second_input(example_input, dynamic_batch, dynamic_spatial, spatial_multiple, limits)
        second_inputs = (second, *(_resized_like(t, example_input, second) for t in extras.values()))
        _verify(model, report, (inputs, second_inputs), tolerance, benchmark)
    if verbose:
        print(report.table(), flush=True)
    failed = [c for c in report.checks if not c["passed"]]
    if failed:
        raise RuntimeError(f"onnxruntime output differs from PyTorch beyond {tolerance}:\n{report.table()}")
    return report


def _tie_extra_inputs(
    x: Tensor, extras: Mapping[str, Tensor], shapes: tuple[dict] | None, axes: dict[str, list[int]]
) -> tuple[tuple[dict, ...] | None, dict[str, list[int]]]:
    """Dynamic dims of the extra inputs: the image's batch Dim on axis 0, its spatial Dims on equal trailing axes."""
    image_spec = shapes[0] if shapes else {}
    specs = [image_spec]
    for name, t in extras.items():
        spec: dict[int, Any] = {}
        if 0 in image_spec and t.ndim and t.shape[0] == x.shape[0]:
            spec[0] = image_spec[0]
        spatial = x.shape[2:]
        if t.ndim >= len(spatial) and tuple(t.shape[t.ndim - len(spatial):]) == tuple(spatial):
            for i in range(len(spatial)):
                if 2 + i in image_spec:
                    spec[t.ndim - len(spatial) + i] = image_spec[2 + i]
        specs.append(spec)
        if spec:
            axes = {**axes, name: sorted(spec)}
    return (tuple(specs) if any(specs) else None), axes


def _resized_like(t: Tensor, old_image: Tensor, new_image: Tensor) -> Tensor:
    """An extra input for the second verification run: batch and image-sized trailing axes follow `new_image`.

    Float inputs are random; others (masks, indices) are zeros, i.e. a batch without padding.
    """
    shape = list(t.shape)
    if shape and shape[0] == old_image.shape[0]:
        shape[0] = new_image.shape[0]
    old_sp, new_sp = tuple(old_image.shape[2:]), tuple(new_image.shape[2:])
    if len(shape) >= len(old_sp) and tuple(shape[len(shape) - len(old_sp):]) == old_sp:
        shape[len(shape) - len(old_sp):] = new_sp
    return torch.randn(shape, dtype=t.dtype) if t.is_floating_point() else torch.zeros(shape, dtype=t.dtype)


def _verify(
    model: nn.Module,
    report: ExportReport,
    samples: tuple[tuple[Tensor, ...], tuple[Tensor, ...]],
    tolerance: float,
    benchmark: bool,
) -> None:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = ort.InferenceSession(str(report.path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    model.eval()
    for sample in samples:
        with torch.no_grad():
            expected = [t.numpy() for t in _first_tensor(model(*sample))]
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
