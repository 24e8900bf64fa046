"""ONNX export through torch's dynamo exporter, verified against eager PyTorch with onnxruntime.

Attention runs its explicit-math path during export (`explicit_attention()`), so the graph holds
plain MatMul/Softmax ops every runtime supports. Verification runs the exported graph on the example
input and on a second shape (another batch size and, with `dynamic_spatial`, another spatial size)
and compares with eager outputs: ``max|ort - torch| / max(1, max|torch|) <= tolerance``.
"""
from __future__ import annotations

import contextlib
import re
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

from ..layers import explicit_attention

__all__ = ["ExportReport", "OnnxExportError", "export_onnx"]


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


def _dynamic_shapes(
    x: Tensor, dynamic_batch: bool, dynamic_spatial: bool, spatial_multiple: int
) -> tuple[tuple[dict] | None, dict[str, list[int]]]:
    """torch.export dims: a free batch; spatial sides as `spatial_multiple` x an integer >= the example's.

    Tying spatial sides to the model's padding multiple keeps padding and window partitions exact in
    the graph; a plain dynamic dim would be specialised to the example size wherever the model pads.
    """
    spec: dict[int, Any] = {}
    if dynamic_batch:
        spec[0] = torch.export.Dim("batch", min=1, max=1024)
    if dynamic_spatial:
        for axis in range(2, x.ndim):
            if x.shape[axis] % spatial_multiple:
                raise ValueError(
                    f"dynamic_spatial export needs example sizes divisible by spatial_multiple={spatial_multiple}, "
                    f"got {tuple(x.shape[2:])}; pass an example input of such a size (or another spatial_multiple)"
                )
            # from the example's size upward: models whose windows shrink on small grids branch below it
            steps = x.shape[axis] // spatial_multiple
            spec[axis] = spatial_multiple * torch.export.Dim(f"size{axis - 2}", min=steps, max=max(steps, 1024))
    return ((spec,) if spec else None), ({"input": sorted(spec)} if spec else {})


def _second_input(x: Tensor, dynamic_batch: bool, dynamic_spatial: bool, spatial_multiple: int) -> Tensor:
    batch = x.shape[0] + 1 if dynamic_batch else x.shape[0]
    spatial = [s + spatial_multiple if dynamic_spatial else s for s in x.shape[2:]]
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
) -> ExportReport:
    """Export `model` (eval mode, explicit attention) to ONNX at `path` and check it with onnxruntime.

    `dynamic_batch`/`dynamic_spatial` make those input axes symbolic; the second verification input
    grows the batch by one and each spatial side by `spatial_multiple`; `optimize` runs the exporter's
    graph optimiser (constant folding, fusions; a third of the export time). Raises `OnnxExportError`
    when export fails and `RuntimeError` when verification exceeds `tolerance`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    shapes, axes = _dynamic_shapes(example_input, dynamic_batch, dynamic_spatial, spatial_multiple)
    traced_input = example_input
    if dynamic_batch and example_input.shape[0] == 1:  # a batch of 1 would be specialised to a constant
        traced_input = torch.cat([example_input, example_input])
    try:
        with torch.no_grad(), explicit_attention(), _explicit_conv3d_bias(model):
            program = torch.onnx.export(
                model,
                (traced_input,),
                dynamo=True,
                opset_version=opset,
                dynamic_shapes=shapes,
                input_names=["input"],
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
        _verify(model, report, example_input, dynamic_batch, dynamic_spatial, tolerance, spatial_multiple, benchmark)
    if verbose:
        print(report.table(), flush=True)
    failed = [c for c in report.checks if not c["passed"]]
    if failed:
        raise RuntimeError(f"onnxruntime output differs from PyTorch beyond {tolerance}:\n{report.table()}")
    return report


def _verify(
    model: nn.Module,
    report: ExportReport,
    x: Tensor,
    dynamic_batch: bool,
    dynamic_spatial: bool,
    tolerance: float,
    spatial_multiple: int,
    benchmark: bool,
) -> None:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = ort.InferenceSession(str(report.path), options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    model.eval()
    for sample in (x, _second_input(x, dynamic_batch, dynamic_spatial, spatial_multiple)):
        with torch.no_grad():
            expected = [t.numpy() for t in _first_tensor(model(sample))]
        got = session.run(None, {input_name: sample.numpy()})
        diff = max(float(np.abs(g - e).max()) for g, e in zip(got, expected))
        scale = max(1.0, max(float(np.abs(e).max()) for e in expected))
        report.checks.append(
            {"shape": tuple(sample.shape), "max_abs_diff": diff, "rel_diff": diff / scale, "passed": diff / scale <= tolerance}
        )
    if benchmark:
        feed = {input_name: x.numpy()}
        with torch.no_grad():
            report.torch_ms = _median_ms(lambda: model(x))
        report.onnxruntime_ms = _median_ms(lambda: session.run(None, feed))
