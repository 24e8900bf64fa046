"""UNETR checkpoints: MONAI's ``UNETR`` state dict (``proj_type="conv"``).

Key mapping, MONAI -> visionzoo:

=============================================  ===============================================
``vit.patch_embedding.patch_embeddings.*``     ``encoder.patch_embed.proj.*``
``vit.patch_embedding.position_embeddings``    ``encoder.pos_embed``
``vit.blocks.{i}.attn.out_proj.*``             ``encoder.blocks.{i}.attn.proj.*``
``vit.blocks.{i}.mlp.linear1`` / ``linear2``   ``encoder.blocks.{i}.mlp.fc1`` / ``fc2``
``vit.blocks.{i}.{norm1,norm2,attn.qkv}``      ``encoder.blocks.{i}.{norm1,norm2,attn.qkv}``
``vit.norm.*``                                 ``encoder.norm.*``
``encoder1`` ... ``encoder4``                  ``decoder.skip0`` ... ``decoder.skip3``
``decoder5`` ... ``decoder2``                  ``decoder.up3`` ... ``decoder.up0``
``out``                                        ``decoder.out``
``vit.blocks.{i}.norm_cross_attn.*``,          dropped: MONAI builds them even without
``vit.blocks.{i}.cross_attn.*``                cross-attention, and never uses them
=============================================  ===============================================
"""
from __future__ import annotations

from collections.abc import Mapping

import torch.nn as nn
from torch import Tensor

from . import StateDict, register_converter, register_detector

_DECODER = {
    "encoder1": "skip0",
    "encoder2": "skip1",
    "encoder3": "skip2",
    "encoder4": "skip3",
    "decoder5": "up3",
    "decoder4": "up2",
    "decoder3": "up1",
    "decoder2": "up0",
    "out": "out",
}
_VIT = (
    ("vit.patch_embedding.patch_embeddings.", "encoder.patch_embed.proj."),
    ("vit.patch_embedding.position_embeddings", "encoder.pos_embed"),
    ("vit.norm.", "encoder.norm."),
    ("vit.blocks.", "encoder.blocks."),
)


@register_converter("unetr", "monai")
def convert_monai_unetr(state_dict: Mapping[str, Tensor], model: nn.Module) -> StateDict:
    """MONAI UNETR -> visionzoo UNETR (see the module docstring)."""
    out: StateDict = {}
    for key, value in state_dict.items():
        if ".norm_cross_attn." in key or ".cross_attn." in key:
            continue
        head, _, rest = key.partition(".")
        if head in _DECODER:
            out[f"decoder.{_DECODER[head]}.{rest}"] = value
            continue
        for old, new in _VIT:
            if key.startswith(old):
                key = new + key[len(old):]
                break
        else:
            raise KeyError(f"unrecognised UNETR key {key!r}: is this a MONAI UNETR checkpoint?")
        key = key.replace(".attn.out_proj.", ".attn.proj.").replace(".mlp.linear1.", ".mlp.fc1.").replace(".mlp.linear2.", ".mlp.fc2.")
        out[key] = value
    return out


register_detector("unetr", lambda sd: "monai" if any(k.startswith("vit.") for k in sd) else "visionzoo")
