"""ViT checkpoints: timm's layout (``timm/vit_*`` on the Hugging Face Hub, timm ``.pth`` releases).

Key mapping: timm and visionzoo share names one to one (``patch_embed.proj``, ``cls_token``,
``pos_embed``, ``blocks.{i}.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}``, ``norm``, ``fc_norm``,
``head``). The converter only drops the unused ``pre_logits`` layer of old releases and resamples
``pos_embed`` when the checkpoint's grid differs from the model's (e.g. 224 weights into a 384 model).
"""
from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import torch.nn as nn
from torch import Tensor

from ...layers import resample_abs_pos_embed
from . import StateDict, register_converter, register_detector

_logger = logging.getLogger(__name__)


@register_converter("vit", "timm")
def convert_timm_vit(state_dict: Mapping[str, Tensor], model: nn.Module) -> StateDict:
    """timm ViT -> visionzoo ViT (identity names, pos_embed resampled to the model's grid)."""
    out: StateDict = {}
    for key, value in state_dict.items():
        if key.startswith("pre_logits."):
            continue
        if key == "pos_embed" and value.shape != model.pos_embed.shape:
            prefix = model.num_prefix_tokens
            side = math.isqrt(value.shape[1] - prefix)
            if side * side != value.shape[1] - prefix:
                raise ValueError(f"cannot infer the grid of a pos_embed with {value.shape[1] - prefix} patch tokens")
            value = resample_abs_pos_embed(value, model.pos_grid, (side, side), prefix)
            _logger.info("resampled pos_embed from %dx%d to %s", side, side, model.pos_grid)
        out[key] = value
    return out


register_detector("vit", lambda state_dict: "timm")
