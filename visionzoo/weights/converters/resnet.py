"""ResNet checkpoints: torchvision / timm, and the official CBAM and triplet-attention releases.

visionzoo's ResNet uses torchvision's names, so the trunk of every layout below maps one to one; only
the block attention differs. Older releases (torchvision's V1 files, checkpoints saved before
PyTorch 0.4.1) lack BatchNorm ``num_batches_tracked`` counters: each converter adds a zero counter
for every BatchNorm whose running statistics the file holds (as torch's own loader does), nothing else.

Key mapping, publisher -> visionzoo (``B`` = ``layer{1-4}.{i}``, one residual block):

* torchvision / timm ResNet (``timm/resnet*.tv_in1k`` safetensors): unchanged.
* timm SE-ResNet: ``B.se.{fc1,fc2}.*`` -> ``B.attn.{fc1,fc2}.*``.
* CBAM, Jongchan/attention-module (``MODELS/model_resnet.py`` + ``MODELS/cbam.py``; the file wraps the
  weights in ``state_dict`` with DataParallel's ``module.`` prefix, both stripped before conversion):

  - ``B.cbam.ChannelGate.mlp.1.*`` (Linear C -> C/16) -> ``B.attn.channel_gate.fc1.*``
  - ``B.cbam.ChannelGate.mlp.3.*`` (Linear C/16 -> C) -> ``B.attn.channel_gate.fc2.*``
    (``mlp.0`` is a Flatten and ``mlp.2`` a ReLU: no weights)
  - ``B.cbam.SpatialGate.spatial.conv.weight`` (2 -> 1, 7x7, no bias) -> ``B.attn.spatial.conv.weight``
  - ``B.cbam.SpatialGate.spatial.bn.*`` -> ``B.attn.spatial.bn.*``

* Triplet attention, landskape-ai/triplet-attention (``state_dict`` key, ``module.`` prefix). The
  released ImageNet files predate a renaming: ``MODELS/triplet_attention.py`` (the definition the
  maintainers point to for them) names the gates ``ChannelGateH``/``ChannelGateW``/``SpatialGate``,
  each with a ``spatial.{conv,bn}`` BasicConv, and ``MODELS/resnet.py`` calls the block's module
  ``triplet_attention``; in issue #12 a maintainer says the ResNet-50 file loads when that module is
  named ``pcam``, and issue #9 reports ``triplet`` with the root ``triplet_attention.py``'s gate
  names ``cw``/``hc``/``hw`` and ``conv.{conv,bn}``. All of these spellings are accepted:

  - ``B.{triplet_attention|pcam|triplet}.{ChannelGateH|cw}.{spatial|conv}.{conv,bn}.*`` -> ``B.attn.cw.{conv,bn}.*``
  - ``B.{...}.{ChannelGateW|hc}.{spatial|conv}.{conv,bn}.*`` -> ``B.attn.hc.{conv,bn}.*``
  - ``B.{...}.{SpatialGate|hw}.{spatial|conv}.{conv,bn}.*`` -> ``B.attn.hw.{conv,bn}.*``

  ``ChannelGateH`` pools over H and gates the (C, W) plane (the paper's ``cw`` branch),
  ``ChannelGateW`` pools over W and gates (H, C) (``hc``), ``SpatialGate`` pools over C (``hw``).

Loading stays strict afterwards, so any key outside these patterns is reported as unexpected.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

import torch
import torch.nn as nn
from torch import Tensor

from ...layers.conv_attention import CBAM, SqueezeExcite, TripletAttention
from . import StateDict, register_converter, register_detector

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


@register_converter("resnet", "torchvision")
@register_converter("resnet", "timm")
def convert_torchvision_resnet(state_dict: Mapping[str, Tensor], model: nn.Module) -> StateDict:
    """torchvision / timm ResNet (and timm SE-ResNet) -> visionzoo ResNet: same names, ``se`` -> ``attn``."""
    out: StateDict = {}
    for key, value in state_dict.items():
        out[_SE_KEY.sub(r"\1.attn.\2.", key)] = value
    if any(".attn." in k for k in out):
        _require_attention(model, SqueezeExcite, "timm SE-ResNet", "resnet50_se")
    return _add_batchnorm_counters(out, model)


@register_converter("resnet", "cbam")
def convert_cbam_resnet(state_dict: Mapping[str, Tensor], model: nn.Module) -> StateDict:
    """Official ResNet+CBAM (Jongchan/attention-module) -> visionzoo ResNet with CBAM (see the module docstring)."""
    _require_attention(model, CBAM, "Jongchan/attention-module", "resnet50_cbam")
    out: StateDict = {}
    for key, value in state_dict.items():
        for pattern, replacement in _CBAM_KEYS:
            key = pattern.sub(replacement, key)
        out[key] = value
    return _add_batchnorm_counters(out, model)


@register_converter("resnet", "triplet")
def convert_triplet_resnet(state_dict: Mapping[str, Tensor], model: nn.Module) -> StateDict:
    """Official ResNet+triplet attention (landskape-ai/triplet-attention) -> visionzoo (see the module docstring)."""
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


def _detect(state_dict: Mapping[str, Tensor]) -> str:
    keys = list(state_dict)
    if any(".cbam." in k for k in keys):
        return "cbam"
    if any(re.search(r"\." + _TRIPLET_MODULE + r"\.", k) for k in keys):
        return "triplet"
    if any(".attn." in k for k in keys):
        return "visionzoo"
    return "timm" if any(_SE_KEY.search(k) for k in keys) else "torchvision"


register_detector("resnet", _detect)
