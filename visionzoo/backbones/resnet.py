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

import re
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn
from torch import Tensor

from ..layers import check_image_input
from ..layers.conv_attention import CBAM, SqueezeExcite, TripletAttention, build_conv_attention
from ..registry import image_classifier_cfg, register_model, register_weights
from ..weights import WeightEntry, timm_hub_entry
from ..weights.converters import StateDict, register_converter, register_detector
from .base import CheckpointedSequential, TimmBackbone
from .features import FeatureInfo

__all__ = ["BasicBlock", "Bottleneck", "ResNet"]

_POOL_TYPES = ("avg", "max", "")
AttnCfg = str | Mapping[str, Any] | None


def _conv3x3(in_chs: int, out_chs: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_chs, out_chs, kernel_size=3, stride=stride, padding=1, bias=False)


def _conv1x1(in_chs: int, out_chs: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_chs, out_chs, kernel_size=1, stride=stride, bias=False)


class _ResidualBlock(nn.Module):
    """A residual block: ``relu(attn(branch(x)) + shortcut(x))``, the shortcut `downsample` (1x1 conv-BN) or identity.

    Subclasses build their branch (``conv{i}``/``bn{i}``, ``relu``), then `_init_shortcut`, and define `_branch`
    (the convs and BNs up to the last BN) and `last_bn`.
    """

    expansion: int
    relu: nn.Module

    def _init_shortcut(self, out_chs: int, downsample: nn.Module | None, stride: int, attn: AttnCfg) -> None:
        """The attention on the `out_chs`-wide branch (None without `attn`), the shortcut and the block's stride."""
        self.attn = build_conv_attention(attn, out_chs)
        self.downsample = downsample
        self.stride = stride

    def last_bn(self) -> nn.BatchNorm2d:
        """The branch's last BatchNorm (zeroed by ``zero_init_last``)."""
        raise NotImplementedError

    def _branch(self, x: Tensor) -> Tensor:
        """The residual branch up to its last BatchNorm."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self._branch(x)
        if self.attn is not None:
            out = self.attn(out)
        out += shortcut
        return self.relu(out)


class BasicBlock(_ResidualBlock):
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
        self._init_shortcut(planes, downsample, stride, attn)

    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn2

    def _branch(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.bn2(self.conv2(out))


class Bottleneck(_ResidualBlock):
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
        self._init_shortcut(out_chs, downsample, stride, attn)

    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn3

    def _branch(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))


_BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


class ResNet(TimmBackbone):
    """ResNet with timm's model interface: forward_features -> NCHW (B, 512*expansion, H/32, W/32), forward_head -> logits."""

    classifier_attr = "fc"
    pool_types = _POOL_TYPES

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
        self._init_interface(in_chans, num_classes, global_pool, 512 * block.expansion)
        self.block_attn = block_attn

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
            self.add_module(f"layer{i + 1}", CheckpointedSequential(*blocks))
            info.append(dict(num_chs=inplanes, reduction=4 * 2**i, module=f"layer{i + 1}"))
        self.feature_info = FeatureInfo(info)
        self._init_classifier(drop_rate)
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
            if isinstance(m, _ResidualBlock):
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
    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        return dict(stem=r"^(conv1|bn1|maxpool)", blocks=r"^layer(\d+)" if coarse else r"^layer(\d+)\.(\d+)")

    def _truncate(self, num_stages: int) -> None:
        """Replace the stages after the first `num_stages` by identities (timm's ResNet does the same)."""
        for i in range(num_stages, len(self.stages)):
            setattr(self, f"layer{i + 1}", nn.Identity())

    # --- forward ------------------------------------------------------------------------------
    def _stem(self, x: Tensor) -> Tensor:
        """conv 7x7/2, BN, ReLU, max-pool/2: (B, 64, H/4, W/4)."""
        check_image_input(x, self.in_chans)
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))

    def _apply_norm(self, state: Tensor) -> Tensor:
        """No final norm in a ResNet: `norm=True` changes nothing."""
        return state


_RESNET_CFG = image_classifier_cfg(
    "https://arxiv.org/abs/1512.03385", first_conv="conv1", classifier="fc", crop_pct=0.875, interpolation="bilinear",
    img_size_free=True, tiny=dict(layers=(1, 1, 1, 1)),
)
_CBAM_CFG = {**_RESNET_CFG, "paper": "https://arxiv.org/abs/1807.06521"}
_TRIPLET_CFG = {**_RESNET_CFG, "paper": "https://arxiv.org/abs/2010.03045"}
_SE_CFG = {**_RESNET_CFG, "paper": "https://arxiv.org/abs/1709.01507"}

_CBAM = dict(type="cbam", reduction=16)  # the CBAM paper's block attention: reduction 16, 7x7 spatial gate
_DEPTHS = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)), 50: ("bottleneck", (3, 4, 6, 3)),
           101: ("bottleneck", (3, 4, 23, 3))}


def _resnet(depth: int, default_attn: AttnCfg = None, **kwargs: Any) -> ResNet:
    """ResNet-`depth` with `default_attn` in every block unless the caller passes its own ``block_attn``."""
    block, layers = _DEPTHS[depth]
    kwargs.setdefault("block_attn", dict(default_attn) if isinstance(default_attn, dict) else default_attn)  # a copy per model
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
    return _resnet(18, _CBAM, **kwargs)


@register_model(**_CBAM_CFG)
def resnet34_cbam(**kwargs: Any) -> ResNet:
    """ResNet-34 + CBAM in every block."""
    return _resnet(34, _CBAM, **kwargs)


@register_model(**_CBAM_CFG)
def resnet50_cbam(**kwargs: Any) -> ResNet:
    """ResNet-50 + CBAM in every block (the official release's architecture)."""
    return _resnet(50, _CBAM, **kwargs)


@register_model(**_CBAM_CFG)
def resnet101_cbam(**kwargs: Any) -> ResNet:
    """ResNet-101 + CBAM in every block."""
    return _resnet(101, _CBAM, **kwargs)


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


# --- published weights ----------------------------------------------------------------------------
# ResNet weights: torchvision's ImageNet releases (republished by timm), official CBAM and triplet-attention releases.
#
# Sources (the publishers' own figures):
#
# * torchvision: ``torchvision/models/resnet.py`` weight metadata (``ResNet*_Weights.IMAGENET1K_V1/V2``:
#   acc@1/acc@5 on ImageNet-1k val; V1 evaluated at resize 256 / crop 224, V2 at resize 232 / crop 224,
#   bilinear). timm republishes the same tensors as ``timm/resnet*.tv_in1k`` / ``tv2_in1k`` safetensors on
#   the Hugging Face Hub (BSD-3-Clause); the original ``.pth`` URLs are kept in ``notes``.
# * CBAM: Jongchan/attention-module README: "ResNet50+CBAM (trained for 100 epochs) checkpoint ...
#   ACC@1=77.622 ACC@5=93.948", a Dropbox link; evaluation in ``train_imagenet.py`` is Scale(256) +
#   CenterCrop(224) with ImageNet mean/std. MIT licence.
# * Triplet attention: landskape-ai/triplet-attention README, "Pretrained Models / ImageNet": top-1/top-5
#   *error* per model (recorded here as 100 - error) with Google Drive links; ``train_imagenet.py``
#   evaluates at Resize(256) + CenterCrop(224). MIT licence. Only the kernel-7 files fit the registered
#   ``resnet*_triplet`` models; the kernel-3 files (R-18 70.33, R-50 76.12 top-1) load into a model built
#   with ``block_attn=dict(type="triplet", kernel_size=3)`` through ``checkpoint_path=``.
#
# The CBAM and triplet links are sharing pages (Dropbox ``?dl=0``, Google Drive viewer), recorded as the
# publishers give them; no sha256 is published for any of these files.
_TV_PAPER = "Deep Residual Learning for Image Recognition (He et al., CVPR 2016), https://arxiv.org/abs/1512.03385"
_CBAM_PAPER = "CBAM: Convolutional Block Attention Module (Woo et al., ECCV 2018), https://arxiv.org/abs/1807.06521"
_TRIPLET_PAPER = (
    "Rotate to Attend: Convolutional Triplet Attention Module (Misra et al., WACV 2021), https://arxiv.org/abs/2010.03045"
)
_TV = "https://download.pytorch.org/models/"
_MANUAL = (
    "The link is a sharing page, not the file: download the checkpoint by hand and pass it as "
    "checkpoint_path= (pretrained=True would fetch the HTML page)."
)


def _torchvision_weights(name_tag: str, top1: float, top5: float, original: str, crop_pct: float, recipe: str) -> None:
    register_weights(name_tag, timm_hub_entry(
        name_tag,
        license="bsd-3-clause",
        paper=_TV_PAPER,
        official_code="https://github.com/pytorch/vision",
        metrics={"imagenet_top1": top1, "imagenet_top5": top5},
        crop_pct=crop_pct,
        interpolation="bilinear",
        notes=f"torchvision {recipe}; original release: {_TV}{original}",
    ))


_V1 = "IMAGENET1K_V1 (the paper's recipe; eval resize 256, crop 224)"
_V2 = "IMAGENET1K_V2 (torchvision's new recipe, pytorch/vision#3995; eval resize 232, crop 224)"
_torchvision_weights("resnet18.tv_in1k", 69.758, 89.078, "resnet18-f37072fd.pth", 0.875, _V1)
_torchvision_weights("resnet34.tv_in1k", 73.314, 91.420, "resnet34-b627a593.pth", 0.875, _V1)
_torchvision_weights("resnet50.tv_in1k", 76.130, 92.862, "resnet50-0676ba61.pth", 0.875, _V1)
_torchvision_weights("resnet50.tv2_in1k", 80.858, 95.434, "resnet50-11ad3fa6.pth", 0.965, _V2)
_torchvision_weights("resnet101.tv_in1k", 77.374, 93.546, "resnet101-63fe2227.pth", 0.875, _V1)
_torchvision_weights("resnet101.tv2_in1k", 81.886, 95.780, "resnet101-cd907fc2.pth", 0.965, _V2)

register_weights(
    "resnet50_cbam",
    "official_in1k",
    WeightEntry(
        source="cbam",
        url="https://www.dropbox.com/s/bt6zty02h9ibufi/RESNET50_CBAM_new_name_wrap.pth?dl=0",
        sha256=None,
        license="mit",
        paper=_CBAM_PAPER,
        official_code="https://github.com/Jongchan/attention-module",
        metrics={"imagenet_top1": 77.622, "imagenet_top5": 93.948},
        crop_pct=0.875,
        interpolation="bilinear",
        notes=(
            "ResNet-50 + CBAM trained 100 epochs (README, 'Resume with checkpoints'); the same README gives "
            f"ResNet-50 + BAM 76.860 (not a CBAM model, not registered). {_MANUAL}"
        ),
    ),
)


def _triplet_weights(arch: str, top1_err: float, top5_err: float, url: str) -> None:
    register_weights(
        arch,
        "official_in1k",
        WeightEntry(
            source="triplet",
            url=url,
            sha256=None,
            license="mit",
            paper=_TRIPLET_PAPER,
            official_code="https://github.com/landskape-ai/triplet-attention",
            metrics={"imagenet_top1": round(100 - top1_err, 3), "imagenet_top5": round(100 - top5_err, 3)},
            crop_pct=0.875,
            interpolation="bilinear",
            notes=(
                f"Kernel 7; the README reports top-1/top-5 error {top1_err}% / {top5_err}%. Released key names "
                f"predate the module's renaming (see the converters in visionzoo/backbones/resnet.py). {_MANUAL}"
            ),
        ),
    )


_triplet_weights("resnet18_triplet", 28.91, 10.01, "https://drive.google.com/file/d/1jIDfA0Psce10L06hU0Rtz8t7s2U1oqLH/view?usp=sharing")
_triplet_weights("resnet50_triplet", 22.52, 6.326, "https://drive.google.com/open?id=1ptKswHzVmULGbE3DuX6vMCjEbqwUvGiG")


# --- checkpoint converters ------------------------------------------------------------------------
# ResNet checkpoints: torchvision / timm, and the official CBAM and triplet-attention releases.
#
# visionzoo's ResNet uses torchvision's names, so the trunk of every layout below maps one to one; only
# the block attention differs. Older releases (torchvision's V1 files, checkpoints saved before
# PyTorch 0.4.1) lack BatchNorm ``num_batches_tracked`` counters: each converter adds a zero counter
# for every BatchNorm whose running statistics the file holds (as torch's own loader does), nothing else.
#
# Key mapping, publisher -> visionzoo (``B`` = ``layer{1-4}.{i}``, one residual block):
#
# * torchvision / timm ResNet (``timm/resnet*.tv_in1k`` safetensors): unchanged.
# * timm SE-ResNet: ``B.se.{fc1,fc2}.*`` -> ``B.attn.{fc1,fc2}.*``.
# * CBAM, Jongchan/attention-module (``MODELS/model_resnet.py`` + ``MODELS/cbam.py``; the file wraps the
#   weights in ``state_dict`` with DataParallel's ``module.`` prefix, both stripped before conversion):
#
#   - ``B.cbam.ChannelGate.mlp.1.*`` (Linear C -> C/16) -> ``B.attn.channel_gate.fc1.*``
#   - ``B.cbam.ChannelGate.mlp.3.*`` (Linear C/16 -> C) -> ``B.attn.channel_gate.fc2.*``
#     (``mlp.0`` is a Flatten and ``mlp.2`` a ReLU: no weights)
#   - ``B.cbam.SpatialGate.spatial.conv.weight`` (2 -> 1, 7x7, no bias) -> ``B.attn.spatial.conv.weight``
#   - ``B.cbam.SpatialGate.spatial.bn.*`` -> ``B.attn.spatial.bn.*``
#
# * Triplet attention, landskape-ai/triplet-attention (``state_dict`` key, ``module.`` prefix). The
#   released ImageNet files predate a renaming: ``MODELS/triplet_attention.py`` (the definition the
#   maintainers point to for them) names the gates ``ChannelGateH``/``ChannelGateW``/``SpatialGate``,
#   each with a ``spatial.{conv,bn}`` BasicConv, and ``MODELS/resnet.py`` calls the block's module
#   ``triplet_attention``; in issue #12 a maintainer says the ResNet-50 file loads when that module is
#   named ``pcam``, and issue #9 reports ``triplet`` with the root ``triplet_attention.py``'s gate
#   names ``cw``/``hc``/``hw`` and ``conv.{conv,bn}``. All of these spellings are accepted:
#
#   - ``B.{triplet_attention|pcam|triplet}.{ChannelGateH|cw}.{spatial|conv}.{conv,bn}.*`` -> ``B.attn.cw.{conv,bn}.*``
#   - ``B.{...}.{ChannelGateW|hc}.{spatial|conv}.{conv,bn}.*`` -> ``B.attn.hc.{conv,bn}.*``
#   - ``B.{...}.{SpatialGate|hw}.{spatial|conv}.{conv,bn}.*`` -> ``B.attn.hw.{conv,bn}.*``
#
#   ``ChannelGateH`` pools over H and gates the (C, W) plane (the paper's ``cw`` branch),
#   ``ChannelGateW`` pools over W and gates (H, C) (``hc``), ``SpatialGate`` pools over C (``hw``).
#
# Loading stays strict afterwards, so any key outside these patterns is reported as unexpected.
_BLOCK = r"^(layer\d+\.\d+)\."
_CBAM_KEYS = (
    (re.compile(_BLOCK + r"cbam\.ChannelGate\.mlp\.1\."), r"\1.attn.channel_gate.fc1."),
    (re.compile(_BLOCK + r"cbam\.ChannelGate\.mlp\.3\."), r"\1.attn.channel_gate.fc2."),
    (re.compile(_BLOCK + r"cbam\.SpatialGate\.spatial\.(conv|bn)\."), r"\1.attn.spatial.\2."),
)
_TRIPLET_MODULE = r"(?:triplet_attention|pcam|triplet)"
_TRIPLET_KEY = re.compile(
    _BLOCK + _TRIPLET_MODULE + r"\.(ChannelGateH|ChannelGateW|SpatialGate|cw|hc|hw)\.(?:spatial|conv)\.(conv|bn)\."
)
_TRIPLET_BRANCH = {"ChannelGateH": "cw", "ChannelGateW": "hc", "SpatialGate": "hw", "cw": "cw", "hc": "hc", "hw": "hw"}
_SE_KEY = re.compile(_BLOCK + r"se\.(fc1|fc2)\.")


def _add_batchnorm_counters(state_dict: StateDict, model: nn.Module) -> StateDict:
    """Add a zero ``num_batches_tracked`` for each BatchNorm of `model` whose running stats `state_dict` holds without one."""
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.track_running_stats:
            prefix = f"{name}." if name else ""
            if f"{prefix}running_mean" in state_dict and f"{prefix}num_batches_tracked" not in state_dict:
                state_dict[f"{prefix}num_batches_tracked"] = torch.zeros((), dtype=torch.long)
    return state_dict


def _block_attention(model: nn.Module) -> nn.Module | None:
    """The attention module of the model's first residual block (None for a plain ResNet)."""
    layer1 = getattr(model, "layer1", None)
    return getattr(layer1[0], "attn", None) if isinstance(layer1, nn.Sequential) and len(layer1) else None


def _require_attention(model: nn.Module, kind: type[nn.Module], layout: str, example: str) -> None:
    attn = _block_attention(model)
    if not isinstance(attn, kind):
        have = type(attn).__name__ if attn is not None else "no block attention"
        raise ValueError(
            f"this checkpoint is a ResNet with {kind.__name__} ({layout} layout), but the model has {have}: "
            f"build the matching variant, e.g. create_model('{example}', checkpoint_path=...)"
        )


@register_converter(ResNet, "torchvision", "timm")
def convert_torchvision_resnet(state_dict: Mapping[str, Tensor], model: nn.Module) -> StateDict:
    """torchvision / timm ResNet (and timm SE-ResNet) -> visionzoo ResNet: same names, ``se`` -> ``attn``."""
    out: StateDict = {}
    for key, value in state_dict.items():
        out[_SE_KEY.sub(r"\1.attn.\2.", key)] = value
    if any(".attn." in k for k in out):
        _require_attention(model, SqueezeExcite, "timm SE-ResNet", "resnet50_se")
    return _add_batchnorm_counters(out, model)


@register_converter(ResNet, "cbam")
def convert_cbam_resnet(state_dict: Mapping[str, Tensor], model: nn.Module) -> StateDict:
    """Official ResNet+CBAM (Jongchan/attention-module) -> visionzoo ResNet with CBAM (see the mapping above)."""
    _require_attention(model, CBAM, "Jongchan/attention-module", "resnet50_cbam")
    out: StateDict = {}
    for key, value in state_dict.items():
        for pattern, replacement in _CBAM_KEYS:
            key = pattern.sub(replacement, key)
        out[key] = value
    return _add_batchnorm_counters(out, model)


@register_converter(ResNet, "triplet")
def convert_triplet_resnet(state_dict: Mapping[str, Tensor], model: nn.Module) -> StateDict:
    """Official ResNet+triplet attention (landskape-ai/triplet-attention) -> visionzoo (see the mapping above)."""
    _require_attention(model, TripletAttention, "landskape-ai/triplet-attention", "resnet50_triplet")
    out: StateDict = {}
    for key, value in state_dict.items():
        key = _TRIPLET_KEY.sub(lambda m: f"{m.group(1)}.attn.{_TRIPLET_BRANCH[m.group(2)]}.{m.group(3)}.", key)
        out[key] = value
    kernel = next((v.shape[-1] for k, v in out.items() if k.endswith(".attn.cw.conv.weight")), None)
    model_kernel = _block_attention(model).cw.conv.kernel_size[0]
    if kernel is not None and kernel != model_kernel:
        raise ValueError(
            f"the checkpoint's triplet-attention gates use {kernel}x{kernel} convs, the model {model_kernel}x{model_kernel}: "
            f"build it with block_attn=dict(type='triplet', kernel_size={kernel})"
        )
    return _add_batchnorm_counters(out, model)


@register_detector(ResNet)
def detect_resnet_layout(state_dict: Mapping[str, Tensor]) -> str:
    """The publisher of a ResNet state dict: "cbam", "triplet", "visionzoo" (``attn``), "timm" (SE) or "torchvision"."""
    keys = list(state_dict)
    if any(".cbam." in k for k in keys):
        return "cbam"
    if any(re.search(r"\." + _TRIPLET_MODULE + r"\.", k) for k in keys):
        return "triplet"
    if any(".attn." in k for k in keys):
        return "visionzoo"
    return "timm" if any(_SE_KEY.search(k) for k in keys) else "torchvision"

