"""(Shifted) window self-attention with relative position bias, one implementation for 2D and 3D grids.

Used by Swin (2D) and Swin UNETR (2D/3D). The input is a token sequence (B, N, C) with its grid
``shape``; the block pads the grid to whole windows, cyclically shifts it for SW-MSA, attends within
windows and undoes all three. Conventions follow the official Swin detection code and MONAI, so
checkpoints of both load exactly:

* padding happens *before* the cyclic shift, padded tokens are zeros that take part in attention;
* a grid no larger than the window along a dimension uses a window of the grid's size there and no
  shift; the bias of the smaller window is read from the full table at the same relative offsets
  (``shrunk_window_bias="relative"``), or, as MONAI's SwinUNETR does, from the leading N x N block of
  the full window's index (``"truncated"``: needed for exact parity with MONAI-trained weights at
  grids smaller than the window, e.g. the last stage at 96^3);
* the shift mask is -100 between tokens that came from different regions, as in both references.

timm shifts *before* padding, so for sizes that are not multiples of the window its SW-MSA output
differs from the official code (for multiples of the window all three agree); ``shift_first=True``
reproduces timm's order exactly.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn as nn
from torch import Tensor
from timm.layers import trunc_normal_

from ..helpers import all_zero, pad_end, pads_to_multiple, to_ntuple
from ..microbatch import autograd_free, graph_capture
from .base import MultiHeadMixer, check_grid
from .functional import use_explicit_attention
from .registry import register_attention

__all__ = [
    "WindowAttention",
    "window_partition",
    "window_reverse",
    "relative_position_index",
    "shifted_window_mask",
    "effective_window",
]

MASK_VALUE = -100.0


def window_partition(x: Tensor, window: Sequence[int], counts: Sequence[int] | None = None) -> Tensor:
    """(B, *grid, C) with grid a multiple of `window` -> (B * num_windows, prod(window), C), windows in raster order.

    `counts` (windows per dimension, ``grid // window``) may be given where it is known as a constant (BiFormer's
    ``n_win`` regions) so traced graphs do not divide symbolic sizes. Shapes are spelled out (no -1): symbolic
    reshapes with an inferred size are very slow to trace under torch.export.
    """
    nd = len(window)
    b, *grid, c = x.shape
    split = [b]
    counts = [size // w for size, w in zip(grid, window)] if counts is None else list(counts)
    for n, w in zip(counts, window):
        split += [n, w]
    x = x.view(*split, c)
    order = [0] + [1 + 2 * i for i in range(nd)] + [2 + 2 * i for i in range(nd)] + [2 * nd + 1]
    return x.permute(order).reshape(b * math.prod(counts), math.prod(window), c)


def window_reverse(
    windows: Tensor, window: Sequence[int], grid: Sequence[int], counts: Sequence[int] | None = None
) -> Tensor:
    """Inverse of `window_partition`: (B * num_windows, prod(window), C) -> (B, *grid, C)."""
    nd = len(window)
    c = windows.shape[-1]
    counts = [size // w for size, w in zip(grid, window)] if counts is None else list(counts)
    b = windows.shape[0] // math.prod(counts)
    x = windows.view(b, *counts, *window, c)
    order = [0]
    for i in range(nd):
        order += [1 + i, 1 + nd + i]
    order.append(2 * nd + 1)
    return x.permute(order).reshape(b, *grid, c)


def relative_position_index(window: Sequence[int], table_window: Sequence[int] | None = None) -> Tensor:
    """(N, N) index into a relative-position table sized for `table_window` (default: `window`).

    The table holds one row per relative offset, raster ordered over prod(2 * table_window - 1)
    offsets; a smaller `window` reads the rows of its own (smaller) set of offsets.
    """
    table_window = tuple(window) if table_window is None else tuple(table_window)
    axes = [torch.arange(w) for w in window]
    coords = torch.stack(torch.meshgrid(*axes, indexing="ij")).flatten(1)  # nd, N
    rel = coords[:, :, None] - coords[:, None, :]  # nd, N, N
    index = torch.zeros_like(rel[0])
    for i, tw in enumerate(table_window):
        stride = math.prod(2 * t - 1 for t in table_window[i + 1:])
        index += (rel[i] + tw - 1) * stride
    return index


def shifted_window_mask(
    grid: Sequence[int], window: Sequence[int], shift: Sequence[int], device=None, dtype=torch.float32
) -> Tensor:
    """(num_windows, N, N) additive mask for SW-MSA on a padded `grid`: -100 between tokens of different regions."""
    region = torch.zeros(tuple(grid), dtype=torch.long, device=device)
    for dim, (size, w, s) in enumerate(zip(grid, window, shift)):
        if s == 0:
            continue  # no cyclic shift along this dimension: a single region
        label = torch.zeros(size, dtype=torch.long, device=device)
        label[size - w: size - s] = 1
        label[size - s:] = 2
        view = [1] * len(grid)
        view[dim] = size
        region = region * 3 + label.view(view)
    ids = window_partition(region[None, ..., None], window).squeeze(-1)  # nW, N
    different = ids[:, None, :] != ids[:, :, None]
    return torch.zeros(different.shape, dtype=dtype, device=device).masked_fill(different, MASK_VALUE)


def effective_window(
    grid: Sequence[int], window: Sequence[int], shift: Sequence[int]
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Window and shift actually used on `grid`: a dimension no larger than its window is one window, unshifted."""
    eff_window = tuple(min(g, w) for g, w in zip(grid, window))
    eff_shift = tuple(0 if g <= w else s for g, w, s in zip(grid, window, shift))
    return eff_window, eff_shift


def _crop(x: Tensor, shape: Sequence[int], pads: Sequence[int]) -> Tensor:
    if all_zero(pads):
        return x
    return x[(slice(None),) + tuple(slice(0, s) for s in shape)]


def _roll(x: Tensor, shift: Sequence[int], dims: Sequence[int], sign: int) -> Tensor:
    if not any(shift):
        return x
    return torch.roll(x, shifts=tuple(sign * s for s in shift), dims=tuple(dims))


class WindowAttention(MultiHeadMixer):
    """W-MSA / SW-MSA token mixer over a 2D or 3D grid: ``forward(x[B, N, C], shape) -> [B, N, C]``.

    Parameters (``qkv``, ``proj``, ``relative_position_bias_table``) carry the same names as in the
    official Swin, timm and MONAI, so checkpoints map one to one.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: int | Sequence[int] = 7,
        shift_size: int | Sequence[int] = 0,
        spatial_dims: int | None = None,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        head_dim: int | None = None,
        shift_first: bool = False,
        shrunk_window_bias: str = "relative",
    ) -> None:
        super().__init__(dim, num_heads, head_dim=head_dim, attn_drop=attn_drop)
        if shrunk_window_bias not in ("relative", "truncated"):
            raise ValueError(f"shrunk_window_bias must be 'relative' or 'truncated', got {shrunk_window_bias!r}")
        self.shift_first = shift_first
        self.shrunk_window_bias = shrunk_window_bias
        if spatial_dims is None:
            spatial_dims = 2 if isinstance(window_size, int) else len(window_size)
        if spatial_dims not in (2, 3):
            raise ValueError(f"WindowAttention supports 2D and 3D grids, got spatial_dims={spatial_dims}")
        self.spatial_dims = spatial_dims
        self.window_size = to_ntuple(window_size, spatial_dims, "window_size")
        self.shift_size = to_ntuple(shift_size, spatial_dims, "shift_size")
        if any(s >= w for s, w in zip(self.shift_size, self.window_size)):
            raise ValueError(f"shift_size {self.shift_size} must be smaller than window_size {self.window_size}")
        table_rows = math.prod(2 * w - 1 for w in self.window_size)
        self.relative_position_bias_table = nn.Parameter(torch.zeros(table_rows, num_heads))
        self.register_buffer("relative_position_index", relative_position_index(self.window_size), persistent=False)
        self._init_qkv("fused", bias=qkv_bias)
        self._init_proj(proj_drop)
        self._mask_cache: dict[tuple, Tensor] = {}
        self._group_cache: dict[tuple, list[tuple[Tensor, Tensor]]] = {}
        self._bias_cache: dict[tuple, Tensor] = {}  # inference only: bias (+ mask pattern) per window / group
        self._bias_weights: tuple = ()  # the table version the cached biases were computed from
        trunc_normal_(self.relative_position_bias_table, std=0.02)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_heads={self.num_heads}, window_size={self.window_size}, shift_size={self.shift_size}"

    def relative_position_bias(self, window: Sequence[int]) -> Tensor:
        """(heads, N, N) bias for a window of size `window` (the configured one or a smaller one)."""
        window = tuple(window)
        n = math.prod(window)
        if window == self.window_size:
            index = self.relative_position_index
        elif self.shrunk_window_bias == "truncated":
            index = self.relative_position_index[:n, :n]
        else:
            index = relative_position_index(window, self.window_size).to(self.relative_position_index.device)
        bias = self.relative_position_bias_table[index.reshape(-1)].view(n, n, -1)
        return bias.permute(2, 0, 1)

    def _cached(self, key: tuple, compute: Callable[[], Tensor]) -> Tensor:
        """`compute()` once per `key` while no gradient is needed (tiles of a sliding window reuse the gathered
        bias); the cache is dropped when the table changes (in-place update, ``load_state_dict``, ``.to()``)."""
        if not autograd_free():
            return compute()
        table = self.relative_position_bias_table
        weights = (table._version, table.data_ptr(), table.dtype, table.device)
        if weights != self._bias_weights:
            self._bias_cache.clear()
            self._bias_weights = weights
        value = self._bias_cache.get(key)
        if value is None:
            value = self._bias_cache[key] = compute()
        return value

    def _shift_mask(self, grid: tuple[int, ...], window: tuple[int, ...], shift: tuple[int, ...], x: Tensor) -> Tensor:
        if graph_capture():  # symbolic sizes: build it in the graph (a cache lookup would bake in one size)
            return shifted_window_mask(grid, window, shift, device=x.device, dtype=x.dtype)
        key = (grid, window, shift, x.device, x.dtype)
        mask = self._mask_cache.get(key)
        if mask is None:
            mask = shifted_window_mask(grid, window, shift, device=x.device, dtype=x.dtype)
            self._mask_cache[key] = mask
        return mask

    def _mask_groups(self, mask: Tensor, key: tuple) -> list[tuple[Tensor, Tensor]]:
        """(mask, window indices) per distinct shift mask: the windows the shift leaves whole share the zero mask,
        and the cut ones fall into at most 3 more patterns in 2D and 7 in 3D."""
        groups = self._group_cache.get(key)
        if groups is None:
            # a shift mask is 0 within a region and MASK_VALUE across regions, so a window's mask is fixed by each
            # token's first same-region token: unique over (nW, N) of those instead of the (nW, N * N) masks (10x
            # faster; 0.3 s at Swin UNETR's first stage for a 128^3 ROI)
            first_alike = (mask == 0).to(torch.uint8).argmax(dim=-1)
            _, inverse = torch.unique(first_alike, dim=0, return_inverse=True)
            groups = []
            for i in range(int(inverse.max()) + 1):
                windows = (inverse == i).nonzero().squeeze(1)
                groups.append((mask[windows[0]], windows))
            self._group_cache[key] = groups
        return groups

    def _attend_shifted(self, q: Tensor, k: Tensor, v: Tensor, bias: Tensor, mask: Tensor, batch: int,
                        key: tuple) -> Tensor:
        """SW-MSA, one attention call per distinct mask with a broadcast (1, heads, N, N) bias, instead of
        materialising a (B * nW, heads, N, N) bias (1.4 GB in fp32 for Swin UNETR's first stage at a 128^3 ROI:
        1000 windows of 343 tokens, 3 heads). Every window gets the same bias + mask values as before."""
        # one masked call over all windows for traced graphs (symbolic window counts), meta tensors (no values) and
        # explicit attention (exporters, FLOP counting, attention maps: one softmax per forward, in window order)
        if graph_capture() or mask.is_meta or use_explicit_attention():
            full = (bias + mask.unsqueeze(1)).unsqueeze(0)  # 1, nW, heads, Nw, Nw
            full = full.expand(batch, -1, -1, -1, -1).reshape(-1, *full.shape[2:])  # B*nW, heads, Nw, Nw
            return self.attend(q, k, v, bias=full)
        offsets = torch.arange(batch, device=mask.device).unsqueeze(1) * mask.shape[0]
        out = q.new_empty(q.shape[0], q.shape[2], q.shape[1] * q.shape[3])  # B*nW, Nw, C
        for group, (pattern, windows) in enumerate(self._mask_groups(mask, key)):
            rows = (offsets + windows).reshape(-1)
            masked = self._cached((key, group), lambda: bias + pattern)
            out.index_copy_(0, rows, self.attend(q[rows], k[rows], v[rows], bias=masked))
        return out

    def forward(self, x: Tensor, shape: Sequence[int]) -> Tensor:
        b, n, c = x.shape
        shape = check_grid(x, shape, 0, "WindowAttention", (self.spatial_dims,))
        window, shift = effective_window(shape, self.window_size, self.shift_size)
        pads = pads_to_multiple(shape, window)
        grid = tuple(s + p for s, p in zip(shape, pads))
        dims = tuple(range(1, 1 + self.spatial_dims))
        x = x.view(b, *shape, c)
        if self.shift_first:
            x = pad_end(_roll(x, shift, dims, -1), pads, channels_last=True)
        else:
            x = _roll(pad_end(x, pads, channels_last=True), shift, dims, -1)

        windows = window_partition(x, window)  # B*nW, Nw, C
        bias = self._cached((window,), lambda: self.relative_position_bias(window).unsqueeze(0))  # 1, heads, Nw, Nw
        q, k, v = self.qkv_heads(windows)
        if any(shift):
            mask = self._shift_mask(grid, window, shift, x)
            windows = self._attend_shifted(q, k, v, bias, mask, b, (grid, window, shift, x.device, x.dtype))
        else:
            windows = self.attend(q, k, v, bias=bias)
        x = window_reverse(self.project(windows), window, grid)

        if self.shift_first:
            x = _roll(_crop(x, shape, pads), shift, dims, 1)
        else:
            x = _crop(_roll(x, shift, dims, 1), shape, pads)
        return x.reshape(b, n, c)


register_attention("window", WindowAttention, spatial_dims=(2, 3), prefix_tokens=False)
