"""BiFormer checkpoints: the official rayleizhu/BiFormer release (``model`` key, ``models/biformer.py`` names).

visionzoo's BiFormer keeps the official module names outside the blocks and uses the shared
`TransformerBlock` inside them, so the mapping is a few renames (``S`` = ``stages.{i}.{j}``, one block):

=====================================  =====================================
official                               visionzoo
=====================================  =====================================
``S.attn.qkv.qkv.{weight,bias}``       ``S.attn.qkv.{weight,bias}`` (routing stages; the official
                                       ``QKVLinear`` wraps the linear layer)
``S.mlp.0.{weight,bias}``              ``S.mlp.fc1.{weight,bias}``
``S.mlp.3.{weight,bias}``              ``S.mlp.fc2.{weight,bias}`` (``mlp.1`` is an Identity
                                       without ``mlp_dwconv``, ``mlp.2`` the GELU)
``S.gamma1``, ``S.gamma2``             ``S.ls1.gamma``, ``S.ls2.gamma`` (layer-scale variants only)
everything else                        unchanged: ``downsample_layers.*``, ``S.pos_embed.*``,
                                       ``S.norm{1,2}.*``, ``S.attn.{wo,lepe}.*`` (routing
                                       stages), ``S.attn.{qkv,proj,lepe}.*`` (global last
                                       stage), ``norm.*`` (BatchNorm), ``head.*``
=====================================  =====================================

A checkpoint of another variant fails the strict load that follows, which lists the mismatched keys.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

import torch.nn as nn
from torch import Tensor

from . import StateDict, register_converter, register_detector

_BLOCK = r"^(stages\.\d+\.\d+)\."
_RENAMES = (
    (re.compile(_BLOCK + r"attn\.qkv\.qkv\."), r"\1.attn.qkv."),
    (re.compile(_BLOCK + r"mlp\.0\."), r"\1.mlp.fc1."),
    (re.compile(_BLOCK + r"mlp\.3\."), r"\1.mlp.fc2."),
    (re.compile(_BLOCK + r"gamma1$"), r"\1.ls1.gamma"),
    (re.compile(_BLOCK + r"gamma2$"), r"\1.ls2.gamma"),
)


@register_converter("biformer", "official")
def convert_official_biformer(state_dict: Mapping[str, Tensor], model: nn.Module) -> StateDict:
    """Official BiFormer release -> visionzoo BiFormer (see the module docstring for the mapping)."""
    out: StateDict = {}
    for key, value in state_dict.items():
        for pattern, replacement in _RENAMES:
            key = pattern.sub(replacement, key)
        out[key] = value
    return out


def _detect(state_dict: Mapping[str, Tensor]) -> str:
    official = any(re.search(r"\.(attn\.qkv\.qkv|mlp\.[03])\.", k) for k in state_dict)
    return "official" if official else "visionzoo"


register_detector("biformer", _detect)
