"""Vision Transformer (Dosovitskiy et al., ICLR 2021), assembled from the shared layers, for 2D images and 3D volumes.

Parameter names follow timm's ``VisionTransformer`` (so timm checkpoints map one to one; the converter and the
published weights are at the end of this module). Any input size works: the position embedding is resampled
to the token grid (timm's anti-aliased bicubic in 2D, trilinear in 3D) and sizes that are not multiples of the
patch are zero-padded. The 3D form is the encoder of UNETR.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, Callable

import torch
import torch.nn as nn
from torch import Tensor

from ..constants import IMAGENET_INCEPTION_MEAN, IMAGENET_INCEPTION_STD
from ..layers import PatchEmbed, TransformerBlock, build_attention, resample_abs_pos_embed, to_ntuple, trunc_normal_
from ..layers.attention import AttentionContext, block_attention_configs
from ..registry import image_classifier_cfg, register_model, register_weights
from ..weights import timm_hub_entry
from ..weights.converters import StateDict, register_converter, register_detector
from .base import TimmBackbone
from .features import FeatureInfo

__all__ = ["VisionTransformer"]

_logger = logging.getLogger(__name__)
_POOL_TYPES = ("", "token", "avg", "max")


class VisionTransformer(TimmBackbone):
    """ViT with timm's model interface: forward_features -> (B, N, C) tokens, forward_head -> logits."""

    stages_attr = "blocks"
    pool_types = _POOL_TYPES
    isotropic = True

    def __init__(
        self,
        img_size: int | Sequence[int] = 224,
        patch_size: int = 16,
        in_chans: int = 3,
        num_classes: int = 1000,
        global_pool: str = "token",
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        class_token: bool = True,
        init_values: float | None = None,
        fc_norm: bool | None = None,
        drop_rate: float = 0.0,
        pos_drop_rate: float = 0.0,
        proj_drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        attn: str | dict[str, Any] | Sequence[str | dict[str, Any] | None] | None = None,
        norm_layer: Callable[[int], nn.Module] | None = None,
        act_layer: Callable[[], nn.Module] = nn.GELU,
        spatial_dims: int = 2,
    ) -> None:
        """
        Args:
            img_size: size the position embedding is laid out for; other sizes resample it.
            spatial_dims: 2 for images (B, C, H, W), 3 for volumes (B, C, D, H, W).
            global_pool: "token" (class token), "avg", "max" or "" (no pooling).
            attn: token mixer config for every block, e.g. ``dict(type="softmax")`` (default), or a list with
                one per block (``None`` entries keep softmax attention). Mixers get the position grid at
                `img_size` as the context's ``input_resolution``; mixers that need a pure token grid (window,
                locally-grouped, routing, LePE) need ``class_token=False, global_pool="avg"`` (ViTDet-style).
            fc_norm: normalise after pooling instead of before; defaults to True for avg/max pooling.
        """
        super().__init__()
        if global_pool not in _POOL_TYPES:
            raise ValueError(f"global_pool must be one of {_POOL_TYPES}, got {global_pool!r}")
        if global_pool == "token" and not class_token:
            raise ValueError("global_pool='token' needs class_token=True; use global_pool='avg' without a class token")
        norm_layer = norm_layer or partial(nn.LayerNorm, eps=1e-6)
        use_fc_norm = global_pool in ("avg", "max") if fc_norm is None else fc_norm
        self.has_class_token = class_token
        self._init_interface(in_chans, num_classes, global_pool, embed_dim)
        self.embed_dim = embed_dim
        self.num_prefix_tokens = 1 if class_token else 0

        self.spatial_dims = spatial_dims
        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim, spatial_dims=spatial_dims)
        self.img_size = to_ntuple(img_size, spatial_dims, "img_size")
        self.pos_grid = self.patch_embed.grid_size(self.img_size)
        num_patches = math.prod(self.pos_grid)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim)) if class_token else None
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + self.num_prefix_tokens, embed_dim))
        self.pos_drop = nn.Dropout(pos_drop_rate)

        dpr = torch.linspace(0, drop_path_rate, depth).tolist()
        block_attn = block_attention_configs(attn, depth, where="the ViT")
        context = AttentionContext(
            dim=embed_dim,
            num_heads=num_heads,
            spatial_dims=spatial_dims,
            input_resolution=self.pos_grid,
            num_prefix_tokens=self.num_prefix_tokens,
            qkv_bias=qkv_bias,
            attn_drop=attn_drop_rate,
            proj_drop=proj_drop_rate,
        )
        self.blocks = nn.ModuleList(
            TransformerBlock(
                embed_dim,
                build_attention(block_attn[i], "softmax", context),
                mlp_ratio=mlp_ratio,
                norm_layer=norm_layer,
                act_layer=act_layer,
                drop_path=dpr[i],
                proj_drop=proj_drop_rate,
                init_values=init_values,
            )
            for i in range(depth)
        )
        reduction = self.patch_embed.patch_size[0]
        self.feature_info = FeatureInfo(
            [dict(module=f"blocks.{i}", num_chs=embed_dim, reduction=reduction) for i in range(depth)]
        )
        self.norm = nn.Identity() if use_fc_norm else norm_layer(embed_dim)
        self.fc_norm = norm_layer(embed_dim) if use_fc_norm else nn.Identity()
        self._init_classifier(drop_rate)
        self._init_weights()

    def _init_weights(self) -> None:
        trunc_normal_(self.pos_embed, std=0.02)
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=1e-6)
        for m in self.modules():
            self._init_linear(m)

    # --- timm model interface -------------------------------------------------------------------
    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        return {"pos_embed", "cls_token"}

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        return dict(stem=r"^cls_token|pos_embed|patch_embed", blocks=[(r"^blocks\.(\d+)", None), (r"^norm", (99999,))])

    def _check_pool(self, global_pool: str) -> None:
        """Class-token pooling needs a class token."""
        if global_pool not in _POOL_TYPES or (global_pool == "token" and not self.has_class_token):
            raise ValueError(f"unsupported global_pool {global_pool!r} for this model")

    def _prune_head(self) -> None:
        """Remove the classifier and its pre-logits norm."""
        self.fc_norm = nn.Identity()
        self.reset_classifier(0, "")

    # --- forward ------------------------------------------------------------------------------
    def _stem(self, x: Tensor) -> tuple[Tensor, tuple[int, ...]]:
        """Patch tokens with the class token and the (resampled) position embedding, and their grid."""
        x, grid = self.patch_embed(x)
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        pos_embed = resample_abs_pos_embed(self.pos_embed, grid, self.pos_grid, self.num_prefix_tokens)
        return self.pos_drop(x + pos_embed), grid

    def _run_stage(self, i: int, state: tuple[Tensor, tuple[int, ...]]) -> tuple[Tensor, tuple[int, ...]]:
        """Block `i` (checkpointed when enabled)."""
        x, grid = state
        return self.checkpointed(self.blocks[i], x, grid), grid

    def _apply_norm(self, state: tuple[Tensor, tuple[int, ...]]) -> tuple[Tensor, tuple[int, ...]]:
        """The final norm on the tokens."""
        return self.norm(state[0]), state[1]

    def _features_out(self, state: tuple[Tensor, tuple[int, ...]], i: int) -> Tensor:
        """The token sequence (B, prefix + H*W, C)."""
        return state[0]

    def _stage_to_nchw(
        self, state: tuple[Tensor, tuple[int, ...]], i: int, output_fmt: str = "NCHW", return_prefix_tokens: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        """A block's patch tokens as an NCHW (NCDHW) map or NLC tokens; with `return_prefix_tokens`, (map, prefix)."""
        x, grid = state
        prefix, x = x[:, : self.num_prefix_tokens], x[:, self.num_prefix_tokens:]
        if output_fmt == "NCHW":
            channels_first = (0, len(grid) + 1, *range(1, len(grid) + 1))
            x = x.reshape(x.shape[0], *grid, -1).permute(channels_first).contiguous()
        return (x, prefix) if return_prefix_tokens and self.num_prefix_tokens else x

    def pool(self, x: Tensor) -> Tensor:
        """Class token ("token"), mean or max of the patch tokens, or the tokens themselves ("")."""
        if self.global_pool == "token":
            return x[:, 0]
        if self.global_pool == "avg":
            return x[:, self.num_prefix_tokens:].mean(dim=1)
        if self.global_pool == "max":
            return x[:, self.num_prefix_tokens:].amax(dim=1)
        return x

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Pool, fc_norm, dropout and classifier on the token sequence."""
        x = self.head_drop(self.fc_norm(self.pool(x)))
        return x if pre_logits else self.head(x)

    def forward(self, x: Tensor) -> Tensor:
        """Logits. With class-token pooling the last block runs for the class token alone (same result, ~7% less work)."""
        last = self.blocks[-1] if len(self.blocks) else None
        if self.global_pool != "token" or last is None or not last.supports_prefix_only:
            return self.forward_head(self.forward_features(x))
        state = self._stem(x)
        for i in range(len(self.blocks) - 1):
            state = self._run_stage(i, state)
        x, grid = state
        return self.forward_head(self.norm(last.forward_prefix(x, grid, 1)))

    def forward_intermediates(
        self,
        x: Tensor,
        indices: int | Sequence[int] | None = None,
        return_prefix_tokens: bool = False,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ) -> list[Tensor] | tuple[Tensor, list[Tensor]]:
        """Outputs of the blocks at `indices` (last n if int, all if None) as NCHW (NCDHW) maps or NLC tokens."""
        if output_fmt not in ("NCHW", "NLC"):
            raise ValueError(f"output_fmt must be 'NCHW' or 'NLC', got {output_fmt!r}")
        fmt = partial(self._stage_to_nchw, output_fmt=output_fmt, return_prefix_tokens=return_prefix_tokens)
        return self._intermediates(x, indices, norm, stop_early, intermediates_only, fmt)


_VIT_CFG = image_classifier_cfg(
    "https://arxiv.org/abs/2010.11929", mean=IMAGENET_INCEPTION_MEAN, std=IMAGENET_INCEPTION_STD, tiny=dict(depth=2)
)
_VIT_CFG_384 = {**_VIT_CFG, "input_size": (3, 384, 384), "crop_pct": 1.0}


_VIT_ARCHS = {  # all patch 16, 12 blocks
    "tiny": dict(embed_dim=192, num_heads=3),
    "small": dict(embed_dim=384, num_heads=6),
    "base": dict(embed_dim=768, num_heads=12),
}


def _vit(arch: str, default_img_size: int, /, **kwargs: Any) -> VisionTransformer:
    """ViT-`arch`/16 at `default_img_size`; `kwargs` override any of it."""
    cfg = {"img_size": default_img_size, "patch_size": 16, "depth": 12, **_VIT_ARCHS[arch]}
    return VisionTransformer(**{**cfg, **kwargs})


@register_model(**_VIT_CFG)
def vit_tiny_patch16_224(**kwargs: Any) -> VisionTransformer:
    """ViT-Ti/16 at 224: 192 wide, 12 blocks, 3 heads (5.7 M params)."""
    return _vit("tiny", 224, **kwargs)


@register_model(**_VIT_CFG_384)
def vit_tiny_patch16_384(**kwargs: Any) -> VisionTransformer:
    """ViT-Ti/16 at 384."""
    return _vit("tiny", 384, **kwargs)


@register_model(**_VIT_CFG)
def vit_small_patch16_224(**kwargs: Any) -> VisionTransformer:
    """ViT-S/16 at 224: 384 wide, 12 blocks, 6 heads (22 M params)."""
    return _vit("small", 224, **kwargs)


@register_model(**_VIT_CFG_384)
def vit_small_patch16_384(**kwargs: Any) -> VisionTransformer:
    """ViT-S/16 at 384."""
    return _vit("small", 384, **kwargs)


@register_model(**_VIT_CFG)
def vit_base_patch16_224(**kwargs: Any) -> VisionTransformer:
    """ViT-B/16 at 224: 768 wide, 12 blocks, 12 heads (86 M params)."""
    return _vit("base", 224, **kwargs)


@register_model(**_VIT_CFG_384)
def vit_base_patch16_384(**kwargs: Any) -> VisionTransformer:
    """ViT-B/16 at 384."""
    return _vit("base", 384, **kwargs)


# --- published weights ----------------------------------------------------------------------------
# ViT weights republished by timm on the Hugging Face Hub (AugReg, Steiner et al. 2022; original ViT release).
#
# Top-1 figures: timm's ImageNet-1k evaluation (huggingface/pytorch-image-models, results/results-imagenet.csv).
_AUGREG_PAPER = "How to train your ViT? (Steiner et al., TMLR 2022), https://arxiv.org/abs/2106.10270"


def _timm_weights(name_tag: str, top1: float, top5: float, size: int = 224, paper: str = _AUGREG_PAPER) -> None:
    register_weights(name_tag, timm_hub_entry(
        name_tag,
        license="apache-2.0",
        paper=paper,
        metrics={"imagenet_top1": top1, "imagenet_top5": top5},
        input_size=(3, size, size),
        mean=IMAGENET_INCEPTION_MEAN,
        std=IMAGENET_INCEPTION_STD,
        crop_pct=0.9 if size == 224 else 1.0,
    ))


_timm_weights("vit_tiny_patch16_224.augreg_in21k_ft_in1k", 75.452, 92.858)
_timm_weights("vit_tiny_patch16_384.augreg_in21k_ft_in1k", 78.438, 94.542, 384)
_timm_weights("vit_small_patch16_224.augreg_in21k_ft_in1k", 81.402, 96.150)
_timm_weights("vit_small_patch16_224.augreg_in1k", 78.842, 94.280)
_timm_weights("vit_small_patch16_384.augreg_in21k_ft_in1k", 83.814, 97.106, 384)
_timm_weights("vit_base_patch16_224.augreg2_in21k_ft_in1k", 85.108, 97.530)
_timm_weights("vit_base_patch16_224.augreg_in21k_ft_in1k", 84.534, 97.300)
_timm_weights("vit_base_patch16_224.orig_in21k_ft_in1k", 81.782, 96.122, paper="An Image is Worth 16x16 Words (Dosovitskiy et al., ICLR 2021)")
_timm_weights("vit_base_patch16_384.augreg_in21k_ft_in1k", 86.010, 97.998, 384)


# --- checkpoint converters ------------------------------------------------------------------------
# ViT checkpoints: timm's layout (``timm/vit_*`` on the Hugging Face Hub, timm ``.pth`` releases).
#
# Key mapping: timm and visionzoo share names one to one (``patch_embed.proj``, ``cls_token``,
# ``pos_embed``, ``blocks.{i}.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}``, ``norm``, ``fc_norm``,
# ``head``). The converter only drops the unused ``pre_logits`` layer of old releases and resamples
# ``pos_embed`` when the checkpoint's grid differs from the model's (e.g. 224 weights into a 384 model).
@register_converter(VisionTransformer, "timm")
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


@register_detector(VisionTransformer)
def detect_vit_layout(state_dict: Mapping[str, Tensor]) -> str:
    """Always "timm": timm's names are ours, and its converter only resamples what needs it."""
    return "timm"
