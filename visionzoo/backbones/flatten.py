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
reproduces the official outputs. Released checkpoints (``model`` key) load through the base backbone's
converter (`visionzoo.backbones._leaplab`); the published weights are registered at the end of this module.
"""
from __future__ import annotations

from typing import Any

import torch.nn as nn

from ..registry import image_classifier_cfg, register_model
from ._leaplab import register_leaplab_weights
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

_FLATTEN_CFG = image_classifier_cfg(
    "https://arxiv.org/abs/2308.00442",
    crop_pct=0.875,  # official eval: resize 256/224 * size, centre crop
    official_code="https://github.com/LeapLabTHU/FLatten-Transformer",
    tiny=dict(depths=(1, 1, 1, 1)),
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


@register_model(**_FLATTEN_CFG)
def flatten_pvt_tiny(**kwargs: Any) -> PyramidVisionTransformer:
    """FLatten-PVT-T: PVT-T without class token, focused linear attention in every block (12.2 M params)."""
    return _flatten_pvt(pvt_tiny, True, **kwargs)


@register_model(**_FLATTEN_CFG)
def flatten_pvt_small(**kwargs: Any) -> PyramidVisionTransformer:
    """FLatten-PVT-S: PVT-S (depths 3-4-6-3) with focused linear attention in every block (21.7 M params)."""
    return _flatten_pvt(pvt_small, True, **kwargs)


@register_model(**_FLATTEN_CFG)
def flatten_pvt_v2_b0(**kwargs: Any) -> PyramidVisionTransformerV2:
    """FLatten-PVTv2-B0: PVTv2-B0 (dims 32-64-160-256) with focused linear attention in every block."""
    return _flatten_pvt(pvt_v2_b0, False, **kwargs)


@register_model(**_FLATTEN_CFG)
def flatten_pvt_v2_b1(**kwargs: Any) -> PyramidVisionTransformerV2:
    """FLatten-PVTv2-B1: PVTv2-B1 with focused linear attention in every block."""
    return _flatten_pvt(pvt_v2_b1, False, **kwargs)


@register_model(**_FLATTEN_CFG)
def flatten_pvt_v2_b2(**kwargs: Any) -> PyramidVisionTransformerV2:
    """FLatten-PVTv2-B2: PVTv2-B2 (depths 3-4-6-3) with focused linear attention in every block."""
    return _flatten_pvt(pvt_v2_b2, False, **kwargs)


# --- published weights -----------------------------------------------------------------------------
# The official LeapLabTHU/FLatten-Transformer ImageNet-1k releases.
#
# Top-1 is the publisher's figure (README, "Pretrained Models", 224^2; the T/B0 figures also appear in its
# evaluation logs: PVT-T 77.758, PVTv2-B0 71.098, Swin-T 82.106). Evaluation in the official code: resize
# 256/224 x size, centre crop, bicubic, ImageNet mean/std. The files are TsinghuaCloud links with ``?dl=1``
# (direct downloads); no sha256 is published. The repository has no licence file, so the licence is not
# stated. The checkpoints fix the input size to 224^2 through their positional encodings (1, N, C):
# visionzoo loads them exactly and resamples the encodings at other sizes. Released but not registered
# (no matching architecture here): FLatten-Swin-B at 384^2 (85.0) and FLatten-CSwin-T (83.1).
register_leaplab_weights(
    paper="FLatten Transformer: Vision Transformer using Focused Linear Attention (Han et al., ICCV 2023), https://arxiv.org/abs/2308.00442",
    code="https://github.com/LeapLabTHU/FLatten-Transformer",
    notes="official release (README 'Pretrained Models'); 'model' key, official parameter names",
    releases=[  # (architecture, top-1, TsinghuaCloud file id)
        ("flatten_pvt_tiny", 77.8, "3ab1d773f19d45648690"),
        ("flatten_pvt_v2_b0", 71.1, "5d1f01532b104da28e7b"),
        ("flatten_swin_tiny", 82.1, "e1518e76703e4e57a7f2"),
        ("flatten_swin_small", 83.5, "94188e52af354bf4a88b"),
        ("flatten_swin_base", 83.8, "7a9e5186bad04e7fb3a9"),
    ],
)
