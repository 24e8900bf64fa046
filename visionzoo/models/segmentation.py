"""Helpers shared by the dense segmenters: inputs padded to the decoder's stride and logits cropped back."""
from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from ..layers import pad_end, pads_to_multiple

__all__ = ["run_padded"]


def run_padded(fn: Callable[[Tensor], Tensor], x: Tensor, multiple: int) -> Tensor:
    """``fn(x)`` on `x` zero-padded at the end of each spatial dim to a multiple of `multiple`, cropped back.

    U-shaped decoders concatenate upsampled maps with skips, so each side must divide by the total
    stride; padding lets them take any size (MONAI's networks raise instead).
    """
    spatial = tuple(x.shape[2:])
    pads = pads_to_multiple(spatial, (multiple,) * len(spatial))
    if not any(pads):
        return fn(x)
    out = fn(pad_end(x, pads, channels_last=False))
    return out[(slice(None), slice(None)) + tuple(slice(0, s) for s in spatial)]
