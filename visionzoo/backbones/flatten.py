"""FLatten backbones (Han et al., ICCV 2023): the official FLatten-Swin, FLatten-PVT and FLatten-PVTv2 configurations.

Each is the plain backbone with focused linear attention (`visionzoo.layers.attention.focused_linear`) in the
stages that LeapLabTHU/FLatten-Transformer (``cfgs/*.yaml``, ``models/*.py``, ``config.py``) uses it in:

* Swin-T/S/B ``LLSS``: focused linear attention in stages 1-2, Swin window-7 attention in stages 3-4. The
  official window of 56 makes the linear stages global (window = stage grid at 224^2); here they attend over
  the whole stage grid at any size.
* PVT-T/S and PVTv2-B0/B1/B2 ``LLLL``: focused linear attention in every block without spatial reduction
  (``PVT_LA_SR_RATIOS=1111``; ``sr_ratio`` in the attention config turns PVT's reduction back on). PVT v1 has
  no class token and pools the last stage without a final norm (the official forward never applies the
  ``norm`` its checkpoints carry).

All use focusing factor 3 and a 5x5 depthwise conv. The positional encodings of the released models are laid
out for 224^2 token grids; here they are resampled (bicubic) to the actual grid, so other sizes run and 224^2
reproduces the official outputs. Released checkpoints (``model`` key) load through
`visionzoo.weights.converters.flatten`.
"""
from __future__ import annotations

from typing import Any

import torch.nn as nn

from ..registry import register_model
from ..weights.entry import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from .pvt import (
    PyramidVisionTransformer,
    PyramidVisionTransformerV2,
    pvt_small,
    pvt_tiny,
    pvt_v2_b0,
    pvt_v2_b1,
    pvt_v2_b2,
)
from .swin import SwinTransformer

__all__: list[str] = []

_FLATTEN_CFG = dict(
    first_conv="patch_embed.proj",
    input_size=(3, 224, 224),
    mean=IMAGENET_DEFAULT_MEAN,
    std=IMAGENET_DEFAULT_STD,
    crop_pct=0.875,  # official eval: resize 256/224 * size, centre crop
    interpolation="bicubic",
    fixed_input_size=False,
    paper="https://arxiv.org/abs/2308.00442",
    official_code="https://github.com/LeapLabTHU/FLatten-Transformer",
)
_FLA = dict(type="focused_linear", focusing_factor=3, kernel_size=5)


def _flatten_swin(arch: dict[str, Any], **kwargs: Any) -> SwinTransformer:
    cfg = dict(img_size=224, window_size=7, attn=_FLA, attn_stages="LLSS", **arch)
    return SwinTransformer(**{**cfg, **kwargs})


@register_model(**{**_FLATTEN_CFG, "classifier": "head.fc"})
def flatten_swin_tiny(**kwargs: Any) -> SwinTransformer:
    """FLatten-Swin-T: Swin-T with ``LLSS`` (focused linear attention in stages 1-2) (29 M params)."""
    arch = dict(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24))
    return _flatten_swin(arch, **{"drop_path_rate": 0.2, **kwargs})


@register_model(**{**_FLATTEN_CFG, "classifier": "head.fc"})
def flatten_swin_small(**kwargs: Any) -> SwinTransformer:
    """FLatten-Swin-S: Swin-S (depths 2-2-18-2) with ``LLSS`` (51 M params)."""
    arch = dict(embed_dim=96, depths=(2, 2, 18, 2), num_heads=(3, 6, 12, 24))
    return _flatten_swin(arch, **{"drop_path_rate": 0.3, **kwargs})


@register_model(**{**_FLATTEN_CFG, "classifier": "head.fc"})
def flatten_swin_base(**kwargs: Any) -> SwinTransformer:
    """FLatten-Swin-B: Swin-B (C=128, heads 4-8-16-32) with ``LLSS`` (89 M params)."""
    arch = dict(embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32))
    return _flatten_swin(arch, **{"drop_path_rate": 0.5, **kwargs})


def _flatten_pvt(builder: Any, v1: bool, **kwargs: Any) -> PyramidVisionTransformer | PyramidVisionTransformerV2:
    kwargs.setdefault("attn", {**_FLA, "sr_ratio": 1})
    if v1:
        kwargs = {"class_token": False, "global_pool": "avg", **kwargs}
    model = builder(**{"drop_path_rate": 0.1, **kwargs})
    if v1:
        model.norm = nn.Identity()  # the official FLatten-PVT pools the last stage without its final norm
    return model


@register_model(**{**_FLATTEN_CFG, "classifier": "head"})
def flatten_pvt_tiny(**kwargs: Any) -> PyramidVisionTransformer:
    """FLatten-PVT-T: PVT-T without class token, focused linear attention in every block (12.2 M params)."""
    return _flatten_pvt(pvt_tiny, True, **kwargs)


@register_model(**{**_FLATTEN_CFG, "classifier": "head"})
def flatten_pvt_small(**kwargs: Any) -> PyramidVisionTransformer:
    """FLatten-PVT-S: PVT-S (depths 3-4-6-3) with focused linear attention in every block (21.7 M params)."""
    return _flatten_pvt(pvt_small, True, **kwargs)


@register_model(**{**_FLATTEN_CFG, "classifier": "head"})
def flatten_pvt_v2_b0(**kwargs: Any) -> PyramidVisionTransformerV2:
    """FLatten-PVTv2-B0: PVTv2-B0 (dims 32-64-160-256) with focused linear attention in every block."""
    return _flatten_pvt(pvt_v2_b0, False, **kwargs)


@register_model(**{**_FLATTEN_CFG, "classifier": "head"})
def flatten_pvt_v2_b1(**kwargs: Any) -> PyramidVisionTransformerV2:
    """FLatten-PVTv2-B1: PVTv2-B1 with focused linear attention in every block."""
    return _flatten_pvt(pvt_v2_b1, False, **kwargs)


@register_model(**{**_FLATTEN_CFG, "classifier": "head"})
def flatten_pvt_v2_b2(**kwargs: Any) -> PyramidVisionTransformerV2:
    """FLatten-PVTv2-B2: PVTv2-B2 (depths 3-4-6-3) with focused linear attention in every block."""
    return _flatten_pvt(pvt_v2_b2, False, **kwargs)
