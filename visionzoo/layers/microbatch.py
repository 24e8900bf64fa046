"""Gradient-free forwards over a large batch in micro-batches, so CPU temporaries stay cache- and allocator-friendly.

Backbone stages are independent per sample in eval mode, so running a stage on a few images at a
time gives the same result. On CPU it is faster when one batch's activations are many MB (Swin's
first stage at batch 8: 10 MB per activation, 38 MB per MLP hidden): each micro-batch stays in cache
through all of the stage's blocks, and its buffers are small enough to be reused by the allocator
instead of being mapped afresh (and page-faulted) on every call.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["add_residual", "autograd_free", "graph_capture", "map_microbatches"]

# Split only when one activation of the whole batch exceeds this; aim for micro-batches of about _TARGET_BYTES.
_SPLIT_ABOVE_BYTES = 8 << 20
_TARGET_BYTES = 4 << 20


def graph_capture() -> bool:
    """True while a tracer, torch.compile, torch.export or the ONNX exporter records the forward."""
    return (
        torch.jit.is_tracing()
        or torch.jit.is_scripting()
        or torch.compiler.is_compiling()
        or torch.compiler.is_exporting()
        or torch.onnx.is_in_onnx_export()
    )


def autograd_free() -> bool:
    """True when neither autograd nor a graph capture is watching (chunked, in-place fast paths are allowed)."""
    return not (torch.is_grad_enabled() or graph_capture())


def add_residual(branch: Tensor, x: Tensor) -> Tensor:
    """``x + branch``, written into `branch` (a fresh output the caller owns) when autograd is off and the sum has
    its dtype: one full-size map less to allocate and write, the same values (IEEE addition commutes). A forward
    hook holding `branch` would see the sum: callers use it where no hook is registered on the modules that
    produced `branch`, or where module outputs are updated in place anyway (MONAI's conv blocks)."""
    if autograd_free() and branch.shape == x.shape and torch.result_type(branch, x) == branch.dtype:
        return branch.add_(x)
    return x + branch


def map_microbatches(fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """``fn(x)``, computed on slices of the batch when autograd is off and `x` is large (`fn` must be per-sample)."""
    if not autograd_free() or x.device.type != "cpu":  # first: size tests on symbolic shapes would add export guards
        return fn(x)
    batch = x.shape[0]
    total = x.numel() * x.element_size()
    if batch <= 1 or total <= _SPLIT_ABOVE_BYTES:
        return fn(x)
    per = max(1, _TARGET_BYTES * batch // total)
    return torch.cat([fn(x[i:i + per]) for i in range(0, batch, per)])
