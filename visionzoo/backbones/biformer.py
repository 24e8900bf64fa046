"""BiFormer (Zhu et al., CVPR 2023): a four-stage pyramid of bi-level routing attention blocks.

Follows the official ``models/biformer.py`` (rayleizhu/BiFormer) that the released BiFormer-T/S/B
checkpoints were trained with: a stem of two 3x3 stride-2 conv + BatchNorm (GELU between them),
a 3x3 stride-2 conv + BatchNorm before stages 2-4, and blocks of ``x + pos_embed(x)`` (3x3 depthwise
conv) followed by a pre-norm transformer block (LayerNorm eps 1e-6, MLP ratio 3). Stages 1-3 use
bi-level routing attention (``n_win`` 7, top-k 1/4/16, heads of 32 channels, LePE 5x5), the last stage
global attention with LePE (8 heads, no qkv bias; the official ``topk=-2``). A BatchNorm normalises
the last feature map before average pooling and the linear head.

Parameter names are the official ones (``downsample_layers``, ``stages.{i}.{j}.pos_embed``, ``norm``,
``head``) except inside blocks, which use the shared `TransformerBlock` (``mlp.fc1``/``fc2`` for the
official ``mlp.0``/``mlp.3``, ``attn.qkv`` for ``attn.qkv.qkv``); the converter at the end of this module
maps them, beside the published weights. Any input size runs: the stride-2 convs round up, and each routing
attention zero-pads its grid at the bottom/right to a multiple of ``n_win`` and crops after, as the official ``auto_pad``
option used for segmentation (the classification code asserts multiples of 7 at every stage,
i.e. 224 x 224, which is unchanged here).
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import torch
import torch.nn as nn
from torch import Tensor

from ..layers import TransformerBlock, build_attention, check_image_input, stage_attention_configs
from ..layers.attention import AttentionContext, block_attention_configs
from ..registry import image_classifier_cfg, register_model, register_weights
from ..weights import WeightEntry
from ..weights.converters import StateDict, register_converter, register_detector
from .base import GradCheckpointing, TimmBackbone
from .features import FeatureInfo

__all__ = ["BiFormer", "BiFormerBlock", "BiFormerStage"]

_POOL_TYPES = ("", "avg")


class BiFormerBlock(TransformerBlock):
    """``x + pos_embed(x)`` (depthwise conv position encoding) then the pre-norm transformer block; tokens (B, H*W, C)."""

    def __init__(self, dim: int, mixer: nn.Module, pos_kernel: int = 3, **kwargs: Any) -> None:
        super().__init__(dim, mixer, **kwargs)
        self.pos_embed = nn.Conv2d(dim, dim, pos_kernel, padding=pos_kernel // 2, groups=dim) if pos_kernel > 0 else None

    def forward(self, x: Tensor, shape: Sequence[int]) -> Tensor:
        if self.pos_embed is not None:
            b, n, c = x.shape
            grid = x.view(b, *shape, c).permute(0, 3, 1, 2)  # channels-last NCHW view, no copy
            x = x + self.pos_embed(grid).permute(0, 2, 3, 1).reshape(b, n, c)
        return super().forward(x, shape)


class BiFormerStage(GradCheckpointing, nn.ModuleList):
    """The blocks of one stage (a ModuleList, so names are the official ``stages.{i}.{j}``)."""

    def forward(self, x: Tensor, shape: Sequence[int]) -> Tensor:
        for block in self:
            x = self.checkpointed(block, x, shape)
        return x


def _downsample(in_chs: int, out_chs: int, stem: bool) -> nn.Sequential:
    """Stride-2 3x3 conv + BatchNorm; the stem is two of them with a GELU between (official layout)."""
    if stem:
        mid = out_chs // 2
        return nn.Sequential(
            nn.Conv2d(in_chs, mid, 3, stride=2, padding=1),
            nn.BatchNorm2d(mid),
            nn.GELU(),
            nn.Conv2d(mid, out_chs, 3, stride=2, padding=1),
            nn.BatchNorm2d(out_chs),
        )
    return nn.Sequential(nn.Conv2d(in_chs, out_chs, 3, stride=2, padding=1), nn.BatchNorm2d(out_chs))


class BiFormer(TimmBackbone):
    """BiFormer with timm's model interface: forward_features -> normalised NCHW map, forward_head -> logits."""

    stage_siblings = ("downsample_layers",)
    pool_types = _POOL_TYPES

    def __init__(
        self,
        in_chans: int = 3,
        num_classes: int = 1000,
        global_pool: str = "avg",
        depths: Sequence[int] = (2, 2, 8, 2),
        embed_dims: Sequence[int] = (64, 128, 256, 512),
        mlp_ratios: float | Sequence[float] = 3.0,
        head_dim: int = 32,
        num_heads: Sequence[int] | None = None,
        topks: Sequence[int] = (1, 4, 16, -2),
        n_win: int = 7,
        side_dwconv: int = 5,
        pos_kernel: int = 3,
        qk_dims: Sequence[int] | None = None,
        qk_scale: float | None = None,
        layer_scale_init_value: float | None = None,
        drop_rate: float = 0.0,
        proj_drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        attn: Any = None,
        attn_stages: str | None = None,
        img_size: int | Sequence[int] = 224,
    ) -> None:
        """
        Args:
            topks: routed regions per stage; -2 makes the stage global attention with LePE (official code).
            num_heads: heads per stage; default ``dim // head_dim`` for routing stages and 8 for global
                ones (the official ``AttentionLePE`` default).
            n_win: regions per side of every routing attention (the grid is padded to a multiple of it).
            attn: token-mixer config replacing the default of every stage (or one per stage);
                `attn_stages` (e.g. ``"BBBA"``) applies it to some stages only (S/B keep the default).
                Mixers get the stage's routing geometry (``n_win``, ``topk``, ``qk_dim``, ``side_dwconv``) and
                its token grid at `img_size` (sizing the tables of focused linear and agent attention).
            img_size: the training resolution: the reference grid of mixers with position tables; any input size runs.
        """
        super().__init__()
        num_stages = len(depths)
        if not len(embed_dims) == len(topks) == num_stages:
            raise ValueError(
                f"depths {tuple(depths)}, embed_dims {tuple(embed_dims)} and topks {tuple(topks)} need one entry per stage"
            )
        if any(k <= 0 and k != -2 for k in topks):
            raise ValueError(f"topks entries must be > 0 (routed regions) or -2 (global attention), got {tuple(topks)}")
        mlp_ratios = [mlp_ratios] * num_stages if isinstance(mlp_ratios, (int, float)) else list(mlp_ratios)
        qk_dims = list(qk_dims) if qk_dims is not None else list(embed_dims)
        if num_heads is None:
            num_heads = [8 if k == -2 else qk // head_dim for k, qk in zip(topks, qk_dims)]
        self._init_interface(in_chans, num_classes, global_pool, embed_dims[-1])
        self.img_size = img_size
        self.output_fmt = "NCHW"

        self.downsample_layers = nn.ModuleList(
            _downsample(in_chans if i == 0 else embed_dims[i - 1], embed_dims[i], stem=i == 0) for i in range(num_stages)
        )
        stage_attn = stage_attention_configs(attn, attn_stages, num_stages, depths)
        img = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        dpr = torch.linspace(0, drop_path_rate, sum(depths), device="cpu").split(list(depths))  # cpu: builds on meta too
        norm_layer = partial(nn.LayerNorm, eps=1e-6)
        self.stages = nn.ModuleList()
        info = []
        for i in range(num_stages):
            context = AttentionContext(
                embed_dims[i], num_heads[i], input_resolution=tuple(-(-g // 2 ** (i + 2)) for g in img),  # stride-2 convs: ceil
                attn_drop=attn_drop_rate, proj_drop=proj_drop_rate, n_win=n_win, topk=None if topks[i] == -2 else topks[i],
                qk_dim=qk_dims[i], qk_scale=qk_scale, side_dwconv=side_dwconv,
            )
            default = "softmax_lepe" if topks[i] == -2 else "bilevel_routing"  # official topk=-2: global attention + LePE
            blocks = [
                BiFormerBlock(
                    embed_dims[i],
                    build_attention(block_cfg, default, context),
                    pos_kernel=pos_kernel,
                    mlp_ratio=mlp_ratios[i],
                    norm_layer=norm_layer,
                    drop_path=dpr[i][j].item(),
                    proj_drop=proj_drop_rate,
                    init_values=layer_scale_init_value,
                )
                for j, block_cfg in enumerate(block_attention_configs(stage_attn[i], depths[i]))
            ]
            self.stages.append(BiFormerStage(blocks))
            info.append(dict(num_chs=embed_dims[i], reduction=4 * 2**i, module=f"stages.{i}"))
        self.feature_info = FeatureInfo(info)
        self.norm = nn.BatchNorm2d(self.num_features)
        self._init_classifier(drop_rate)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        """`_init_linear`, and every LayerNorm reset to the identity."""
        TimmBackbone._init_linear(m)
        if isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    # --- timm model interface -------------------------------------------------------------------
    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        return dict(
            stem=r"^downsample_layers\.0",
            blocks=r"^(?:stages|downsample_layers)\.(\d+)" if coarse else [
                (r"^downsample_layers\.(\d+)", (0,)), (r"^stages\.(\d+)\.(\d+)", None), (r"^norm", (99999,))],
        )

    # --- forward ------------------------------------------------------------------------------
    def _stem(self, x: Tensor) -> Tensor:
        """The input, checked (the stem conv is stage 0's downsampling layer)."""
        check_image_input(x, self.in_chans)
        return x

    def _run_stage(self, i: int, x: Tensor) -> Tensor:
        """Downsample then the blocks of stage `i`: NCHW in, NCHW (channels-last memory) out."""
        x = self.downsample_layers[i](x)
        b, c, h, w = x.shape
        tokens = self.stages[i](x.permute(0, 2, 3, 1).reshape(b, h * w, c), (h, w))
        return tokens.view(b, h, w, c).permute(0, 3, 1, 2)

    def _stage_to_nchw(self, state: Tensor, i: int) -> Tensor:
        """The stage's map, contiguous (its memory is channels-last)."""
        return state.contiguous()


_BIFORMER_CFG = image_classifier_cfg(
    "https://arxiv.org/abs/2303.08810", first_conv="downsample_layers.0.0", crop_pct=0.875, img_size_free=True,
    tiny=dict(depths=(1, 1, 1, 1), embed_dims=(32, 64, 96, 128)),
)


@register_model(**_BIFORMER_CFG)
def biformer_tiny(**kwargs: Any) -> BiFormer:
    """BiFormer-T: dims 64-128-256-512, depths 2-2-8-2, top-k 1-4-16-global (13.1 M params)."""
    return BiFormer(**{"depths": (2, 2, 8, 2), "embed_dims": (64, 128, 256, 512), **kwargs})


@register_model(**_BIFORMER_CFG)
def biformer_small(**kwargs: Any) -> BiFormer:
    """BiFormer-S: dims 64-128-256-512, depths 4-4-18-4, top-k 1-4-16-global (25.5 M params)."""
    return BiFormer(**{"depths": (4, 4, 18, 4), "embed_dims": (64, 128, 256, 512), **kwargs})


@register_model(**_BIFORMER_CFG)
def biformer_base(**kwargs: Any) -> BiFormer:
    """BiFormer-B: dims 96-192-384-768, depths 4-4-18-4, top-k 1-4-16-global (56.8 M params)."""
    return BiFormer(**{"depths": (4, 4, 18, 4), "embed_dims": (96, 192, 384, 768), **kwargs})


# --- published weights ----------------------------------------------------------------------------
# BiFormer weights: the official ImageNet-1k releases of rayleizhu/BiFormer.
#
# Source: the official README, "ImageNet-1K trained models" (acc@1 at 224 x 224, MIT licence), whose
# "model" links are the OneDrive API URLs that ``models/biformer.py`` (``model_urls``) also downloads.
# The files wrap the weights in a ``model`` key and use the official names (converter
# below); no sha256 is published. Evaluation in the official
# ``datasets.py``: resize to 256/224 of the crop (bicubic), centre crop 224, ImageNet mean/std.
_PAPER = "BiFormer: Vision Transformer with Bi-Level Routing Attention (Zhu et al., CVPR 2023), https://arxiv.org/abs/2303.08810"
_ONEDRIVE = "https://api.onedrive.com/v1.0/shares/{}/root/content"


def _biformer_weights(arch: str, top1: float, share: str, params: str, gflops: str) -> None:
    register_weights(
        arch,
        "official_in1k",
        WeightEntry(
            source="official",
            url=_ONEDRIVE.format(share),
            sha256=None,
            license="mit",
            paper=_PAPER,
            official_code="https://github.com/rayleizhu/BiFormer",
            metrics={"imagenet_top1": top1},
            crop_pct=0.875,
            interpolation="bicubic",
            notes=f"README: {params} params, {gflops} FLOPs at 224 x 224; trained with the legacy BRA (ops/bra_legacy.py).",
        ),
    )


_biformer_weights("biformer_tiny", 81.4, "s!AkBbczdRlZvChHEOoGkgwgQzEDlM", "13.1 M", "2.2 G")
_biformer_weights("biformer_small", 83.8, "s!AkBbczdRlZvChHDyM-x9KWRBZ832", "25.5 M", "4.5 G")
_biformer_weights("biformer_base", 84.3, "s!AkBbczdRlZvChHI_XPhoadjaNxtO", "56.8 M", "9.8 G")


# --- checkpoint converters ------------------------------------------------------------------------
# BiFormer checkpoints: the official rayleizhu/BiFormer release (``model`` key, ``models/biformer.py`` names).
#
# visionzoo's BiFormer keeps the official module names outside the blocks and uses the shared
# `TransformerBlock` inside them, so the mapping is a few renames (``S`` = ``stages.{i}.{j}``, one block):
#
# =====================================  =====================================
# official                               visionzoo
# =====================================  =====================================
# ``S.attn.qkv.qkv.{weight,bias}``       ``S.attn.qkv.{weight,bias}`` (routing stages; the official
#                                        ``QKVLinear`` wraps the linear layer)
# ``S.mlp.0.{weight,bias}``              ``S.mlp.fc1.{weight,bias}``
# ``S.mlp.3.{weight,bias}``              ``S.mlp.fc2.{weight,bias}`` (``mlp.1`` is an Identity
#                                        without ``mlp_dwconv``, ``mlp.2`` the GELU)
# ``S.gamma1``, ``S.gamma2``             ``S.ls1.gamma``, ``S.ls2.gamma`` (layer-scale variants only)
# everything else                        unchanged: ``downsample_layers.*``, ``S.pos_embed.*``,
#                                        ``S.norm{1,2}.*``, ``S.attn.{wo,lepe}.*`` (routing
#                                        stages), ``S.attn.{qkv,proj,lepe}.*`` (global last
#                                        stage), ``norm.*`` (BatchNorm), ``head.*``
# =====================================  =====================================
#
# A checkpoint of another variant fails the strict load that follows, which lists the mismatched keys.
_BLOCK = r"^(stages\.\d+\.\d+)\."
_RENAMES = (
    (re.compile(_BLOCK + r"attn\.qkv\.qkv\."), r"\1.attn.qkv."),
    (re.compile(_BLOCK + r"mlp\.0\."), r"\1.mlp.fc1."),
    (re.compile(_BLOCK + r"mlp\.3\."), r"\1.mlp.fc2."),
    (re.compile(_BLOCK + r"gamma1$"), r"\1.ls1.gamma"),
    (re.compile(_BLOCK + r"gamma2$"), r"\1.ls2.gamma"),
)


@register_converter(BiFormer, "official")
def convert_official_biformer(state_dict: Mapping[str, Tensor], model: nn.Module) -> StateDict:
    """Official BiFormer release -> visionzoo BiFormer (see the mapping above)."""
    out: StateDict = {}
    for key, value in state_dict.items():
        for pattern, replacement in _RENAMES:
            key = pattern.sub(replacement, key)
        out[key] = value
    return out


@register_detector(BiFormer)
def detect_biformer_layout(state_dict: Mapping[str, Tensor]) -> str:
    """"official" for the rayleizhu/BiFormer names (``attn.qkv.qkv``, ``mlp.0``/``mlp.3``), else "visionzoo"."""
    official = any(re.search(r"\.(attn\.qkv\.qkv|mlp\.[03])\.", k) for k in state_dict)
    return "official" if official else "visionzoo"
