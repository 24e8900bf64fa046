"""FLatten checkpoints: the official LeapLabTHU/FLatten-Transformer releases (``model`` key).

The released FLatten models keep the names of the backbones they modify, and visionzoo's focused linear
attention uses the official attention names (``qkv`` or ``q``/``kv``, ``dwc``, ``scale``,
``positional_encoding``, ``proj``), so the mapping is the backbone's:

* FLatten-Swin: the Microsoft Swin layout (`visionzoo.weights.converters.swin`):
  ``layers.{i}.downsample.*`` -> ``layers.{i+1}.downsample.*``, ``head.*`` -> ``head.fc.*``,
  ``*.relative_position_index`` / ``*.attn_mask`` dropped (recomputed buffers), everything else unchanged.
* FLatten-PVT / PVTv2: the whai362/PVT layout (`visionzoo.weights.converters.pvt.official_pvt_key`):
  ``patch_embed1.*`` -> ``patch_embed.*``, ``patch_embed{i}.*`` -> ``stages.{i-1}.downsample.*``,
  ``block{i}.{j}.*`` -> ``stages.{i-1}.blocks.{j}.*``, ``pos_embed{i}`` -> ``stages.{i-1}.pos_embed`` (v1),
  ``norm{i}.*`` -> ``stages.{i-1}.norm.*`` (v2), ``mlp.dwconv.dwconv`` -> ``mlp.dwconv`` (v2), ``head.*`` unchanged.
  FLatten-PVT v1 checkpoints also hold a final ``norm.*`` that the official forward never applies: it is
  dropped (the model has no final norm).

Loading stays strict, so a checkpoint of another variant fails with its missing/unexpected keys listed.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch.nn as nn
from torch import Tensor

from . import StateDict, register_converter, register_detector
from .pvt import official_pvt_key
from .swin import convert_microsoft_swin

__all__ = ["convert_leaplab_state_dict", "detect_leaplab"]


def convert_leaplab_state_dict(state_dict: Mapping[str, Tensor], model: nn.Module) -> StateDict:
    """A LeapLabTHU (FLatten / Agent attention) release -> visionzoo, by the backbone `model` is built on."""
    from ...backbones.pvt import PyramidBackbone
    from ...backbones.swin import SwinTransformer

    if isinstance(model, SwinTransformer):
        return convert_microsoft_swin(state_dict, model)
    if isinstance(model, PyramidBackbone):
        num_stages = len(model.stages)
        own = model.state_dict()
        out = {official_pvt_key(k, num_stages): v for k, v in state_dict.items()}
        if isinstance(model.norm, nn.Identity) and "norm.weight" not in own:
            out = {k: v for k, v in out.items() if not k.startswith("norm.")}  # unused final norm of FLatten-PVT v1
        return out
    return dict(state_dict)  # DeiT-based: timm's (and visionzoo's) ViT names


def detect_leaplab(state_dict: Mapping[str, Tensor]) -> str:
    """"leaplab" for an official release (PVT ``block1.*``, Swin ``head.weight``), else "visionzoo"."""
    keys = state_dict.keys()
    pvt = "patch_embed1.proj.weight" in state_dict or any(k.startswith("block1.") for k in keys)
    swin = "head.weight" in state_dict and any(k.startswith("layers.") for k in keys)
    return "leaplab" if pvt or swin else "visionzoo"


register_converter("flatten", "leaplab")(convert_leaplab_state_dict)
register_detector("flatten", detect_leaplab)
