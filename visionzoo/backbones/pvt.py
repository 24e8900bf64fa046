"""Pyramid Vision Transformer: PVT v1 (Wang et al., ICCV 2021) and PVTv2 (Wang et al., CVMJ 2022).

Four stages of pre-norm transformer blocks on a shrinking token grid (strides 4, 8, 16, 32), each block's
token mixer a spatial-reduction attention (`visionzoo.layers.SpatialReductionAttention`, sr ratios 8-4-2-1).

* PVT v1 (`PyramidVisionTransformer`, ``pvt_tiny/small/medium/large``): non-overlapping patch embeddings
  (4x4, then 2x2) with LayerNorm, a learned absolute position embedding per stage laid out for `img_size`
  (resampled bilinearly at other sizes, as the official code does), a class token joining in the last stage,
  a final LayerNorm and a class-token head. Sizes that are not multiples of 32 are zero-padded at each patch
  embedding (the official code drops the remainder and cannot run at most other sizes).
* PVTv2 (`PyramidVisionTransformerV2`, ``pvt_v2_b0..b5``, ``pvt_v2_b2_li``): overlapping patch embeddings
  (7x7 stride 4, then 3x3 stride 2), a 3x3 depthwise conv inside every MLP instead of position embeddings,
  a LayerNorm closing each stage, average pooling. ``linear=True`` (b2_li) pools keys/values to 7x7.
  Any input size runs; parameter names are those of timm's ``pvt_v2_*`` (``patch_embed``,
  ``stages.{i}.downsample/blocks/norm``), so timm state dicts load unchanged.

The official releases (whai362/PVT: ``patch_embed1``, ``block1.0.attn.q``, ``pos_embed1``, ``norm1``...) load
through ``checkpoint_path=`` with the converter at the end of this module, beside the published weights.

Token-mixer API (used by the FLatten and Agent-attention PVTs; keep it stable)
------------------------------------------------------------------------------
Both classes take ``attn: str | dict | list | None = None`` and ``attn_stages: str | None = None``, resolved
per stage by ``visionzoo.layers.stage_attention_configs(attn, attn_stages, 4, depths)`` (``attn_stages="AAAA"``, a
list of four configs, each a config or one per block; ``None`` keeps the spatial-reduction attention). Every block
of stage ``i`` builds its mixer through the one builder contract (`visionzoo.layers.attention.registry`)::

    build_attention(block_cfg, "spatial_reduction", AttentionContext(
        dim=embed_dims[i], num_heads=num_heads[i], qkv_bias=qkv_bias, attn_drop=attn_drop_rate, proj_drop=proj_drop_rate,
        input_resolution=(H_i, W_i),   # the stage's token grid at img_size (56, 28, 14, 7 at 224)
        sr_ratio=sr_ratios[i],         # PVT's spatial reduction (also selects the q/kv parameter layout)
        linear=linear,                 # PVTv2's linear SRA flag (always False for v1)
        num_prefix_tokens=p))          # 1 on the PVT v1 class-token stage (the last), else 0

and calls it as ``mixer(x[B, p + H * W, C], (H, W))``, prefix tokens first. The mixer is the block's ``attn``
submodule, so official keys ``block{i+1}.{j}.attn.*`` and timm keys ``stages.{i}.blocks.{j}.attn.*`` both map
to ``stages.{i}.blocks.{j}.attn.*`` by prefix. `PyramidBackbone` (with `PyramidStageSpec`) and `PvtStage` are
reused by Twins.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

import torch
import torch.nn as nn
from torch import Tensor

from ..layers import (
    PatchEmbed,
    TransformerBlock,
    autograd_free,
    build_attention,
    check_image_input,
    map_microbatches,
    resample_abs_pos_embed,
    stage_attention_configs,
    to_ntuple,
    trunc_normal_,
)
from ..layers.attention import AttentionContext, block_attention_configs
from ..layers.attention.registry import AttnCfg
from ..registry import image_classifier_cfg, register_model, register_weights
from ..weights import WeightEntry, timm_hub_entry
from ..weights.converters import StateDict, register_converter, register_detector
from .base import GradCheckpointing, TimmBackbone
from .features import FeatureInfo

__all__ = [
    "PyramidVisionTransformer",
    "PyramidVisionTransformerV2",
    "PyramidBackbone",
    "PvtStage",
    "PvtV2Block",
    "OverlapPatchEmbed",
    "MlpWithDepthwiseConv",
]

Grid = tuple[int, ...]
_CHUNK_ABOVE_BYTES = 16 << 20  # MLP hidden activations above this are computed a few images at a time (inference)
_CHUNK_BYTES = 4 << 20


class OverlapPatchEmbed(nn.Module):
    """PVTv2's overlapping patch embedding: a conv with kernel > stride (padding kernel // 2), then LayerNorm.

    ``forward(x[B, C, H, W]) -> (tokens[B, H' * W', embed_dim], (H', W'))``; names ``proj``/``norm`` as in timm.
    """

    def __init__(self, patch_size: int = 7, stride: int = 4, in_chans: int = 3, embed_dim: int = 768) -> None:
        super().__init__()
        if patch_size <= stride:
            raise ValueError(f"an overlapping patch embedding needs patch_size > stride, got {patch_size} and {stride}")
        self.in_chans = in_chans
        self.patch_size, self.stride = patch_size, stride
        self.proj = nn.Conv2d(in_chans, embed_dim, patch_size, stride=stride, padding=patch_size // 2)
        self.norm = nn.LayerNorm(embed_dim)

    def grid_size(self, spatial: Sequence[int]) -> Grid:
        """Token grid for an input of spatial size `spatial` (the conv's output size)."""
        pad = self.patch_size // 2
        return tuple((s + 2 * pad - self.patch_size) // self.stride + 1 for s in spatial)

    def forward(self, x: Tensor) -> tuple[Tensor, Grid]:
        check_image_input(x, self.in_chans)
        x = self.proj(x)
        grid = tuple(x.shape[2:])
        return self.norm(x.flatten(2).transpose(1, 2)), grid


class MlpWithDepthwiseConv(nn.Module):
    """PVTv2's MLP: ``fc2(act(dwconv3x3(fc1(x))))`` on the token grid; ``extra_relu`` after fc1 for linear SRA.

    Names (``fc1``, ``dwconv``, ``fc2``) follow timm; the official release nests the conv as ``dwconv.dwconv``.
    Gradient-free forwards whose hidden activation exceeds 16 MB run a few images at a time (the conv needs whole
    grids, so the batch is split rather than the rows), keeping the 8x-wide hidden tensor cache-sized.
    """

    def __init__(
        self,
        in_features: int,
        hidden_features: int,
        act_layer: Callable[[], nn.Module] = nn.GELU,
        drop: float = 0.0,
        extra_relu: bool = False,
    ) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.relu = nn.ReLU() if extra_relu else nn.Identity()
        self.dwconv = nn.Conv2d(hidden_features, hidden_features, 3, padding=1, groups=hidden_features)
        self.act = act_layer()
        self.fc2 = nn.Linear(hidden_features, in_features)
        self.drop = nn.Dropout(drop)

    def forward(self, x: Tensor, shape: Sequence[int]) -> Tensor:
        if autograd_free() and x.shape[0] > 1:  # inference: bound the hidden activation (see visionzoo.layers.mlp)
            hidden_bytes = x.numel() // x.shape[-1] * self.fc1.out_features * x.element_size()
            if hidden_bytes > _CHUNK_ABOVE_BYTES:
                per = max(1, x.shape[0] * _CHUNK_BYTES // hidden_bytes)
                return torch.cat([self._forward(x[i:i + per], shape) for i in range(0, x.shape[0], per)])
        return self._forward(x, shape)

    def _forward(self, x: Tensor, shape: Sequence[int]) -> Tensor:
        x = self.relu(self.fc1(x))
        b, n, c = x.shape
        # the grid as a channels-last view: oneDNN's depthwise kernel then runs without layout copies (~1.4x faster)
        x = self.dwconv(x.view(b, *shape, c).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).reshape(b, n, c)
        return self.drop(self.fc2(self.drop(self.act(x))))


class PvtV2Block(TransformerBlock):
    """`TransformerBlock` whose MLP is `MlpWithDepthwiseConv` (it needs the grid too; ``extra_relu`` for linear SRA)."""

    def __init__(self, dim: int, mixer: nn.Module, *args: Any, extra_relu: bool = False, **kwargs: Any) -> None:
        super().__init__(dim, mixer, *args, mlp_layer=partial(MlpWithDepthwiseConv, extra_relu=extra_relu), **kwargs)

    @property
    def supports_prefix_only(self) -> bool:
        return False

    def forward(self, x: Tensor, shape: Sequence[int]) -> Tensor:
        x = x + self.drop_path1(self.ls1(self.attn(self.norm1(x), shape)))
        return x + self.drop_path2(self.ls2(self.mlp(self.norm2(x), shape)))


class PvtStage(GradCheckpointing, nn.Module):
    """One pyramid stage on tokens: [downsampling patch embed] -> [class token] -> [absolute position embedding]
    -> blocks, with an optional PEG after the first -> [norm].

    ``forward(tokens[B, H * W, C_in], grid) -> (tokens[B, prefix + H' * W', C], grid')``; the input has no prefix.
    """

    def __init__(
        self,
        dim: int,
        blocks: Sequence[nn.Module],
        downsample: nn.Module | None = None,
        pos_grid: Grid | None = None,
        num_prefix_tokens: int = 0,
        pos_drop: float = 0.0,
        peg: nn.Module | None = None,
        norm: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.num_prefix_tokens = num_prefix_tokens
        self.downsample = downsample
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim)) if num_prefix_tokens else None
        self.pos_grid = tuple(pos_grid) if pos_grid is not None else None
        if pos_grid is not None:
            self.pos_embed = nn.Parameter(torch.zeros(1, num_prefix_tokens + math.prod(pos_grid), dim))
        else:
            self.pos_embed = None
        self.pos_drop = nn.Dropout(pos_drop)
        self.blocks = nn.ModuleList(blocks)
        self.peg = peg
        self.norm = norm if norm is not None else nn.Identity()

    def forward(self, x: Tensor, grid: Grid) -> tuple[Tensor, Grid]:
        if self.downsample is not None:
            b, _, c = x.shape
            x, grid = self.downsample(x.transpose(1, 2).reshape(b, c, *grid))
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        if self.pos_embed is not None:
            x = x + resample_abs_pos_embed(self.pos_embed, grid, self.pos_grid, self.num_prefix_tokens, mode="bilinear")
        x = map_microbatches(lambda t: self._blocks(t, grid), self.pos_drop(x))
        return self.norm(x), grid

    def _blocks(self, x: Tensor, grid: Grid) -> Tensor:
        for i, block in enumerate(self.blocks):
            x = self.checkpointed(block, x, grid)
            if i == 0 and self.peg is not None:
                x = self.peg(x, grid)
        return x


def stage_drop_path_rates(drop_path_rate: float, depths: Sequence[int]) -> list[list[float]]:
    """Stochastic-depth rates rising linearly over all blocks, split per stage (the official rule)."""
    total = sum(depths)
    rates = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]  # plain floats: also builds on "meta"
    starts = [sum(depths[:i]) for i in range(len(depths))]
    return [rates[s:s + d] for s, d in zip(starts, depths)]


def per_stage_values(value: Any, n: int, name: str) -> tuple:
    """`value` for each of `n` stages: a number repeated, or a sequence of exactly `n` entries."""
    if isinstance(value, (int, float)):
        return (value,) * n
    value = tuple(value)
    if len(value) != n:
        raise ValueError(f"{name} needs one entry per stage ({n}), got {value}")
    return value


@dataclass(frozen=True)
class PyramidStageSpec:
    """One stage of a pyramid as `PyramidBackbone._init_pyramid` hands it to the family's stage builder."""

    index: int
    dim: int
    grid: Grid  # the stage's token grid at img_size
    downsample: nn.Module | None  # the patch embedding into the stage (None for the first: the stem precedes it)
    context: AttentionContext  # the mixers' context: width, heads, grid, sr ratio, linear, qkv bias, drop rates
    block_attn: list[AttnCfg]  # one token-mixer config per block (None: the family's default mixer)
    mlp_ratio: float
    drop_path: list[float]  # one stochastic-depth rate per block
    norm_layer: Callable[[int], nn.Module]
    proj_drop: float

    def blocks(
        self,
        block: Callable[..., nn.Module],
        default: str | Callable[[int], str],
        context: AttentionContext | None = None,
        **kwargs: Any,
    ) -> list[nn.Module]:
        """The stage's blocks: ``block(dim, mixer, mlp_ratio=, norm_layer=, drop_path=, proj_drop=, **kwargs)``, each
        mixer built from its config through the builder contract, with the `default` mixer type (a function of
        the block index where it alternates) and `context` (default: the stage's)."""
        context = context or self.context
        return [
            block(
                self.dim,
                build_attention(cfg, default(j) if callable(default) else default, context),
                mlp_ratio=self.mlp_ratio,
                norm_layer=self.norm_layer,
                drop_path=self.drop_path[j],
                proj_drop=self.proj_drop,
                **kwargs,
            )
            for j, cfg in enumerate(self.block_attn)
        ]


class PyramidBackbone(TimmBackbone):
    """The PVT family and Twins: a stem `patch_embed`, `stages` on (tokens, grid), final `norm`, linear head.

    A constructor defines its stem/downsampling embeddings and a stage builder and hands them to `_init_pyramid`.
    """

    output_fmt = "NLC"  # what forward_features returns: tokens (B, [prefix +] N, C), or NCHW maps
    patch_embed: nn.Module
    stages: nn.Sequential
    norm: nn.Module

    def _init_pyramid(
        self,
        *,
        img_size: int | Sequence[int],
        in_chans: int,
        num_classes: int,
        global_pool: str,
        depths: Sequence[int],
        embed_dims: int | Sequence[int],
        num_heads: int | Sequence[int],
        mlp_ratios: float | Sequence[float],
        sr_ratios: int | Sequence[int],
        qkv_bias: bool,
        linear: bool,
        drop_rate: float,
        proj_drop_rate: float,
        attn_drop_rate: float,
        drop_path_rate: float,
        attn: AttnCfg | Sequence[AttnCfg],
        attn_stages: str | None,
        norm_layer: Callable[[int], nn.Module] | None,
        final_norm: bool,
        stage: Callable[[PyramidStageSpec], PvtStage],
        stem_stride: int,
        embed: Callable[[int, int, int], nn.Module] | None = None,
    ) -> None:
        """Everything a pyramid constructor builds around its stages, and the loop that makes them.

        Sets timm's attributes (`_init_interface`), `img_size` and `embed_dims`; builds the stem ``patch_embed =
        embed(0, in_chans, embed_dims[0])``, then per stage `i` its downsampling ``embed(i, previous dim, dim)``
        (both have ``grid_size``), its `PyramidStageSpec` and ``stage(spec)``; then `feature_info` (strides
        ``stem_stride * 2**i``), the final `norm` (``norm_layer``, or none without `final_norm`), the classifier
        and the weights. Per-stage values are a number or one per stage; drop-path rates rise over all blocks;
        `norm_layer` defaults to LayerNorm with eps 1e-6.
        `embed` defaults to PVT v1's non-overlapping patch embeddings with LayerNorm (`stem_stride`, then 2x2).
        """
        if embed is None:
            def embed(i: int, in_dim: int, dim: int) -> nn.Module:
                return PatchEmbed(stem_stride if i == 0 else 2, in_dim, dim, norm_layer=nn.LayerNorm)

        n = len(depths)
        norm_layer = norm_layer or partial(nn.LayerNorm, eps=1e-6)
        dims, heads = per_stage_values(embed_dims, n, "embed_dims"), per_stage_values(num_heads, n, "num_heads")
        mlp_ratios, sr_ratios = per_stage_values(mlp_ratios, n, "mlp_ratios"), per_stage_values(sr_ratios, n, "sr_ratios")
        self._init_interface(in_chans, num_classes, global_pool, dims[-1])
        self.img_size = to_ntuple(img_size, 2, "img_size")
        self.embed_dims = dims
        attn_cfgs = stage_attention_configs(attn, attn_stages, n, depths)
        dpr = stage_drop_path_rates(drop_path_rate, depths)

        self.patch_embed = embed(0, in_chans, dims[0])
        grid = self.patch_embed.grid_size(self.img_size)
        stages, info = [], []
        for i in range(n):
            downsample = None
            if i > 0:
                downsample = embed(i, dims[i - 1], dims[i])
                grid = downsample.grid_size(grid)
            context = AttentionContext(
                dims[i], heads[i], input_resolution=grid, qkv_bias=qkv_bias, attn_drop=attn_drop_rate,
                proj_drop=proj_drop_rate, sr_ratio=sr_ratios[i], linear=linear,
            )
            block_attn = block_attention_configs(attn_cfgs[i], depths[i])
            stages.append(stage(PyramidStageSpec(
                i, dims[i], grid, downsample, context, block_attn, mlp_ratios[i], dpr[i], norm_layer, proj_drop_rate
            )))
            info.append(dict(num_chs=dims[i], reduction=stem_stride * 2**i, module=f"stages.{i}"))
        self.stages = nn.Sequential(*stages)
        self.feature_info = FeatureInfo(info)
        self.norm = norm_layer(self.num_features) if final_norm else nn.Identity()
        self._init_classifier(drop_rate)
        self._init_weights()

    def _init_weights(self) -> None:
        if next(self.parameters()).is_meta:  # shape-only builds (param/FLOP counts): nothing to initialise
            return
        for name, p in self.named_parameters():
            if name.endswith(("pos_embed", "cls_token")):
                trunc_normal_(p, std=0.02)
        for m in self.modules():
            self._init_linear(m)
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
                nn.init.normal_(m.weight, std=math.sqrt(2.0 / fan_out))
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    # --- timm model interface -------------------------------------------------------------------
    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        return {n for n, _ in self.named_parameters() if n.endswith(("pos_embed", "cls_token")) or ".peg." in n}

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        if coarse:
            return dict(stem=r"^patch_embed", blocks=[(r"^stages\.(\d+)", None), (r"^norm", (99999,))])
        return dict(
            stem=r"^patch_embed",
            blocks=[
                (r"^stages\.(\d+)\.blocks\.(\d+)", None),
                (r"^stages\.(\d+)\.(?:downsample|pos_embed|cls_token)", (0,)),
                (r"^stages\.(\d+)\.norm", (99998,)),
                (r"^norm", (99999,)),
            ],
        )

    # --- forward ------------------------------------------------------------------------------
    def _stem(self, x: Tensor) -> tuple[Tensor, Grid]:
        """Patch tokens (B, H * W, C) and their grid."""
        return self.patch_embed(x)

    def _run_stage(self, i: int, state: tuple[Tensor, Grid]) -> tuple[Tensor, Grid]:
        """Stage `i` on (tokens, grid); its blocks checkpoint themselves."""
        return self.stages[i](*state)

    def _apply_norm(self, state: tuple[Tensor, Grid]) -> tuple[Tensor, Grid]:
        """The final norm on the tokens."""
        return self.norm(state[0]), state[1]

    def _stage_to_nchw(self, state: tuple[Tensor, Grid], i: int) -> Tensor:
        """Stage `i`'s tokens without its prefix (class token) as a contiguous (B, C, H, W) map."""
        x, grid = state
        x = x[:, self.stages[i].num_prefix_tokens:]
        return x.transpose(1, 2).reshape(x.shape[0], -1, *grid).contiguous()

    def _features_out(self, state: tuple[Tensor, Grid], i: int) -> Tensor:
        """Tokens (B, [1 +] H * W, C), or the NCHW map where `output_fmt` is "NCHW" (PVTv2)."""
        return self._stage_to_nchw(state, i) if self.output_fmt == "NCHW" else state[0]

    def pool(self, x: Tensor) -> Tensor:
        """Mean of an NCHW map or of the grid tokens ("avg"), the class token ("token"), or nothing ("")."""
        if not self.global_pool:
            return x
        if self.output_fmt == "NCHW":
            return x.mean(dim=(2, 3))
        if self.global_pool == "token":
            return x[:, 0]
        return x[:, self.stages[-1].num_prefix_tokens:].mean(dim=1)


class PyramidVisionTransformer(PyramidBackbone):
    """PVT v1 with timm's model interface: forward_features -> tokens (B, 1 + H * W, C), forward_head -> logits."""

    pool_types = ("token", "avg", "")

    def __init__(
        self,
        img_size: int | Sequence[int] = 224,
        patch_size: int = 4,
        in_chans: int = 3,
        num_classes: int = 1000,
        global_pool: str = "token",
        embed_dims: Sequence[int] = (64, 128, 320, 512),
        num_heads: Sequence[int] = (1, 2, 5, 8),
        mlp_ratios: float | Sequence[float] = (8, 8, 4, 4),
        depths: Sequence[int] = (2, 2, 2, 2),
        sr_ratios: int | Sequence[int] = (8, 4, 2, 1),
        qkv_bias: bool = True,
        class_token: bool = True,
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
            img_size: the size the position embeddings are laid out for; other sizes resample them.
            global_pool: "token" (class token, the official head), "avg" (mean of the grid tokens) or "".
            attn, attn_stages: token mixer per stage (see the module docstring); default spatial reduction.
        """
        super().__init__()
        if global_pool == "token" and not class_token:
            raise ValueError("global_pool='token' needs class_token=True; use global_pool='avg' without a class token")
        self.num_prefix_tokens = 1 if class_token else 0
        last = len(depths) - 1

        def stage(s: PyramidStageSpec) -> PvtStage:
            prefix = self.num_prefix_tokens if s.index == last else 0  # the class token joins in the last stage
            blocks = s.blocks(TransformerBlock, "spatial_reduction", s.context.replace(num_prefix_tokens=prefix))
            return PvtStage(s.dim, blocks, s.downsample, pos_grid=s.grid, num_prefix_tokens=prefix, pos_drop=pos_drop_rate)

        self._init_pyramid(
            img_size=img_size, in_chans=in_chans, num_classes=num_classes, global_pool=global_pool, depths=depths,
            embed_dims=embed_dims, num_heads=num_heads, mlp_ratios=mlp_ratios, sr_ratios=sr_ratios, qkv_bias=qkv_bias,
            linear=False, drop_rate=drop_rate, proj_drop_rate=proj_drop_rate, attn_drop_rate=attn_drop_rate,
            drop_path_rate=drop_path_rate, attn=attn, attn_stages=attn_stages, norm_layer=norm_layer, final_norm=True,
            stage=stage, stem_stride=patch_size,
        )


class PyramidVisionTransformerV2(PyramidBackbone):
    """PVTv2 with timm's model interface: forward_features -> (B, C, H, W), forward_head -> logits."""

    output_fmt = "NCHW"

    def __init__(
        self,
        img_size: int | Sequence[int] = 224,
        in_chans: int = 3,
        num_classes: int = 1000,
        global_pool: str = "avg",
        embed_dims: Sequence[int] = (64, 128, 256, 512),
        num_heads: Sequence[int] = (1, 2, 4, 8),
        mlp_ratios: float | Sequence[float] = (8, 8, 4, 4),
        depths: Sequence[int] = (3, 4, 6, 3),
        sr_ratios: int | Sequence[int] = (8, 4, 2, 1),
        qkv_bias: bool = True,
        linear: bool = False,
        drop_rate: float = 0.0,
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
            linear: PVTv2-Li: keys/values pooled to 7x7 (linear cost), ReLU before the MLP's depthwise conv.
            attn, attn_stages: token mixer per stage (see the module docstring); default spatial reduction.
        """
        super().__init__()

        def embed(i: int, in_dim: int, dim: int) -> nn.Module:
            return OverlapPatchEmbed(7, 4, in_dim, dim) if i == 0 else OverlapPatchEmbed(3, 2, in_dim, dim)

        def stage(s: PyramidStageSpec) -> PvtStage:
            blocks = s.blocks(PvtV2Block, "spatial_reduction", extra_relu=linear)
            return PvtStage(s.dim, blocks, s.downsample, norm=s.norm_layer(s.dim))  # each stage closes with its own norm

        self._init_pyramid(
            img_size=img_size, in_chans=in_chans, num_classes=num_classes, global_pool=global_pool, depths=depths,
            embed_dims=embed_dims, num_heads=num_heads, mlp_ratios=mlp_ratios, sr_ratios=sr_ratios, qkv_bias=qkv_bias,
            linear=linear, drop_rate=drop_rate, proj_drop_rate=proj_drop_rate, attn_drop_rate=attn_drop_rate,
            drop_path_rate=drop_path_rate, attn=attn, attn_stages=attn_stages, norm_layer=norm_layer, final_norm=False,
            stage=stage, stem_stride=4, embed=embed,
        )


_PVT_CFG = image_classifier_cfg(
    "https://arxiv.org/abs/2102.12122", crop_pct=0.875,
    tiny=dict(depths=(1, 1, 1, 1), embed_dims=(16, 32, 48, 64), num_heads=(1, 2, 3, 4)),
)
_PVT_V2_CFG = {**_PVT_CFG, "crop_pct": 0.9, "paper": "https://arxiv.org/abs/2106.13797"}
_V1_DEPTHS = {"tiny": (2, 2, 2, 2), "small": (3, 4, 6, 3), "medium": (3, 4, 18, 3), "large": (3, 8, 27, 3)}


def _pvt(size: str, **kwargs: Any) -> PyramidVisionTransformer:
    cfg = dict(embed_dims=(64, 128, 320, 512), num_heads=(1, 2, 5, 8), mlp_ratios=(8, 8, 4, 4), depths=_V1_DEPTHS[size])
    return PyramidVisionTransformer(**{**cfg, **kwargs})


@register_model(**_PVT_CFG)
def pvt_tiny(**kwargs: Any) -> PyramidVisionTransformer:
    """PVT-Tiny: dims 64-128-320-512, depths 2-2-2-2, heads 1-2-5-8, sr 8-4-2-1 (13.2 M params)."""
    return _pvt("tiny", **kwargs)


@register_model(**_PVT_CFG)
def pvt_small(**kwargs: Any) -> PyramidVisionTransformer:
    """PVT-Small: depths 3-4-6-3 (24.5 M params)."""
    return _pvt("small", **kwargs)


@register_model(**_PVT_CFG)
def pvt_medium(**kwargs: Any) -> PyramidVisionTransformer:
    """PVT-Medium: depths 3-4-18-3 (44.2 M params)."""
    return _pvt("medium", **kwargs)


@register_model(**_PVT_CFG)
def pvt_large(**kwargs: Any) -> PyramidVisionTransformer:
    """PVT-Large: depths 3-8-27-3 (61.4 M params)."""
    return _pvt("large", **kwargs)


def _pvt_v2(
    default_depths: tuple[int, ...], default_dims: tuple[int, ...] = (64, 128, 320, 512), /, **kwargs: Any
) -> PyramidVisionTransformerV2:
    cfg = dict(embed_dims=default_dims, num_heads=(1, 2, 5, 8), mlp_ratios=(8, 8, 4, 4), depths=default_depths)
    return PyramidVisionTransformerV2(**{**cfg, **kwargs})


@register_model(**_PVT_V2_CFG)
def pvt_v2_b0(**kwargs: Any) -> PyramidVisionTransformerV2:
    """PVTv2-B0: dims 32-64-160-256, depths 2-2-2-2 (3.7 M params)."""
    return _pvt_v2((2, 2, 2, 2), (32, 64, 160, 256), **kwargs)


@register_model(**_PVT_V2_CFG)
def pvt_v2_b1(**kwargs: Any) -> PyramidVisionTransformerV2:
    """PVTv2-B1: dims 64-128-320-512, depths 2-2-2-2 (14.0 M params)."""
    return _pvt_v2((2, 2, 2, 2), **kwargs)


@register_model(**_PVT_V2_CFG)
def pvt_v2_b2(**kwargs: Any) -> PyramidVisionTransformerV2:
    """PVTv2-B2: depths 3-4-6-3 (25.4 M params)."""
    return _pvt_v2((3, 4, 6, 3), **kwargs)


@register_model(**_PVT_V2_CFG)
def pvt_v2_b2_li(**kwargs: Any) -> PyramidVisionTransformerV2:
    """PVTv2-B2-Li: B2 with linear spatial reduction (keys/values pooled to 7x7) (22.6 M params)."""
    return _pvt_v2((3, 4, 6, 3), **{"linear": True, **kwargs})


@register_model(**_PVT_V2_CFG)
def pvt_v2_b3(**kwargs: Any) -> PyramidVisionTransformerV2:
    """PVTv2-B3: depths 3-4-18-3 (45.2 M params)."""
    return _pvt_v2((3, 4, 18, 3), **kwargs)


@register_model(**_PVT_V2_CFG)
def pvt_v2_b4(**kwargs: Any) -> PyramidVisionTransformerV2:
    """PVTv2-B4: depths 3-8-27-3 (62.6 M params)."""
    return _pvt_v2((3, 8, 27, 3), **kwargs)


@register_model(**_PVT_V2_CFG)
def pvt_v2_b5(**kwargs: Any) -> PyramidVisionTransformerV2:
    """PVTv2-B5: depths 3-6-40-3, MLP ratio 4 in every stage (82.0 M params)."""
    return _pvt_v2((3, 6, 40, 3), **{"mlp_ratios": (4, 4, 4, 4), **kwargs})


# --- published weights ----------------------------------------------------------------------------
# PVT v1 and PVTv2 weights: the official whai362/PVT ImageNet-1k releases, and timm's Hub copies of PVTv2.
#
# Top-1 is the publisher's figure (whai362/PVT ``classification/README.md``, "Model Zoo", 224^2). The v1 files
# are served by GitHub release ``v2`` and load through the whai362 converter; PVTv2 resolves to timm's
# ``timm/pvt_v2_*.in1k`` safetensors (the same weights, timm's names), with the GitHub URL kept in ``notes``.
# Evaluation follows DeiT's (resize 256, centre crop 224, bicubic) in the official code; timm evaluates PVTv2
# at crop 0.9. Apache-2.0 licence. No sha256 is published for the release files.
_V1_PAPER = (
    "Pyramid Vision Transformer: A Versatile Backbone for Dense Prediction without Convolutions "
    "(Wang et al., ICCV 2021), https://arxiv.org/abs/2102.12122"
)
_V2_PAPER = (
    "PVT v2: Improved Baselines with Pyramid Vision Transformer (Wang et al., CVMJ 2022), https://arxiv.org/abs/2106.13797"
)
_CODE = "https://github.com/whai362/PVT"
_RELEASE = "https://github.com/whai362/PVT/releases/download/v2/"


def _v1_weights(arch: str, top1: float) -> None:
    register_weights(
        arch,
        "in1k",
        WeightEntry(
            source="whai362",
            url=f"{_RELEASE}{arch}.pth",
            license="apache-2.0",
            paper=_V1_PAPER,
            official_code=_CODE,
            metrics={"imagenet_top1": top1},
            crop_pct=0.875,
            notes="official release (whai362/PVT classification/README.md, PVTv1 on ImageNet-1K)",
        ),
    )


def _v2_weights(arch: str, top1: float) -> None:
    register_weights(f"{arch}.in1k", timm_hub_entry(
        f"{arch}.in1k",
        license="apache-2.0",
        paper=_V2_PAPER,
        official_code=_CODE,
        metrics={"imagenet_top1": top1},
        crop_pct=0.9,
        notes=f"official release: {_RELEASE}{arch}.pth (loads with checkpoint_path=, whai362 layout)",
    ))


_v1_weights("pvt_tiny", 75.1)
_v1_weights("pvt_small", 79.8)
_v1_weights("pvt_medium", 81.2)
_v1_weights("pvt_large", 81.7)

_v2_weights("pvt_v2_b0", 70.5)
_v2_weights("pvt_v2_b1", 78.7)
_v2_weights("pvt_v2_b2", 82.0)
_v2_weights("pvt_v2_b2_li", 82.1)
_v2_weights("pvt_v2_b3", 83.1)
_v2_weights("pvt_v2_b4", 83.6)
_v2_weights("pvt_v2_b5", 83.8)


# --- checkpoint converters ------------------------------------------------------------------------
# PVT v1 / PVTv2 checkpoints: the official releases (whai362/PVT ``classification/pvt.py``, ``pvt_v2.py``) and timm.
#
# Key mapping, official -> visionzoo (``i`` = 1..4 is the official stage number, ``s = i - 1`` ours):
#
# ==============================================  ==============================================
# ``patch_embed1.{proj,norm}.*``                  ``patch_embed.{proj,norm}.*``
# ``patch_embed{i}.{proj,norm}.*`` (i > 1)        ``stages.{s}.downsample.{proj,norm}.*``
# ``block{i}.{j}.*``                              ``stages.{s}.blocks.{j}.*`` (``norm1``, ``attn.{q,kv,sr,norm,
#                                                 proj}``, ``norm2``, ``mlp.{fc1,fc2}`` unchanged)
# ``block{i}.{j}.mlp.dwconv.dwconv.*`` (v2)       ``stages.{s}.blocks.{j}.mlp.dwconv.*``
# ``norm{i}.*`` (v2, per-stage norm)              ``stages.{s}.norm.*``
# ``pos_embed{i}`` (v1)                           ``stages.{s}.pos_embed``
# ``cls_token`` (v1)                              ``stages.{last}.cls_token``
# ``norm.*``, ``head.*``                          unchanged
# ==============================================  ==============================================
#
# timm's ``pvt_v2_*`` uses visionzoo's names already (identity). A v1 checkpoint offered to a PVTv2 model (or
# the reverse) is rejected with the keys that tell them apart. The PVT-based releases of other papers (FLatten,
# Agent attention) keep these names around their own attention parameters, so they convert the same way; their
# v1 models pool the last stage without the final ``norm`` their files carry (the official forward never
# applies it), so a model without a final norm drops the file's ``norm.*``.
_PVTS = (PyramidVisionTransformer, PyramidVisionTransformerV2)
_RULES = (
    (re.compile(r"^patch_embed1\."), lambda m: "patch_embed."),
    (re.compile(r"^patch_embed(\d+)\."), lambda m: f"stages.{int(m.group(1)) - 1}.downsample."),
    (re.compile(r"^block(\d+)\.(\d+)\."), lambda m: f"stages.{int(m.group(1)) - 1}.blocks.{m.group(2)}."),
    (re.compile(r"^norm(\d+)\."), lambda m: f"stages.{int(m.group(1)) - 1}.norm."),
    (re.compile(r"^pos_embed(\d+)$"), lambda m: f"stages.{int(m.group(1)) - 1}.pos_embed"),
)


def rename_by_first_rule(key: str, rules: Sequence[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]]) -> str:
    """`key` rewritten by the first of `rules` (pattern, replacement) whose pattern matches; unchanged if none does."""
    for pattern, repl in rules:
        new, count = pattern.subn(repl, key)
        if count:
            return new
    return key


def official_pvt_key(key: str, num_stages: int = 4) -> str:
    """One whai362/PVT (v1 or v2) parameter name in visionzoo's layout (see the mapping above)."""
    if key == "cls_token":
        return f"stages.{num_stages - 1}.cls_token"
    return rename_by_first_rule(key.replace(".mlp.dwconv.dwconv.", ".mlp.dwconv."), _RULES)


def _is_v1(model: nn.Module) -> bool:
    return any(k.endswith("pos_embed") for k in model.state_dict())


def _check_version(state_dict: Mapping[str, Tensor], model: nn.Module, layout: str) -> None:
    ckpt_v1 = any(re.match(r"^(pos_embed\d+|stages\.\d+\.pos_embed)$", k) for k in state_dict)
    if ckpt_v1 == _is_v1(model):
        return
    marker = sorted(k for k in state_dict if re.match(r"^(pos_embed|norm\d|stages\.\d+\.(pos_embed|norm\.))", k))[:4]
    have = "PVT v1 (absolute position embeddings)" if ckpt_v1 else "PVTv2 (per-stage norms, no position embeddings)"
    want = "pvt_tiny/small/medium/large" if ckpt_v1 else "pvt_v2_b*"
    raise ValueError(
        f"this {layout} checkpoint is a {have} model, keys {marker}; the model is a {type(model).__name__}. "
        f"Build one of {want} instead."
    )


@register_converter(_PVTS, "whai362")
def convert_official_pvt(state_dict: Mapping[str, Tensor], model: nn.Module) -> StateDict:
    """Official whai362/PVT release (v1 or v2) -> visionzoo (see the mapping above)."""
    _check_version(state_dict, model, "whai362/PVT")
    num_stages = len(getattr(model, "stages", ())) or 4
    out = {official_pvt_key(k, num_stages): v for k, v in state_dict.items()}
    if "norm.weight" not in model.state_dict():  # no final norm (FLatten/Agent PVT v1): the file's is unused
        out = {k: v for k, v in out.items() if not k.startswith("norm.")}
    return out


@register_converter(_PVTS, "timm")
def convert_timm_pvt(state_dict: Mapping[str, Tensor], model: nn.Module) -> StateDict:
    """timm ``pvt_v2_*`` -> visionzoo: the same names."""
    _check_version(state_dict, model, "timm")
    return dict(state_dict)


@register_detector(_PVTS)
def detect_pvt_layout(state_dict: Mapping[str, Tensor]) -> str:
    """"whai362" for the official names (``patch_embed1``, ``block1.*``), "timm" for timm's PVTv2, else "visionzoo"."""
    if "patch_embed1.proj.weight" in state_dict or any(k.startswith("block1.") for k in state_dict):
        return "whai362"
    return "timm" if "stages.0.blocks.0.mlp.dwconv.weight" in state_dict else "visionzoo"

