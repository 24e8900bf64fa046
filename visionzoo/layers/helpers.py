"""Small shape helpers shared by the layers: n-tuples and zero-padding of spatial dimensions at their ends."""
from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor

__all__ = ["all_zero", "pad_end", "pads_to_multiple", "to_ntuple"]


def to_ntuple(value: int | Sequence[int], n: int, name: str = "value") -> tuple[int, ...]:
    """Broadcast an int to an n-tuple, or check that a sequence has n entries."""
    if isinstance(value, int):
        return (value,) * n
    value = tuple(int(v) for v in value)
    if len(value) != n:
        raise ValueError(f"{name} must be an int or {n} ints, got {value}")
    return value


def pads_to_multiple(sizes: Sequence[int], multiples: Sequence[int]) -> tuple[int, ...]:
    """Padding that brings each size up to a multiple of its divisor."""
    return tuple((m - s % m) % m for s, m in zip(sizes, multiples))


def all_zero(values: Sequence[int]) -> bool:
    """True when every value is a plain int 0; symbolic sizes (torch.export) count as non-zero.

    Shortcuts taken on it never branch on a symbolic size, so exported graphs keep the general path.
    """
    return all(type(v) is int and v == 0 for v in values)


def pad_end(x: Tensor, pads: Sequence[int], channels_last: bool) -> Tensor:
    """Zero-pad the spatial dims of (B, C, *grid) or, with `channels_last`, (B, *grid, C) by `pads` at their ends."""
    if all_zero(pads):
        return x
    pad_arg = [0, 0] if channels_last else []
    for p in reversed(pads):
        pad_arg += [0, p]
    return F.pad(x, pad_arg)
