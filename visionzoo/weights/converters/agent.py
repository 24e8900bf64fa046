"""Agent-attention checkpoints: the official LeapLabTHU/Agent-Attention releases (``model`` key).

visionzoo's agent attention uses the official parameter names (``qkv`` or ``q``/``kv``, ``dwc``, ``proj``,
``an_bias``, ``na_bias``, ``ah_bias``, ``aw_bias``, ``ha_bias``, ``wa_bias`` and, with a class token,
``ac_bias``/``ca_bias``), so the mapping is the backbone's (`visionzoo.weights.converters.flatten`):

* Agent-DeiT: timm's ViT names, unchanged (``cls_token``, ``pos_embed``, ``patch_embed.proj``,
  ``blocks.{i}.{norm1,attn,norm2,mlp}``, ``norm``, ``head``).
* Agent-Swin: the Microsoft Swin layout (``layers.{i}.downsample`` -> ``layers.{i+1}.downsample``,
  ``head`` -> ``head.fc``, ``relative_position_index``/``attn_mask`` buffers dropped).
* Agent-PVT: the whai362/PVT layout (``patch_embed{i}``, ``pos_embed{i}``, ``block{i}.{j}`` ->
  ``patch_embed`` / ``stages.{i-1}.{downsample,pos_embed,blocks.{j}}``; ``head`` unchanged).

Loading stays strict, so a checkpoint of another variant fails with its missing/unexpected keys listed.
"""
from __future__ import annotations

from . import register_converter, register_detector
from .flatten import convert_leaplab_state_dict, detect_leaplab

register_converter("agent", "leaplab")(convert_leaplab_state_dict)
register_detector("agent", detect_leaplab)
