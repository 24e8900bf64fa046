"""Inference precision: ``fp32`` (exact), or ``bf16`` / ``fp16`` autocast with the outputs returned in fp32;
``auto`` is bf16 where the hardware computes it natively (AVX512-BF16 or AMX CPUs, bf16 GPUs) and fp32 elsewhere.

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
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

__all__ = ["PRECISIONS", "check_precision", "resolve_precision", "native_bf16", "autocast", "no_autocast",
           "outputs_to_fp32"]

PRECISIONS: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
"""Precision name -> the autocast dtype (fp32: no autocast)."""


def check_precision(precision: str) -> str:
    """`precision` if it is ``auto`` or names one of `PRECISIONS`; else a ValueError with the close match."""
    if precision in PRECISIONS or precision == "auto":
        return precision
    close = difflib.get_close_matches(str(precision), [*PRECISIONS, "auto"], n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(f"unknown precision {precision!r}{hint}; choose one of {', '.join(PRECISIONS)} or auto.")


@functools.cache
def _cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: no native-bf16 claim
        return frozenset()
    line = next((l for l in text.splitlines() if l.startswith("flags")), "")
    return frozenset(line.partition(":")[2].split())


def native_bf16(device_type: str = "cpu") -> bool:
    """True where bf16 matmuls run natively: a CUDA device that supports bf16, or an AVX512-BF16 / AMX CPU
    (without them oneDNN emulates bf16, no faster than fp32)."""
    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return device_type == "cpu" and bool(_cpu_flags() & {"avx512_bf16", "amx_bf16"})


def resolve_precision(precision: str, device_type: str = "cpu") -> str:
    """`precision` with ``auto`` replaced by ``bf16`` (native bf16 on `device_type`) or ``fp32``."""
    if check_precision(precision) == "auto":
        return "bf16" if native_bf16(device_type) else "fp32"
    return precision


@contextlib.contextmanager
def autocast(precision: str = "fp32", device_type: str = "cpu") -> Iterator[None]:
    """``torch.autocast(device_type, PRECISIONS[precision])`` for bf16/fp16 (``auto``: see `resolve_precision`);
    nothing for fp32."""
    precision = resolve_precision(precision, device_type)
    if precision == "fp32":
        yield
        return
    with torch.autocast(device_type=device_type, dtype=PRECISIONS[precision]):
        yield


def no_autocast(device_type: str) -> contextlib.AbstractContextManager:
    """Autocast switched off on `device_type`, for steps that must run in the dtype they are given (fp32 kernels
    under AMP); nothing on devices without autocast (meta: FLOP counting)."""
    if torch.amp.is_autocast_available(device_type):
        return torch.autocast(device_type=device_type, enabled=False)
    return contextlib.nullcontext()


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
