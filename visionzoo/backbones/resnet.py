"""ResNet (He et al., CVPR 2016) with pluggable block attention: CBAM, triplet attention, squeeze-and-excitation.

Parameter names are torchvision's (``conv1``, ``bn1``, ``layer{1-4}.{i}.{conv,bn}{1,2,3}``,
``downsample.{0,1}``, ``fc``), so torchvision and timm ResNet state dicts load unchanged; the
stride sits on the 3x3 conv of the bottleneck (ResNet v1.5, as in torchvision and timm).
``block_attn=dict(type="cbam", reduction=16)`` (any type of `visionzoo.layers.conv_attention`) adds
an attention module ``attn`` to every residual block after its last BatchNorm and before the
addition of the shortcut — where the CBAM, triplet attention and SE papers place theirs. Any input
size works: the head pools globally.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from ..layers import check_image_input
from ..layers.conv_attention import build_conv_attention
from ..registry import register_model
from ..weights.entry import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from .features import FeatureInfo, feature_take_indices

__all__ = ["BasicBlock", "Bottleneck", "ResNet"]

_POOL_TYPES = ("avg", "max", "")
AttnCfg = str | Mapping[str, Any] | None


def _conv3x3(in_chs: int, out_chs: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_chs, out_chs, kernel_size=3, stride=stride, padding=1, bias=False)


def _conv1x1(in_chs: int, out_chs: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_chs, out_chs, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convs (ResNet-18/34); ``attn`` (optional) gates the residual branch before the addition."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 attn: AttnCfg = None) -> None:
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.attn = build_conv_attention(attn, planes)
        self.downsample = downsample
        self.stride = stride

    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn2

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.attn is not None:
            out = self.attn(out)
        out += shortcut
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand (ResNet-50/101); ``attn`` gates the branch before the addition."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 attn: AttnCfg = None) -> None:
        super().__init__()
        out_chs = planes * self.expansion
        self.conv1 = _conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv1x1(planes, out_chs)
        self.bn3 = nn.BatchNorm2d(out_chs)
        self.relu = nn.ReLU(inplace=True)
        self.attn = build_conv_attention(attn, out_chs)
        self.downsample = downsample
        self.stride = stride

    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn3

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.attn is not None:
            out = self.attn(out)
        out += shortcut
        return self.relu(out)


_BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


class ResNet(nn.Module):
    """ResNet with timm's model interface: forward_features -> NCHW (B, 512*expansion, H/32, W/32), forward_head -> logits."""

    def __init__(
        self,
        block: str | type[BasicBlock] | type[Bottleneck] = "bottleneck",
        layers: Sequence[int] = (3, 4, 6, 3),
        num_classes: int = 1000,
        in_chans: int = 3,
        global_pool: str = "avg",
        drop_rate: float = 0.0,
        block_attn: AttnCfg = None,
        zero_init_last: bool = False,
    ) -> None:
        """
        Args:
            block: "basic" (ResNet-18/34) or "bottleneck" (ResNet-50/101), or the block class.
            layers: blocks per stage (four stages at strides 4, 8, 16, 32).
            global_pool: "avg", "max" or "" (forward_head returns the unpooled map).
            block_attn: attention in every block, e.g. ``dict(type="cbam", reduction=16)``, "triplet", "se".
            zero_init_last: start each block's last BN weight at zero (identity residual blocks).
        """
        super().__init__()
        block = _BLOCKS.get(block, block) if isinstance(block, str) else block
        if block not in _BLOCKS.values():
            raise ValueError(f"block must be one of {', '.join(_BLOCKS)}, got {block!r}")
        if len(layers) != 4 or any(n < 1 for n in layers):
            raise ValueError(f"layers must give four positive block counts, got {tuple(layers)}")
        if global_pool not in _POOL_TYPES:
            raise ValueError(f"global_pool must be one of {_POOL_TYPES}, got {global_pool!r}")
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.global_pool = global_pool
        self.block_attn = block_attn
        self.grad_checkpointing = False

        self.conv1 = nn.Conv2d(in_chans, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        inplanes, info = 64, []
        for i, (planes, depth) in enumerate(zip((64, 128, 256, 512), layers)):
            stride = 1 if i == 0 else 2
            downsample = None
            if stride != 1 or inplanes != planes * block.expansion:
                downsample = nn.Sequential(
                    _conv1x1(inplanes, planes * block.expansion, stride), nn.BatchNorm2d(planes * block.expansion)
                )
            blocks = [block(inplanes, planes, stride, downsample, attn=block_attn)]
            inplanes = planes * block.expansion
            blocks += [block(inplanes, planes, attn=block_attn) for _ in range(1, depth)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            info.append(dict(num_chs=inplanes, reduction=4 * 2**i, module=f"layer{i + 1}"))
        self.feature_info = FeatureInfo(info)
        self.num_features = self.head_hidden_size = inplanes
        self.head_drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(inplanes, num_classes) if num_classes > 0 else nn.Identity()
        self._init_weights(zero_init_last)

    def _init_weights(self, zero_init_last: bool) -> None:
        """torchvision's initialisation; attention modules then apply their own (`init_weights`) where they have one."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.modules():
            if isinstance(m, (BasicBlock, Bottleneck)):
                if zero_init_last:
                    nn.init.zeros_(m.last_bn().weight)
                if m.attn is not None and hasattr(m.attn, "init_weights"):
                    m.attn.init_weights()

    @property
    def stages(self) -> list[nn.Module]:
        """The four residual stages, ``layer1`` ... ``layer4``."""
        return [self.layer1, self.layer2, self.layer3, self.layer4]

    # --- timm model interface -------------------------------------------------------------------
    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        """No parameter is exempt by name (timm's optimizer factory already exempts 1-D norms and biases)."""
        return set()

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        return dict(stem=r"^(conv1|bn1|maxpool)", blocks=r"^layer(\d+)" if coarse else r"^layer(\d+)\.(\d+)")

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.grad_checkpointing = enable

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Replace the classifier with a fresh one for `num_classes` (0 removes it)."""
        if global_pool is not None:
            if global_pool not in _POOL_TYPES:
                raise ValueError(f"global_pool must be one of {_POOL_TYPES}, got {global_pool!r}")
            self.global_pool = global_pool
        self.num_classes = num_classes
        device = self.conv1.weight.device
        self.fc = nn.Linear(self.num_features, num_classes, device=device) if num_classes > 0 else nn.Identity()

    # --- forward ------------------------------------------------------------------------------
    def _stem(self, x: Tensor) -> Tensor:
        check_image_input(x, self.in_chans)
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))

    def _run_stage(self, stage: nn.Module, x: Tensor) -> Tensor:
        if self.grad_checkpointing and self.training and not torch.jit.is_scripting():
            for block in stage:
                x = checkpoint(block, x, use_reentrant=False)
            return x
        return stage(x)

    def forward_features(self, x: Tensor) -> Tensor:
        """Last-stage feature map (B, num_features, H/32, W/32)."""
        x = self._stem(x)
        for stage in self.stages:
            x = self._run_stage(stage, x)
        return x

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        if self.global_pool == "avg":
            x = x.mean(dim=(2, 3))
        elif self.global_pool == "max":
            x = x.amax(dim=(2, 3))
        x = self.head_drop(x)
        return x if pre_logits else self.fc(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def forward_intermediates(
        self,
        x: Tensor,
        indices: int | Sequence[int] | None = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ) -> list[Tensor] | tuple[Tensor, list[Tensor]]:
        """Stage outputs at `indices` (last n if int, all if None): the NCHW pyramid at strides 4, 8, 16, 32.

        `norm` is accepted for timm compatibility; a ResNet has no final norm, so it changes nothing.
        """
        if output_fmt != "NCHW":
            raise ValueError(f"output_fmt must be 'NCHW', got {output_fmt!r}")
        take, max_index = feature_take_indices(len(self.stages), indices)
        stages = self.stages[: max_index + 1] if stop_early or intermediates_only else self.stages
        x = self._stem(x)
        intermediates = []
        for i, stage in enumerate(stages):
            x = self._run_stage(stage, x)
            if i in take:
                intermediates.append(x)
        if intermediates_only:
            return intermediates
        return x, intermediates

    def prune_intermediate_layers(
        self, indices: int | Sequence[int] = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> list[int]:
        """Replace the stages after the last requested one (and the head) by identities."""
        take, max_index = feature_take_indices(len(self.stages), indices)
        for i in range(max_index + 1, len(self.stages)):
            setattr(self, f"layer{i + 1}", nn.Identity())
        if prune_head:
            self.reset_classifier(0, "")
        return take


_RESNET_CFG = dict(
    first_conv="conv1",
    classifier="fc",
    input_size=(3, 224, 224),
    mean=IMAGENET_DEFAULT_MEAN,
    std=IMAGENET_DEFAULT_STD,
    crop_pct=0.875,
    interpolation="bilinear",
    fixed_input_size=False,
    img_size_free=True,
    paper="https://arxiv.org/abs/1512.03385",
)
_CBAM_CFG = {**_RESNET_CFG, "paper": "https://arxiv.org/abs/1807.06521"}
_TRIPLET_CFG = {**_RESNET_CFG, "paper": "https://arxiv.org/abs/2010.03045"}
_SE_CFG = {**_RESNET_CFG, "paper": "https://arxiv.org/abs/1709.01507"}

_DEPTHS = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)), 50: ("bottleneck", (3, 4, 6, 3)),
           101: ("bottleneck", (3, 4, 23, 3))}


def _resnet(depth: int, default_attn: AttnCfg = None, **kwargs: Any) -> ResNet:
    """ResNet-`depth` with `default_attn` in every block unless the caller passes its own ``block_attn``."""
    block, layers = _DEPTHS[depth]
    kwargs.setdefault("block_attn", default_attn)
    kwargs.setdefault("layers", layers)
    return ResNet(block=block, **kwargs)


@register_model(**_RESNET_CFG)
def resnet18(**kwargs: Any) -> ResNet:
    """ResNet-18: basic blocks 2-2-2-2 (11.7 M params)."""
    return _resnet(18, **kwargs)


@register_model(**_RESNET_CFG)
def resnet34(**kwargs: Any) -> ResNet:
    """ResNet-34: basic blocks 3-4-6-3 (21.8 M params)."""
    return _resnet(34, **kwargs)


@register_model(**_RESNET_CFG)
def resnet50(**kwargs: Any) -> ResNet:
    """ResNet-50: bottlenecks 3-4-6-3 (25.6 M params)."""
    return _resnet(50, **kwargs)


@register_model(**_RESNET_CFG)
def resnet101(**kwargs: Any) -> ResNet:
    """ResNet-101: bottlenecks 3-4-23-3 (44.5 M params)."""
    return _resnet(101, **kwargs)


@register_model(**_CBAM_CFG)
def resnet18_cbam(**kwargs: Any) -> ResNet:
    """ResNet-18 + CBAM (reduction 16, 7x7 spatial gate) in every block."""
    return _resnet(18, dict(type="cbam", reduction=16), **kwargs)


@register_model(**_CBAM_CFG)
def resnet34_cbam(**kwargs: Any) -> ResNet:
    """ResNet-34 + CBAM in every block."""
    return _resnet(34, dict(type="cbam", reduction=16), **kwargs)


@register_model(**_CBAM_CFG)
def resnet50_cbam(**kwargs: Any) -> ResNet:
    """ResNet-50 + CBAM in every block (the official release's architecture)."""
    return _resnet(50, dict(type="cbam", reduction=16), **kwargs)


@register_model(**_CBAM_CFG)
def resnet101_cbam(**kwargs: Any) -> ResNet:
    """ResNet-101 + CBAM in every block."""
    return _resnet(101, dict(type="cbam", reduction=16), **kwargs)


@register_model(**_TRIPLET_CFG)
def resnet18_triplet(**kwargs: Any) -> ResNet:
    """ResNet-18 + triplet attention (kernel 7) in every block."""
    return _resnet(18, dict(type="triplet", kernel_size=7), **kwargs)


@register_model(**_TRIPLET_CFG)
def resnet50_triplet(**kwargs: Any) -> ResNet:
    """ResNet-50 + triplet attention (kernel 7) in every block."""
    return _resnet(50, dict(type="triplet", kernel_size=7), **kwargs)


@register_model(**_SE_CFG)
def resnet50_se(**kwargs: Any) -> ResNet:
    """ResNet-50 + squeeze-and-excitation (reduction 16) in every block; timm's ``seresnet50`` layout."""
    return _resnet(50, dict(type="se", reduction=16), **kwargs)
