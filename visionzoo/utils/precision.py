"""Inference precision: ``fp32`` (exact), or ``bf16`` / ``fp16`` autocast with the outputs returned in fp32.

Autocast runs matmuls and convolutions in the low precision and keeps what it lists as sensitive (losses,
reductions) in fp32; the layers keep their own sensitive steps in fp32 (softmax statistics in `softmax`,
the focused-linear kernels). On a CPU with AVX512-BF16 or AMX, bf16 matmuls run at about twice the fp32 rate;
fp16 needs a GPU (or AVX512-FP16) to be fast.

    with autocast("bf16"):
        logits = model(x)
"""
from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterator
from typing import Any

import torch

__all__ = ["PRECISIONS", "check_precision", "autocast", "outputs_to_fp32"]

PRECISIONS: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
"""Precision name -> the autocast dtype (fp32: no autocast)."""


def check_precision(precision: str) -> str:
    """`precision` if it names one of `PRECISIONS`; else a ValueError with the close match."""
    if precision in PRECISIONS:
        return precision
    close = difflib.get_close_matches(str(precision), list(PRECISIONS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(f"unknown precision {precision!r}{hint}; choose one of {', '.join(PRECISIONS)}.")


@contextlib.contextmanager
def autocast(precision: str = "fp32", device_type: str = "cpu") -> Iterator[None]:
    """``torch.autocast(device_type, PRECISIONS[precision])`` for bf16/fp16; nothing for fp32."""
    if check_precision(precision) == "fp32":
        yield
        return
    with torch.autocast(device_type=device_type, dtype=PRECISIONS[precision]):
        yield


def outputs_to_fp32(output: Any) -> Any:
    """`output` with every floating tensor (in tensors, dicts, lists, tuples) cast to fp32: post-processing such as
    box decoding and sliding-window blending stays exact."""
    if isinstance(output, torch.Tensor):
        return output.float() if output.is_floating_point() and output.dtype != torch.float32 else output
    if isinstance(output, dict):
        return type(output)((k, outputs_to_fp32(v)) for k, v in output.items())
    if isinstance(output, (list, tuple)) and not hasattr(output, "_fields"):
        return type(output)(outputs_to_fp32(v) for v in output)
    return output
