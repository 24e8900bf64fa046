"""Twins checkpoints: the official release (Meituan-AutoML/Twins ``gvt.py``, ``model`` key) and timm (same names).

The official ``CPVTV2``/``ALTGVT`` classes and timm's ``Twins`` share one layout (the official classes delete
the inherited ``pos_embeds``/``cls_token``). Key mapping, official/timm -> visionzoo:

==============================================  ==============================================
``patch_embeds.0.{proj,norm}.*``                ``patch_embed.{proj,norm}.*``
``patch_embeds.{i}.{proj,norm}.*`` (i > 0)      ``stages.{i}.downsample.{proj,norm}.*``
``blocks.{i}.{j}.*``                            ``stages.{i}.blocks.{j}.*`` (``norm1``, ``attn.{q,kv,sr,
                                                norm,proj}`` for GSA, ``attn.{qkv,proj}`` for LSA,
                                                ``norm2``, ``mlp.{fc1,fc2}`` unchanged)
``pos_block.{i}.proj.0.*`` (PEG)                ``stages.{i}.peg.proj.*``
``norm.*``, ``head.*``                          unchanged
==============================================  ==============================================

A Twins-SVT checkpoint (LSA ``attn.qkv`` weights) offered to a PCPVT model, or the reverse, is rejected naming
those keys; other variant mismatches are listed by the strict loader.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

import torch.nn as nn
from torch import Tensor

from . import StateDict, register_converter, register_detector

_RULES = (
    (re.compile(r"^patch_embeds\.0\."), lambda m: "patch_embed."),
    (re.compile(r"^patch_embeds\.(\d+)\."), lambda m: f"stages.{m.group(1)}.downsample."),
    (re.compile(r"^blocks\.(\d+)\.(\d+)\."), lambda m: f"stages.{m.group(1)}.blocks.{m.group(2)}."),
    (re.compile(r"^pos_block\.(\d+)\.proj\.0\."), lambda m: f"stages.{m.group(1)}.peg.proj."),
)


def _twins_key(key: str) -> str:
    for pattern, repl in _RULES:
        new, count = pattern.subn(repl, key)
        if count:
            return new
    return key


@register_converter("twins", "meituan")
@register_converter("twins", "timm")
def convert_twins(state_dict: Mapping[str, Tensor], model: nn.Module) -> StateDict:
    """Official Twins / timm Twins -> visionzoo (see the module docstring)."""
    out = {_twins_key(k): v for k, v in state_dict.items()}
    lsa_keys = sorted(k for k in out if k.endswith(".attn.qkv.weight"))
    model_lsa = any(k.endswith(".attn.qkv.weight") for k in model.state_dict())
    if bool(lsa_keys) != model_lsa:
        have = f"a Twins-SVT (alt_gvt) checkpoint, LSA keys {lsa_keys[:3]}" if lsa_keys else "a Twins-PCPVT checkpoint"
        want = "twins_svt_*" if lsa_keys else "twins_pcpvt_*"
        raise ValueError(f"this is {have}, but the model {'has' if model_lsa else 'has no'} LSA blocks: build one of {want}")
    return out


def _detect(state_dict: Mapping[str, Tensor]) -> str:
    return "timm" if any(k.startswith("patch_embeds.") for k in state_dict) else "visionzoo"


register_detector("twins", _detect)
