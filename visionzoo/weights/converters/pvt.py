"""PVT v1 / PVTv2 checkpoints: the official releases (whai362/PVT ``classification/pvt.py``, ``pvt_v2.py``) and timm.

Key mapping, official -> visionzoo (``i`` = 1..4 is the official stage number, ``s = i - 1`` ours):

==============================================  ==============================================
``patch_embed1.{proj,norm}.*``                  ``patch_embed.{proj,norm}.*``
``patch_embed{i}.{proj,norm}.*`` (i > 1)        ``stages.{s}.downsample.{proj,norm}.*``
``block{i}.{j}.*``                              ``stages.{s}.blocks.{j}.*`` (``norm1``, ``attn.{q,kv,sr,norm,
                                                proj}``, ``norm2``, ``mlp.{fc1,fc2}`` unchanged)
``block{i}.{j}.mlp.dwconv.dwconv.*`` (v2)       ``stages.{s}.blocks.{j}.mlp.dwconv.*``
``norm{i}.*`` (v2, per-stage norm)              ``stages.{s}.norm.*``
``pos_embed{i}`` (v1)                           ``stages.{s}.pos_embed``
``cls_token`` (v1)                              ``stages.{last}.cls_token``
``norm.*``, ``head.*``                          unchanged
==============================================  ==============================================

timm's ``pvt_v2_*`` uses visionzoo's names already (identity). A v1 checkpoint offered to a PVTv2 model (or
the reverse) is rejected with the keys that tell them apart. `official_pvt_key` is exported for the
PVT-based releases of other papers (FLatten, Agent attention), which keep these names around their own
attention parameters.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

import torch.nn as nn
from torch import Tensor

from . import StateDict, register_converter, register_detector

__all__ = ["official_pvt_key"]

_RULES = (
    (re.compile(r"^patch_embed1\."), lambda m: "patch_embed."),
    (re.compile(r"^patch_embed(\d+)\."), lambda m: f"stages.{int(m.group(1)) - 1}.downsample."),
    (re.compile(r"^block(\d+)\.(\d+)\."), lambda m: f"stages.{int(m.group(1)) - 1}.blocks.{m.group(2)}."),
    (re.compile(r"^norm(\d+)\."), lambda m: f"stages.{int(m.group(1)) - 1}.norm."),
    (re.compile(r"^pos_embed(\d+)$"), lambda m: f"stages.{int(m.group(1)) - 1}.pos_embed"),
)


def official_pvt_key(key: str, num_stages: int = 4) -> str:
    """One whai362/PVT (v1 or v2) parameter name in visionzoo's layout (see the module docstring)."""
    if key == "cls_token":
        return f"stages.{num_stages - 1}.cls_token"
    key = key.replace(".mlp.dwconv.dwconv.", ".mlp.dwconv.")
    for pattern, repl in _RULES:
        new, count = pattern.subn(repl, key)
        if count:
            return new
    return key


def _is_v1(model: nn.Module) -> bool:
    return any(k.endswith("pos_embed") for k in model.state_dict())


def _check_version(state_dict: Mapping[str, Tensor], model: nn.Module, layout: str) -> None:
    ckpt_v1 = any(re.match(r"^(pos_embed\d+|stages\.\d+\.pos_embed)$", k) for k in state_dict)
    if ckpt_v1 == _is_v1(model):
        return
    marker = sorted(k for k in state_dict if re.match(r"^(pos_embed|norm\d|stages\.\d+\.(pos_embed|norm\.))", k))[:4]
    have = "PVT v1 (absolute position embeddings)" if ckpt_v1 else "PVTv2 (per-stage norms, no position embeddings)"
    want = "pvt_tiny/small/medium/large" if ckpt_v1 else "pvt_v2_b*"
    raise ValueError(
        f"this {layout} checkpoint is a {have} model, keys {marker}; the model is a {type(model).__name__}. "
        f"Build one of {want} instead."
    )


@register_converter("pvt", "whai362")
def convert_official_pvt(state_dict: Mapping[str, Tensor], model: nn.Module) -> StateDict:
    """Official whai362/PVT release (v1 or v2) -> visionzoo (see the module docstring)."""
    _check_version(state_dict, model, "whai362/PVT")
    num_stages = len(getattr(model, "stages", ())) or 4
    return {official_pvt_key(k, num_stages): v for k, v in state_dict.items()}


@register_converter("pvt", "timm")
def convert_timm_pvt(state_dict: Mapping[str, Tensor], model: nn.Module) -> StateDict:
    """timm ``pvt_v2_*`` -> visionzoo: the same names."""
    _check_version(state_dict, model, "timm")
    return dict(state_dict)


def _detect(state_dict: Mapping[str, Tensor]) -> str:
    if "patch_embed1.proj.weight" in state_dict or any(k.startswith("block1.") for k in state_dict):
        return "whai362"
    return "timm" if "stages.0.blocks.0.mlp.dwconv.weight" in state_dict else "visionzoo"


register_detector("pvt", _detect)
