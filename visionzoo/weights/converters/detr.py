"""DETR checkpoints: the facebookresearch/detr releases (``torch.save({"model": state_dict, ...})``).

The ``model`` wrapper is removed before conversion. Key mapping, official -> visionzoo (``E`` =
``transformer.encoder.layers.{i}``, ``D`` = ``transformer.decoder.layers.{i}``, ``A`` any of their
attention modules):

====================================================  ======================================================
``backbone.0.body.{conv1,bn1,layer1..layer4}.*``      ``backbone.*`` (torchvision ResNet names; frozen BN
                                                      stores weight/bias/running_mean/running_var only)
``A.in_proj_weight`` (3C, C), ``A.in_proj_bias``      ``A.{q_proj,k_proj,v_proj}.{weight,bias}`` (rows
                                                      [0:C], [C:2C], [2C:3C])
``A.out_proj.*``                                      ``A.proj.*``
``D.multihead_attn.*``                                ``D.cross_attn.*``
``E/D.linear1.*`` / ``E/D.linear2.*``                 ``E/D.mlp.fc1.*`` / ``E/D.mlp.fc2.*``
``E/D.norm{1,2,3}.*``, ``transformer.decoder.norm.*`` unchanged
``input_proj.*``, ``query_embed.weight``,             unchanged
``class_embed.*``, ``bbox_embed.layers.{k}.*``
====================================================  ======================================================

``backbone.1`` (the sine position embedding) has no weights. Loading stays strict afterwards: a
checkpoint for another backbone, depth or class count fails with the mismatched keys and shapes.
The DC5 releases (dilated last stage) have the same keys as the plain ones but need a dilated ResNet,
which visionzoo does not build; they are not registered.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

import torch.nn as nn
from torch import Tensor

from . import StateDict, register_converter, register_detector

_ATTN = re.compile(r"^(transformer\.(?:encoder|decoder)\.layers\.\d+\.(?:self_attn|multihead_attn))\.in_proj_(weight|bias)$")
_RENAMES = (
    (re.compile(r"^backbone\.0\.body\."), "backbone."),
    (re.compile(r"\.multihead_attn\."), ".cross_attn."),
    (re.compile(r"\.out_proj\."), ".proj."),
    (re.compile(r"(layers\.\d+)\.linear1\."), r"\1.mlp.fc1."),
    (re.compile(r"(layers\.\d+)\.linear2\."), r"\1.mlp.fc2."),
)


def _rename(key: str) -> str:
    for pattern, replacement in _RENAMES:
        key = pattern.sub(replacement, key)
    return key


@register_converter("detr", "facebookresearch")
def convert_facebookresearch_detr(state_dict: Mapping[str, Tensor], model: nn.Module) -> StateDict:
    """Official DETR (facebookresearch/detr) -> visionzoo DETR (see the module docstring for the mapping)."""
    out: StateDict = {}
    for key, value in state_dict.items():
        if key.endswith("num_batches_tracked"):
            continue  # frozen BN keeps no counter (the official module drops it on load as well)
        match = _ATTN.match(key)
        if match:
            if value.shape[0] % 3:
                raise ValueError(f"{key} has {value.shape[0]} rows; a packed q/k/v projection needs a multiple of 3")
            prefix = _rename(match.group(1) + ".")
            for name, part in zip(("q_proj", "k_proj", "v_proj"), value.chunk(3, dim=0)):
                out[f"{prefix}{name}.{match.group(2)}"] = part.clone()
            continue
        out[_rename(key)] = value
    return out


def _detect(state_dict: Mapping[str, Tensor]) -> str:
    if any(k.startswith("backbone.0.body.") or k.endswith(".in_proj_weight") for k in state_dict):
        return "facebookresearch"
    return "visionzoo"


register_detector("detr", _detect)
