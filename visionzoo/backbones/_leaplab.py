"""What the LeapLabTHU releases (FLatten Transformer, Agent Attention) share: their checkpoint layout and file host.

Both papers modify DeiT, PVT/PVTv2 and Swin and release the models under the names of the backbones they
modify, with the attention parameters under the official names that visionzoo's focused linear and agent
attention also use (``qkv`` or ``q``/``kv``, ``dwc``, ``scale``, ``positional_encoding``, ``proj``, the
agent biases). A "leaplab" file (``model`` key) therefore converts with its base family's converter, found
by the model's class like every converter:

* Swin-based: the Microsoft Swin layout (`visionzoo.backbones.swin.convert_microsoft_swin`);
* PVT / PVTv2-based: the whai362/PVT layout (`visionzoo.backbones.pvt.convert_official_pvt`; the PVT v1
  files' unused final ``norm`` is dropped there, as those models have none);
* DeiT-based: timm's ViT names (`visionzoo.backbones.vit.convert_timm_vit`).

`register_leaplab_weights` registers the ``arch.in1k`` tags of their TsinghuaCloud direct links.
"""
from __future__ import annotations

from collections.abc import Iterable

from ..registry import register_weights
from ..weights import WeightEntry
from ..weights.converters import register_converter
from .pvt import PyramidVisionTransformer, PyramidVisionTransformerV2, convert_official_pvt
from .swin import SwinTransformer, convert_microsoft_swin
from .vit import VisionTransformer, convert_timm_vit

__all__ = ["LEAPLAB", "register_leaplab_weights"]

LEAPLAB = "leaplab"
"""The source name of the LeapLabTHU layout (`visionzoo.weights.WeightEntry.source`, ``--source`` of the tools)."""

register_converter(SwinTransformer, LEAPLAB)(convert_microsoft_swin)
register_converter((PyramidVisionTransformer, PyramidVisionTransformerV2), LEAPLAB)(convert_official_pvt)
register_converter(VisionTransformer, LEAPLAB)(convert_timm_vit)

_CLOUD = "https://cloud.tsinghua.edu.cn/f/{}/?dl=1"


def register_leaplab_weights(paper: str, code: str, notes: str, releases: Iterable[tuple[str, float, str]]) -> None:
    """Tag ``arch.in1k`` for each ``(arch, top1, file_id)`` of one paper's official ImageNet-1k files.

    The files are TsinghuaCloud direct links; no sha256 or licence is published; evaluation is bicubic, crop 0.875.
    """
    for arch, top1, file_id in releases:
        register_weights(
            arch,
            "in1k",
            WeightEntry(
                source=LEAPLAB,
                url=_CLOUD.format(file_id),
                license=None,
                paper=paper,
                official_code=code,
                metrics={"imagenet_top1": top1},
                crop_pct=0.875,
                interpolation="bicubic",
                notes=notes,
            ),
        )
