"""Swin checkpoints: timm's layout and the original Microsoft release (microsoft/Swin-Transformer, ``model`` key).

Key mapping, Microsoft -> visionzoo:

==============================================  ==============================================
``layers.{i}.downsample.{norm,reduction}``      ``layers.{i+1}.downsample.{norm,reduction}``
                                                (Microsoft merges at the end of stage i, timm and
                                                visionzoo at the start of stage i+1)
``head.{weight,bias}``                          ``head.fc.{weight,bias}``
``*.relative_position_index``, ``*.attn_mask``  dropped (recomputed buffers)
everything else                                 unchanged
==============================================  ==============================================

timm -> visionzoo is the identity apart from dropping the same buffers. Both resize
``relative_position_bias_table`` (timm's bicubic resize) when the model's window differs.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

import torch.nn as nn
from timm.layers import resize_rel_pos_bias_table
from torch import Tensor

from . import StateDict, register_converter, register_detector

_BUFFERS = ("relative_position_index", "attn_mask")


def _fit_bias_tables(state_dict: StateDict, model: nn.Module) -> StateDict:
    own = model.state_dict()
    for key, value in list(state_dict.items()):
        if key.endswith("relative_position_bias_table") and key in own and own[key].shape != value.shape:
            attn = model.get_submodule(key.rsplit(".", 1)[0])
            state_dict[key] = resize_rel_pos_bias_table(
                value, new_window_size=attn.window_size, new_bias_shape=tuple(own[key].shape)
            )
    return state_dict


@register_converter("swin", "timm")
def convert_timm_swin(state_dict: Mapping[str, Tensor], model: nn.Module) -> StateDict:
    """timm Swin -> visionzoo Swin."""
    out = {k: v for k, v in state_dict.items() if not k.endswith(_BUFFERS)}
    return _fit_bias_tables(out, model)


@register_converter("swin", "microsoft")
def convert_microsoft_swin(state_dict: Mapping[str, Tensor], model: nn.Module) -> StateDict:
    """Official Microsoft Swin release -> visionzoo Swin (see the module docstring for the mapping)."""
    out: StateDict = {}
    for key, value in state_dict.items():
        if key.endswith(_BUFFERS):
            continue
        key = re.sub(r"^layers\.(\d+)\.downsample", lambda m: f"layers.{int(m.group(1)) + 1}.downsample", key)
        key = re.sub(r"^head\.", "head.fc.", key)
        out[key] = value
    return _fit_bias_tables(out, model)


def _detect(state_dict: Mapping[str, Tensor]) -> str:
    microsoft = "layers.0.downsample.reduction.weight" in state_dict or "head.weight" in state_dict
    return "microsoft" if microsoft else "timm"


register_detector("swin", _detect)
