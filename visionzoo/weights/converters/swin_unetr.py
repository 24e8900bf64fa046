"""Swin UNETR checkpoints: MONAI's ``SwinUNETR`` state dict (also the research-contributions BRATS21 release).

Key mapping, MONAI -> visionzoo:

=================================================  =================================================
``swinViT.patch_embed.*``                          ``encoder.patch_embed.*``
``swinViT.layers{i+1}.0.blocks.{j}.*``             ``encoder.stages.{i}.blocks.{j}.*``
``... .mlp.linear1`` / ``.mlp.linear2``            ``... .mlp.fc1`` / ``.mlp.fc2``
``... .attn.relative_position_index``              dropped (recomputed buffer)
``swinViT.layers{i+1}.0.downsample.*``             ``encoder.merges.{i}.*``
``swinViT.layers{i+1}c.0.*`` (v2)                  ``encoder.res_blocks.{i}.*``
``encoder1`` / ``encoder2`` / ``encoder3`` /       ``decoder.skip0`` / ``skip1`` / ``skip2`` /
``encoder4`` / ``encoder10``                       ``skip3`` / ``bottleneck``
``decoder5`` ... ``decoder1``                      ``decoder.up4`` ... ``decoder.up0``
``out``                                            ``decoder.out``
=================================================  =================================================

The BRATS21 release wraps the state dict in ``state_dict``; unwrapping happens before conversion.
The merge order ("merging" vs "mergingv2") is an architecture argument, not a key difference.

The self-supervised Swin ViT release (research-contributions ``SwinUNETR/Pretrain``,
``model_swinvit.pt``; the layout MONAI's ``SwinUNETR.load_from`` reads) is the encoder alone:
``{"state_dict": {"module.patch_embed.*", "module.layers{i+1}.0.blocks.{j}.*" (MLP as ``mlp.fc1``/
``mlp.fc2``), "module.layers{i+1}.0.downsample.*"}}`` — the MONAI keys above without ``swinViT.``.
Its converter ("monai_ssl") also takes the pre-training model's own ``swin_vit.*`` prefix and drops
the pre-training heads (``rotation_head``, ``contrastive_head``, ``conv``); it covers ``encoder.``
only, so the decoder stays freshly initialised (and the log says so).
"""
from __future__ import annotations

import logging
import re
from collections.abc import Mapping

import torch.nn as nn
from torch import Tensor

from . import StateDict, register_converter, register_detector

_logger = logging.getLogger(__name__)

_DECODER = {
    "encoder1": "skip0",
    "encoder2": "skip1",
    "encoder3": "skip2",
    "encoder4": "skip3",
    "encoder10": "bottleneck",
    "decoder5": "up4",
    "decoder4": "up3",
    "decoder3": "up2",
    "decoder2": "up1",
    "decoder1": "up0",
    "out": "out",
}
_STAGE = re.compile(r"^swinViT\.layers(\d)(c?)\.0\.(.*)$")


def _encoder_key(key: str) -> str | None:
    """One MONAI ``swinViT.*`` key in our encoder's names (None: a buffer we recompute)."""
    if key.endswith("relative_position_index"):
        return None
    if key.startswith("swinViT.patch_embed."):
        return "encoder." + key[len("swinViT."):]
    match = _STAGE.match(key)
    if match is None:
        raise KeyError(f"unrecognised Swin UNETR encoder key {key!r}")
    stage, conv, rest = int(match.group(1)) - 1, match.group(2), match.group(3)
    if conv:
        return f"encoder.res_blocks.{stage}.{rest}"
    if rest.startswith("downsample."):
        return f"encoder.merges.{stage}.{rest[len('downsample.'):]}"
    rest = rest.replace(".mlp.linear1.", ".mlp.fc1.").replace(".mlp.linear2.", ".mlp.fc2.")
    return f"encoder.stages.{stage}.{rest}"


@register_converter("swin_unetr", "monai")
def convert_monai_swin_unetr(state_dict: Mapping[str, Tensor], model: nn.Module) -> StateDict:
    """MONAI SwinUNETR (and the BRATS21 release) -> visionzoo Swin UNETR (see the module docstring)."""
    out: StateDict = {}
    for key, value in state_dict.items():
        head, _, rest = key.partition(".")
        if head == "swinViT":
            new = _encoder_key(key)
        elif head in _DECODER:
            new = f"decoder.{_DECODER[head]}.{rest}"
        else:
            raise KeyError(f"unrecognised Swin UNETR key {key!r}: is this a MONAI SwinUNETR checkpoint?")
        if new is not None:
            out[new] = value
    return out


_SSL_HEADS = ("rotation_pre.", "rotation_head.", "contrastive_pre.", "contrastive_head.", "conv.")


@register_converter("swin_unetr", "monai_ssl", covers=("encoder.",))
def convert_monai_ssl_swinvit(state_dict: Mapping[str, Tensor], model: nn.Module) -> StateDict:
    """Self-supervised Swin ViT encoder (``model_swinvit.pt``) -> the encoder of visionzoo Swin UNETR."""
    out: StateDict = {}
    dropped = []
    for key, value in state_dict.items():
        bare = key[len("swin_vit."):] if key.startswith("swin_vit.") else key
        if bare.startswith(_SSL_HEADS):
            dropped.append(key)
            continue
        if not bare.startswith(("patch_embed.", "layers")):
            raise KeyError(f"unrecognised key {key!r} in a self-supervised Swin ViT checkpoint (expected patch_embed.*, layers1-4.*)")
        new = _encoder_key("swinViT." + bare)
        if new is not None:
            out[new] = value
    if dropped:
        _logger.info("dropped %d pre-training head tensors (%s...) of the self-supervised checkpoint", len(dropped), dropped[0])
    return out


def _detect(state_dict: Mapping[str, Tensor]) -> str:
    if any(k.startswith("swinViT.") for k in state_dict):
        return "monai"
    if any(k.startswith(("patch_embed.", "swin_vit.patch_embed.")) for k in state_dict):
        return "monai_ssl"
    return "visionzoo"


register_detector("swin_unetr", _detect)
