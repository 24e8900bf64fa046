"""Attention maps of any visionzoo model, read through forward hooks, and their overlay on the input image.

``attention_maps(model, image)`` runs one eval-mode forward with a hook on every module whose type has
a registered *extractor* and returns ``{module name: map (B, h, w)}`` with values in [0, 1]:

* CNN block attention (`CBAM`, `TripletAttention`): the spatial gate the module multiplies its input
  by, (B, 1, H, W) -> (B, H, W) at the block's resolution (triplet: its (H, W) branch).
* Softmax self-attention (`SelfAttention`, ViT): the attention probabilities, read on the
  explicit-attention path (`explicit_attention()`) by recording the ``softmax`` computed inside the
  module; the map is the class token's attention over the patch grid (models without a class token:
  the attention each patch receives, averaged over queries), averaged over heads.
* Window attention (`WindowAttention`, Swin): the attention each token receives within its (shifted)
  window, averaged over heads and queries, mapped back through the window partition, shift and padding.

New module types plug in with `register_attention_extractor(type, fn)`; an extractor gets
``(module, inputs, output, softmaxes)`` — `softmaxes` holds the softmax outputs recorded inside the
module when registered with ``record_softmax=True`` — and returns a (B, h, w) map or None.
`attention_rollout` combines a ViT's per-block probabilities (Abnar & Zuidema, 2020).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode

from .layers import explicit_attention, pads_to_multiple
from .layers.attention import SelfAttention, WindowAttention
from .layers.attention.window import _crop, _roll, effective_window, window_reverse
from .layers.conv_attention import CBAM, TripletAttention

__all__ = [
    "attention_maps",
    "attention_rollout",
    "detr_cross_attention",
    "overlay_maps",
    "preprocess_image",
    "register_attention_extractor",
]

ExtractorFn = Callable[[nn.Module, tuple[Any, ...], Any, list[Tensor]], "Tensor | None"]


@dataclass(frozen=True)
class _Extractor:
    fn: ExtractorFn
    record_softmax: bool


_EXTRACTORS: dict[type, _Extractor] = {}
_SOFTMAX_FUNCS = {torch.softmax, torch.Tensor.softmax, F.softmax, torch.nn.functional.softmax}


def register_attention_extractor(module_type: type[nn.Module], fn: ExtractorFn, record_softmax: bool = False) -> None:
    """Read a (B, h, w) map from modules of `module_type` (and subclasses) with ``fn(module, inputs, output, softmaxes)``."""
    _EXTRACTORS[module_type] = _Extractor(fn, record_softmax)


def _extractor_for(module: nn.Module) -> _Extractor | None:
    return next((_EXTRACTORS[t] for t in type(module).__mro__ if t in _EXTRACTORS), None)


class _SoftmaxRecorder(TorchFunctionMode):
    """Keeps every softmax output computed while active (the explicit-attention path's probabilities)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[Tensor] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func in _SOFTMAX_FUNCS:
            self.records.append(out.detach())
        return out


def _gate_map(module: nn.Module, inputs: tuple[Any, ...], output: Any, softmaxes: list[Tensor]) -> Tensor | None:
    gate = module.spatial_gate(inputs[0])
    return None if gate is None else gate[:, 0]


def _split_tokens(probs: Tensor, grid: Sequence[int]) -> tuple[Tensor, int]:
    """Head-averaged (B, N, N) probabilities and the number of prefix (class) tokens before the grid."""
    probs = probs.mean(dim=1)
    prefix = probs.shape[-1] - int(np.prod(grid))
    if prefix < 0:
        raise ValueError(f"attention over {probs.shape[-1]} tokens cannot cover a {tuple(grid)} grid")
    return probs, prefix


def _token_attention_map(module: nn.Module, inputs: tuple[Any, ...], output: Any, softmaxes: list[Tensor]) -> Tensor | None:
    if not softmaxes or len(inputs) < 2 or inputs[1] is None or len(inputs[1]) != 2:
        return None  # not a 2D token grid (e.g. a 3D volume): no image map
    probs, prefix = _split_tokens(softmaxes[-1], inputs[1])
    scores = probs[:, 0, prefix:] if prefix else probs.mean(dim=1)
    return scores.reshape(scores.shape[0], *inputs[1])


def _window_attention_map(module: nn.Module, inputs: tuple[Any, ...], output: Any, softmaxes: list[Tensor]) -> Tensor | None:
    """Attention each token receives within its (shifted) window, averaged over heads and queries, on the grid."""
    shape = tuple(inputs[1])
    if not softmaxes or len(shape) != 2:
        return None
    window, shift = effective_window(shape, module.window_size, module.shift_size)
    pads = pads_to_multiple(shape, window)
    grid = tuple(s + p for s, p in zip(shape, pads))
    received = softmaxes[-1].mean(dim=(1, 2))[..., None]  # (B * windows, tokens per window, 1)
    m = window_reverse(received, window, grid)  # undo the partition, then the shift and padding as forward() does
    if module.shift_first:
        m = _roll(_crop(m, shape, pads), shift, (1, 2), 1)
    else:
        m = _crop(_roll(m, shift, (1, 2), 1), shape, pads)
    return m[..., 0]


register_attention_extractor(CBAM, _gate_map)
register_attention_extractor(TripletAttention, _gate_map)
register_attention_extractor(SelfAttention, _token_attention_map, record_softmax=True)
register_attention_extractor(WindowAttention, _window_attention_map, record_softmax=True)


def _stage_of(name: str) -> str:
    """Module name up to its last numeric part: ``layer3.5.attn`` -> ``layer3``, ``blocks.11.attn`` -> ``blocks``."""
    parts = name.split(".")
    numeric = [i for i, p in enumerate(parts) if p.isdigit()]
    return ".".join(parts[: numeric[-1]]) if numeric else name


def _run_with_hooks(
    model: nn.Module, image: Tensor, on_module: Callable[[str, nn.Module, tuple, Any, list[Tensor]], None]
) -> None:
    """One eval-mode, no-grad forward (explicit attention) with `on_module` called after each extractable module."""
    handles, recorders = [], {}

    def pre_hook(name: str) -> Callable:
        def hook(module: nn.Module, inputs: tuple) -> None:
            recorders[name] = _SoftmaxRecorder()
            recorders[name].__enter__()
        return hook

    def post_hook(name: str) -> Callable:
        def hook(module: nn.Module, inputs: tuple, output: Any) -> None:
            recorder = recorders.pop(name, None)
            if recorder is not None:
                recorder.__exit__(None, None, None)
            on_module(name, module, inputs, output, recorder.records if recorder else [])
        return hook

    for name, module in model.named_modules():
        extractor = _extractor_for(module)
        if extractor is None:
            continue
        if extractor.record_softmax:
            handles.append(module.register_forward_pre_hook(pre_hook(name)))
        handles.append(module.register_forward_hook(post_hook(name)))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), explicit_attention():
            forward = getattr(model, "forward_features", model)
            forward(image)
    finally:
        for handle in handles:
            handle.remove()
        for recorder in reversed(list(recorders.values())):  # a forward that raised mid-module: leave no mode active
            recorder.__exit__(None, None, None)
        model.train(was_training)


def attention_maps(model: nn.Module, image: Tensor, per_stage: bool = True) -> dict[str, Tensor]:
    """``{module name: (B, h, w) map in [0, 1]}`` for every attention module with an extractor, in forward order.

    `per_stage` keeps only the last map of each stage (``layer1`` ... ``layer4`` of a ResNet, ``blocks``
    of a ViT), the deepest attention at each resolution. A model without such modules gives ``{}``.
    """
    maps: dict[str, Tensor] = {}

    def collect(name: str, module: nn.Module, inputs: tuple, output: Any, softmaxes: list[Tensor]) -> None:
        value = _extractor_for(module).fn(module, inputs, output, softmaxes)
        if value is not None:  # a module run once per micro-batch (Swin's first stages) adds rows to its map
            value = value.float().clamp(0, 1)
            maps[name] = torch.cat([maps[name], value]) if name in maps else value

    _run_with_hooks(model, image, collect)
    if not per_stage:
        return maps
    last: dict[str, str] = {}
    for name in maps:
        last[_stage_of(name)] = name
    return {name: maps[name] for name in last.values()}


def attention_rollout(model: nn.Module, image: Tensor, residual_weight: float = 0.5) -> Tensor:
    """Attention rollout of a ViT: the class token's attention through all blocks, (B, h, w) scaled to max 1.

    Each block's head-averaged probabilities are mixed with the identity (the residual path,
    `residual_weight`), renormalised, and multiplied in order (Abnar & Zuidema, ACL 2020).
    """
    probs: list[tuple[Tensor, Sequence[int]]] = []

    def collect(name: str, module: nn.Module, inputs: tuple, output: Any, softmaxes: list[Tensor]) -> None:
        if isinstance(module, SelfAttention) and softmaxes:
            probs.append((softmaxes[-1], inputs[1]))

    _run_with_hooks(model, image, collect)
    if not probs:
        raise ValueError(f"{type(model).__name__} has no SelfAttention blocks; attention rollout needs a ViT-style model")
    grid = probs[0][1]
    rollout = None
    for p, _ in probs:
        a, prefix = _split_tokens(p, grid)
        a = residual_weight * torch.eye(a.shape[-1], dtype=a.dtype, device=a.device) + (1 - residual_weight) * a
        a = a / a.sum(dim=-1, keepdim=True)
        rollout = a if rollout is None else a @ rollout
    if not prefix:
        raise ValueError("attention rollout reads the class token's row; this model has no class token")
    scores = rollout[:, 0, prefix:]
    scores = scores / scores.amax(dim=-1, keepdim=True)
    return scores.reshape(scores.shape[0], *grid)


def detr_cross_attention(model: nn.Module, image: Tensor, layer: int = -1) -> tuple[Tensor, dict[str, Any]]:
    """Each object query's cross-attention over the feature grid in decoder layer `layer`: (B, Q, h, w), head-averaged.

    Returns the maps and the model's outputs of the same forward pass (to pick confident queries). Works for
    any DETR-style model with ``input_proj`` (giving the grid) and ``transformer.decoder.layers[i].cross_attn``.
    """
    try:
        target = model.transformer.decoder.layers[layer].cross_attn
        input_proj = model.input_proj
    except (AttributeError, IndexError) as e:
        raise ValueError(f"{type(model).__name__} is not a DETR-style model (no decoder layer {layer} cross_attn): {e}") from e
    grid: list[tuple[int, int]] = []
    recorder = _SoftmaxRecorder()
    handles = [
        input_proj.register_forward_hook(lambda m, i, o: grid.append(tuple(o.shape[-2:]))),
        target.register_forward_pre_hook(lambda m, i: (recorder.__enter__(), None)[1]),  # a pre-hook's result replaces the inputs
        target.register_forward_hook(lambda m, i, o: recorder.__exit__(None, None, None)),
    ]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), explicit_attention():
            outputs = model(image)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    probs = recorder.records[-1].mean(dim=1)  # (B, Q, h * w)
    return probs.reshape(*probs.shape[:2], *grid[-1]), outputs


def preprocess_image(rgb: np.ndarray, pretrained_cfg: Mapping[str, Any], size: int | None = None) -> Tensor:
    """An (H, W, 3) uint8 RGB image -> a (1, 3, S, S) normalised batch at the model's input size (or `size`)."""
    import cv2

    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got shape {rgb.shape} and dtype {rgb.dtype}")
    side = size or int(pretrained_cfg.get("input_size", (3, 224, 224))[-1])
    resized = cv2.resize(rgb, (side, side), interpolation=cv2.INTER_AREA)
    x = torch.from_numpy(resized).permute(2, 0, 1).float().div(255)
    mean = torch.tensor(pretrained_cfg.get("mean") or (0.5, 0.5, 0.5)).view(3, 1, 1)
    std = torch.tensor(pretrained_cfg.get("std") or (0.5, 0.5, 0.5)).view(3, 1, 1)
    return ((x - mean) / std).unsqueeze(0)


def _label(panel: np.ndarray, text: str) -> None:
    import cv2

    cv2.rectangle(panel, (0, 0), (panel.shape[1], 18), (0, 0, 0), thickness=-1)
    cv2.putText(panel, text[:40], (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)


def overlay_maps(rgb: np.ndarray, maps: Mapping[str, Tensor], alpha: float = 0.5, columns: int = 4) -> np.ndarray:
    """A grid of panels: the image, then each (h, w) map upsampled, min-max scaled, JET-coloured and blended in.

    Returns an RGB uint8 image; each panel is labelled with its map's name.
    """
    import cv2

    h, w = rgb.shape[:2]
    panels = [rgb.copy()]
    _label(panels[0], "input")
    for name, m in maps.items():
        m = m.detach().float().cpu().numpy()
        if m.ndim != 2:
            raise ValueError(f"map {name!r} must be (h, w) for one image, got shape {m.shape}; index the batch first")
        m = cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR)
        span = float(m.max() - m.min())
        scaled = np.uint8(255 * (m - m.min()) / span) if span > 0 else np.zeros((h, w), np.uint8)
        colour = cv2.cvtColor(cv2.applyColorMap(scaled, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
        panel = cv2.addWeighted(rgb, 1 - alpha, colour, alpha, 0)
        _label(panel, name)
        panels.append(panel)
    columns = max(1, min(columns, len(panels)))
    rows = -(-len(panels) // columns)
    grid = np.zeros((rows * h, columns * w, 3), np.uint8)
    for i, panel in enumerate(panels):
        r, c = divmod(i, columns)
        grid[r * h:(r + 1) * h, c * w:(c + 1) * w] = panel
    return grid
