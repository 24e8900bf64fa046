"""Twins (Chu et al., NeurIPS 2021): Twins-PCPVT and Twins-SVT, built from the PVT pieces.

* Twins-PCPVT (``twins_pcpvt_small/base/large``): PVT v1's pyramid (4x4 then 2x2 patch embeddings, spatial-
  reduction attention with sr 8-4-2-1, MLP ratios 8-8-4-4) with CPVT's position encoding generator (PEG,
  `visionzoo.layers.PositionEncodingGenerator`) after the first block of each stage instead of absolute
  position embeddings and class token; final LayerNorm, average pooling.
* Twins-SVT (``twins_svt_small/base/large``): the same pyramid with blocks alternating locally-grouped
  attention (LSA, `visionzoo.layers.LocallyGroupedAttention`, 7x7 groups) and global sub-sampled attention
  (GSA = `visionzoo.layers.SpatialReductionAttention` with the stage's sr ratio), MLP ratio 4.

Any input size runs: the PEG follows the grid, LSA pads to whole groups, and sizes that are not multiples of
32 are zero-padded at each patch embedding (timm drops the remainder there; the official code needs multiples
of 224 / 7 groups). ``attn``/``attn_stages`` replace the mixers per stage as in `visionzoo.backbones.pvt`.
Checkpoints of the official release (Meituan-AutoML/Twins ``gvt.py``: ``pcpvt_*_v0``, ``alt_gvt_*``) and timm
(the same names) load through the converter at the end of this module, which also registers the published
weights.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Callable

import torch.nn as nn
from torch import Tensor

from ..layers import PositionEncodingGenerator, TransformerBlock
from ..layers.attention.registry import AttnCfg
from ..registry import image_classifier_cfg, register_model, register_weights
from ..weights import timm_hub_entry
from ..weights.converters import StateDict, register_converter, register_detector
from .pvt import PvtStage, PyramidBackbone, PyramidStageSpec, per_stage_values, rename_by_first_rule

__all__ = ["Twins"]


class Twins(PyramidBackbone):
    """Twins-PCPVT / -SVT with timm's model interface: forward_features -> tokens (B, H * W, C), forward_head -> logits."""

    def __init__(
        self,
        img_size: int | Sequence[int] = 224,
        patch_size: int = 4,
        in_chans: int = 3,
        num_classes: int = 1000,
        global_pool: str = "avg",
        embed_dims: Sequence[int] = (64, 128, 256, 512),
        num_heads: Sequence[int] = (1, 2, 4, 8),
        mlp_ratios: float | Sequence[float] = (4, 4, 4, 4),
        depths: Sequence[int] = (3, 4, 6, 3),
        sr_ratios: int | Sequence[int] = (8, 4, 2, 1),
        window_sizes: int | Sequence[int] | None = None,
        qkv_bias: bool = True,
        drop_rate: float = 0.0,
        pos_drop_rate: float = 0.0,
        proj_drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        attn: AttnCfg | Sequence[AttnCfg] = None,
        attn_stages: str | None = None,
        norm_layer: Callable[[int], nn.Module] | None = None,
    ) -> None:
        """
        Args:
            img_size: the training resolution (recorded, and the `input_resolution` given to mixers); any size runs.
            window_sizes: LSA group size per stage for Twins-SVT (even blocks LSA, odd blocks GSA); None: all GSA (PCPVT).
            attn, attn_stages: token mixer per stage (overrides both LSA and GSA of that stage).
        """
        super().__init__()
        windows = None if window_sizes is None else per_stage_values(window_sizes, len(depths), "window_sizes")

        def mixer(j: int) -> str:
            return "locally_grouped" if windows is not None and j % 2 == 0 else "spatial_reduction"

        def stage(s: PyramidStageSpec) -> PvtStage:
            blocks = s.blocks(TransformerBlock, mixer, s.context.replace(window_size=windows[s.index] if windows else None))
            return PvtStage(s.dim, blocks, s.downsample, pos_drop=pos_drop_rate, peg=PositionEncodingGenerator(s.dim))

        self._init_pyramid(
            img_size=img_size, in_chans=in_chans, num_classes=num_classes, global_pool=global_pool, depths=depths,
            embed_dims=embed_dims, num_heads=num_heads, mlp_ratios=mlp_ratios, sr_ratios=sr_ratios, qkv_bias=qkv_bias,
            linear=False, drop_rate=drop_rate, proj_drop_rate=proj_drop_rate, attn_drop_rate=attn_drop_rate,
            drop_path_rate=drop_path_rate, attn=attn, attn_stages=attn_stages, norm_layer=norm_layer, final_norm=True,
            stage=stage, stem_stride=patch_size,
        )


_TWINS_CFG = image_classifier_cfg(
    "https://arxiv.org/abs/2104.13840", tiny=dict(depths=(1, 1, 1, 1), embed_dims=(16, 32, 48, 64), num_heads=(1, 2, 3, 4))
)


def _pcpvt(depths: tuple[int, ...], kwargs: dict[str, Any]) -> Twins:
    cfg = dict(embed_dims=(64, 128, 320, 512), num_heads=(1, 2, 5, 8), mlp_ratios=(8, 8, 4, 4), depths=depths)
    return Twins(**{**cfg, **kwargs})


def _svt(dims: tuple[int, ...], heads: tuple[int, ...], depths: tuple[int, ...], kwargs: dict[str, Any]) -> Twins:
    cfg = dict(embed_dims=dims, num_heads=heads, mlp_ratios=(4, 4, 4, 4), depths=depths, window_sizes=(7, 7, 7, 7))
    return Twins(**{**cfg, **kwargs})


@register_model(**_TWINS_CFG)
def twins_pcpvt_small(**kwargs: Any) -> Twins:
    """Twins-PCPVT-S: dims 64-128-320-512, depths 3-4-6-3, heads 1-2-5-8, sr 8-4-2-1 (24.1 M params)."""
    return _pcpvt((3, 4, 6, 3), kwargs)


@register_model(**_TWINS_CFG)
def twins_pcpvt_base(**kwargs: Any) -> Twins:
    """Twins-PCPVT-B: depths 3-4-18-3 (43.8 M params)."""
    return _pcpvt((3, 4, 18, 3), kwargs)


@register_model(**_TWINS_CFG)
def twins_pcpvt_large(**kwargs: Any) -> Twins:
    """Twins-PCPVT-L: depths 3-8-27-3 (60.9 M params)."""
    return _pcpvt((3, 8, 27, 3), kwargs)


@register_model(**_TWINS_CFG)
def twins_svt_small(**kwargs: Any) -> Twins:
    """Twins-SVT-S: dims 64-128-256-512, depths 2-2-10-4, heads 2-4-8-16, LSA window 7 / GSA (24 M params)."""
    return _svt((64, 128, 256, 512), (2, 4, 8, 16), (2, 2, 10, 4), kwargs)


@register_model(**_TWINS_CFG)
def twins_svt_base(**kwargs: Any) -> Twins:
    """Twins-SVT-B: dims 96-192-384-768, depths 2-2-18-2, heads 3-6-12-24 (56 M params)."""
    return _svt((96, 192, 384, 768), (3, 6, 12, 24), (2, 2, 18, 2), kwargs)


@register_model(**_TWINS_CFG)
def twins_svt_large(**kwargs: Any) -> Twins:
    """Twins-SVT-L: dims 128-256-512-1024, depths 2-2-18-2, heads 4-8-16-32 (99.2 M params)."""
    return _svt((128, 256, 512, 1024), (4, 8, 16, 32), (2, 2, 18, 2), kwargs)


# --- published weights ---------------------------------------------------------------------------------
# The official Meituan-AutoML/Twins ImageNet-1k releases, as republished by timm on the Hugging Face Hub.
# Top-1 is the publisher's figure (Meituan-AutoML/Twins README, "Image Classification", 224^2). The original
# files are Google Drive sharing pages (recorded in ``notes``; download by hand and pass ``checkpoint_path=``,
# same names as timm). Apache-2.0 licence; no sha256 is published.
_PAPER = (
    "Twins: Revisiting the Design of Spatial Attention in Vision Transformers (Chu et al., NeurIPS 2021), "
    "https://arxiv.org/abs/2104.13840"
)
_CODE = "https://github.com/Meituan-AutoML/Twins"
_DRIVE = "https://drive.google.com/file/d/{}/view?usp=sharing"


def _twins_weights(arch: str, official_name: str, top1: float, drive_id: str) -> None:
    register_weights(f"{arch}.in1k", timm_hub_entry(
        f"{arch}.in1k",
        license="apache-2.0",
        paper=_PAPER,
        official_code=_CODE,
        metrics={"imagenet_top1": top1},
        crop_pct=0.9,
        notes=f"official release {official_name}.pth: {_DRIVE.format(drive_id)} (a sharing page)",
    ))


_twins_weights("twins_pcpvt_small", "pcpvt_small", 81.2, "1TWIx_8M-4y6UOKtbCgm1v-UVQ-_lYe6X")
_twins_weights("twins_pcpvt_base", "pcpvt_base", 82.7, "1BsD3ZRivvPsHoZB1AX-tbirFLtCln8ky")
_twins_weights("twins_pcpvt_large", "pcpvt_large", 83.1, "17xZXOWEcSGs0quBmMEkBYCxjPRYH-L45")
_twins_weights("twins_svt_small", "alt_gvt_small", 81.7, "131SVOphM_-SaBytf4kWjo3ony5hpOt4S")
_twins_weights("twins_svt_base", "alt_gvt_base", 83.2, "1s83To8xgDWY6Ad8VBP3Nx9gqY709rrGu")
_twins_weights("twins_svt_large", "alt_gvt_large", 83.7, "1um39wxIaicmOquP2fr_SiZdxNCUou8w-")


# --- checkpoint converters -----------------------------------------------------------------------------
# The official ``CPVTV2``/``ALTGVT`` classes and timm's ``Twins`` share one layout (the official classes delete
# the inherited ``pos_embeds``/``cls_token``). Key mapping, official/timm -> visionzoo:
#
#   ``patch_embeds.0.{proj,norm}.*``            ``patch_embed.{proj,norm}.*``
#   ``patch_embeds.{i}.{proj,norm}.*`` (i > 0)  ``stages.{i}.downsample.{proj,norm}.*``
#   ``blocks.{i}.{j}.*``                        ``stages.{i}.blocks.{j}.*`` (``norm1``, ``attn.{q,kv,sr,norm,proj}``
#                                               for GSA, ``attn.{qkv,proj}`` for LSA, ``norm2``, ``mlp.{fc1,fc2}``)
#   ``pos_block.{i}.proj.0.*`` (PEG)            ``stages.{i}.peg.proj.*``
#   ``norm.*``, ``head.*``                      unchanged
#
# A Twins-SVT checkpoint (LSA ``attn.qkv`` weights) offered to a PCPVT model, or the reverse, is rejected naming
# those keys; other variant mismatches are listed by the strict loader.
_RULES = (
    (re.compile(r"^patch_embeds\.0\."), lambda m: "patch_embed."),
    (re.compile(r"^patch_embeds\.(\d+)\."), lambda m: f"stages.{m.group(1)}.downsample."),
    (re.compile(r"^blocks\.(\d+)\.(\d+)\."), lambda m: f"stages.{m.group(1)}.blocks.{m.group(2)}."),
    (re.compile(r"^pos_block\.(\d+)\.proj\.0\."), lambda m: f"stages.{m.group(1)}.peg.proj."),
)


@register_converter(Twins, "meituan", "timm")
def convert_twins(state_dict: Mapping[str, Tensor], model: nn.Module) -> StateDict:
    """Official Twins / timm Twins -> visionzoo (see the mapping above)."""
    out = {rename_by_first_rule(k, _RULES): v for k, v in state_dict.items()}
    lsa_keys = sorted(k for k in out if k.endswith(".attn.qkv.weight"))
    model_lsa = any(k.endswith(".attn.qkv.weight") for k in model.state_dict())
    if bool(lsa_keys) != model_lsa:
        have = f"a Twins-SVT (alt_gvt) checkpoint, LSA keys {lsa_keys[:3]}" if lsa_keys else "a Twins-PCPVT checkpoint"
        want = "twins_svt_*" if lsa_keys else "twins_pcpvt_*"
        raise ValueError(f"this is {have}, but the model {'has' if model_lsa else 'has no'} LSA blocks: build one of {want}")
    return out


@register_detector(Twins)
def detect_twins_layout(state_dict: Mapping[str, Tensor]) -> str:
    """"timm" for the official/timm layout (``patch_embeds.*``), else "visionzoo"."""
    return "timm" if any(k.startswith("patch_embeds.") for k in state_dict) else "visionzoo"
