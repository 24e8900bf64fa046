"""Attention modules for CNN feature maps (B, C, H, W): CBAM, triplet attention and squeeze-and-excitation.

Each module maps ``x[B, C, H, W] -> x * gate`` with a gate in (0, 1) and keeps the input's shape, so it
plugs into any residual block after its last normalisation (where the papers place them). Global
pooling is a mean/amax over the reduced axes, never a fixed-size pooling layer, so every module runs
at any spatial size (and exports to ONNX with dynamic sizes).

* `SqueezeExcite` (Hu et al., CVPR 2018): channel gate from a bottleneck MLP (1x1 convs ``fc1``/``fc2``,
  timm's ``SEModule`` names) over the spatial mean.
* `CBAM` (Woo et al., ECCV 2018): channel gate (one shared MLP over the spatial mean and max, outputs
  summed, sigmoid), then a spatial gate (channel max and mean -> 7x7 conv without bias -> BatchNorm
  (eps 1e-5, momentum 0.01) -> sigmoid), as in Jongchan/attention-module ``MODELS/cbam.py``.
* `TripletAttention` (Misra et al., WACV 2021): three such Z-pool gates, one per pair of axes — (C, W)
  pooling over H, (H, C) pooling over W, (H, W) pooling over C — averaged; ``no_spatial`` drops the
  (H, W) branch (landskape-ai/triplet-attention).

Modules are built from configs by name, ``build_conv_attention(dict(type="cbam", reduction=16), channels)``;
`register_conv_attention` adds new types. Modules with a spatial gate expose it as ``spatial_gate(x)``
(B, 1, H, W), which `visionzoo.visualize` reads.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn
from torch import Tensor

__all__ = [
    "CONV_ATTENTION_TYPES",
    "CBAM",
    "ChannelGate",
    "SqueezeExcite",
    "TripletAttention",
    "ZPoolGate",
    "build_conv_attention",
    "register_conv_attention",
    "z_pool",
]

BN_EPS, BN_MOMENTUM = 1e-5, 0.01  # the gates' BatchNorm settings in both official repositories


def _hidden_channels(channels: int, reduction: int, hidden: int | None = None) -> int:
    """Bottleneck width ``channels // reduction`` (as the official code computes it), checked to be >= 1."""
    hidden = channels // reduction if hidden is None else hidden
    if hidden < 1:
        raise ValueError(
            f"a channel gate over {channels} channels with reduction {reduction} has no hidden units; "
            f"use a reduction of at most {channels}"
        )
    return hidden


def z_pool(x: Tensor, dim: int) -> Tensor:
    """Max and mean of `x` over `dim`, stacked as 2 channels: (B, *rest) -> (B, 2, *rest) (max first, as officially)."""
    return torch.stack([x.amax(dim=dim), x.mean(dim=dim)], dim=1)


class ZPoolGate(nn.Module):
    """A 2-channel Z-pooled map -> conv (k x k, no bias) -> BatchNorm -> sigmoid: a (B, 1, P, Q) gate."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd number (the gate keeps the map's size), got {kernel_size}")
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(1, eps=BN_EPS, momentum=BN_MOMENTUM)

    def forward(self, pooled: Tensor) -> Tensor:
        return torch.sigmoid(self.bn(self.conv(pooled)))


class ChannelGate(nn.Module):
    """CBAM's channel gate: ``sigmoid(sum over pools of fc2(relu(fc1(pool(x)))))``, a (B, C, 1, 1) gate."""

    POOLS = ("avg", "max")

    def __init__(self, channels: int, reduction: int = 16, pool_types: Sequence[str] = ("avg", "max")) -> None:
        super().__init__()
        unknown = [p for p in pool_types if p not in self.POOLS]
        if unknown or not pool_types:
            raise ValueError(f"pool_types must be a non-empty subset of {self.POOLS}, got {tuple(pool_types)}")
        hidden = _hidden_channels(channels, reduction)
        self.pool_types = tuple(pool_types)
        self.fc1 = nn.Linear(channels, hidden)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: Tensor) -> Tensor:
        pooled = torch.stack([x.mean(dim=(2, 3)) if p == "avg" else x.amax(dim=(2, 3)) for p in self.pool_types])
        logits = self.fc2(self.act(self.fc1(pooled))).sum(dim=0)  # one MLP for every pool, outputs summed
        return torch.sigmoid(logits)[:, :, None, None]


class CBAM(nn.Module):
    """Convolutional Block Attention Module: channel gate, then spatial gate (unless `no_spatial`)."""

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        kernel_size: int = 7,
        pool_types: Sequence[str] = ("avg", "max"),
        no_spatial: bool = False,
    ) -> None:
        super().__init__()
        self.channel_gate = ChannelGate(channels, reduction, pool_types)
        self.spatial = ZPoolGate(kernel_size) if not no_spatial else None

    def init_weights(self) -> None:
        """Start the spatial gate at a uniform 0.5 (BN weight 0), as the official ResNet initialisation does."""
        if self.spatial is not None:
            nn.init.zeros_(self.spatial.bn.weight)

    def spatial_gate(self, x: Tensor) -> Tensor | None:
        """The (B, 1, H, W) spatial gate this module applies to input `x` (None with ``no_spatial``)."""
        if self.spatial is None:
            return None
        return self.spatial(z_pool(x * self.channel_gate(x), 1))

    def forward(self, x: Tensor) -> Tensor:
        x = x * self.channel_gate(x)
        if self.spatial is not None:
            x = x * self.spatial(z_pool(x, 1))
        return x


class TripletAttention(nn.Module):
    """Triplet attention: Z-pool gates over the (C, W), (H, C) and (H, W) planes, averaged.

    Branch names follow the paper's planes (``cw``, ``hc``, ``hw``); `channels` is accepted for the
    common builder interface and unused (the module has no channel-sized parameters).
    """

    def __init__(self, channels: int | None = None, kernel_size: int = 7, no_spatial: bool = False) -> None:
        super().__init__()
        self.cw = ZPoolGate(kernel_size)
        self.hc = ZPoolGate(kernel_size)
        self.hw = ZPoolGate(kernel_size) if not no_spatial else None

    def init_weights(self) -> None:
        """Start the (H, W) branch at a uniform 0.5 (BN weight 0): the official initialisation zeroes the BN
        weight of the branch it calls ``SpatialGate`` only."""
        if self.hw is not None:
            nn.init.zeros_(self.hw.bn.weight)

    def gate(self, x: Tensor) -> Tensor:
        """The combined gate, broadcastable to x: mean of (B, C, 1, W), (B, C, H, 1) and (B, 1, H, W) gates."""
        cw = self.cw(z_pool(x, 2)).transpose(1, 2)  # pool over H; the conv sees rows C, columns W
        hc = self.hc(z_pool(x, 3).transpose(2, 3)).permute(0, 3, 2, 1)  # pool over W; rows H, columns C
        if self.hw is None:
            return (cw + hc) / 2
        return (cw + hc + self.hw(z_pool(x, 1))) / 3

    def spatial_gate(self, x: Tensor) -> Tensor | None:
        """The (B, 1, H, W) gate of the (H, W) branch for input `x` (None with ``no_spatial``)."""
        return None if self.hw is None else self.hw(z_pool(x, 1))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gate(x)


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation: ``x * sigmoid(fc2(relu(fc1(mean_hw(x)))))`` with 1x1 convs (timm's names)."""

    def __init__(self, channels: int, reduction: int = 16, hidden: int | None = None) -> None:
        super().__init__()
        hidden = _hidden_channels(channels, reduction, hidden)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.act = nn.ReLU()
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(self.fc2(self.act(self.fc1(x.mean(dim=(2, 3), keepdim=True)))))


CONV_ATTENTION_TYPES: dict[str, Callable[..., nn.Module]] = {}


def register_conv_attention(name: str, builder: Callable[..., nn.Module]) -> None:
    """Make `builder(channels=..., **options)` available to `build_conv_attention` as ``type=name``."""
    if name in CONV_ATTENTION_TYPES:
        raise RuntimeError(f"conv attention type {name!r} is registered twice")
    CONV_ATTENTION_TYPES[name] = builder


def build_conv_attention(cfg: str | Mapping[str, Any] | None, channels: int) -> nn.Module | None:
    """Build the attention module of `cfg` (a type name or ``dict(type=..., **options)``) for `channels`; None -> None."""
    if cfg is None:
        return None
    cfg = {"type": cfg} if isinstance(cfg, str) else dict(cfg)
    name = cfg.pop("type", None)
    if name not in CONV_ATTENTION_TYPES:
        raise ValueError(
            f"Unknown block attention type {name!r}; known types: {', '.join(sorted(CONV_ATTENTION_TYPES))} "
            "(e.g. block_attn=dict(type='cbam', reduction=16))"
        )
    try:
        return CONV_ATTENTION_TYPES[name](channels=channels, **cfg)
    except TypeError as e:
        raise ValueError(f"bad options for block attention {name!r}: {e}") from e


register_conv_attention("cbam", CBAM)
register_conv_attention("triplet", TripletAttention)
register_conv_attention("se", SqueezeExcite)
