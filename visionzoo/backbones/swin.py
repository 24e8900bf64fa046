"""Swin Transformer (Liu et al., ICCV 2021), assembled from the shared window attention and transformer block.

Parameter names follow timm (``layers.{i}.downsample`` opens stage i, ``head.fc``); the original
Microsoft release (downsample closing each stage, ``head``) is converted by the converter at the end of
this module, beside the published weights. Any input size works: grids are padded to whole windows (official
detection-code convention) and odd sizes are padded before patch merging.

Other token mixers plug in per stage (``attn=dict(type="focused_linear"), attn_stages="LLSS"``, as the
FLatten and Agent-attention Swins): stages marked S/B keep window attention, the others use `attn`.
Mixers that are not windowed (focused linear, agent) see the whole stage grid as one global window at
any input size; the official FLatten/Agent Swins get the same at 224^2 from a window of 56 (= the
stage-1 grid), and their position tables, sized for the stage grid at `img_size`
(``input_resolution``), are resampled at other sizes.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Callable

import torch
import torch.nn as nn
from timm.layers import ClassifierHead, resize_rel_pos_bias_table
from torch import Tensor

from ..layers import (
    PatchEmbed,
    TransformerBlock,
    build_attention,
    map_microbatches,
    pad_end,
    stage_attention_configs,
    to_ntuple,
)
from ..layers.attention import AttentionContext, block_attention_configs
from ..registry import image_classifier_cfg, register_model, register_weights
from ..weights import timm_hub_entry
from ..weights.converters import StateDict, register_converter, register_detector
from .base import GradCheckpointing, TimmBackbone
from .features import FeatureInfo

__all__ = ["SwinTransformer", "SwinStage", "PatchMerging"]

AttnCfg = str | dict[str, Any] | None

# Offsets of the 2x2 neighbours concatenated by the official Swin (and timm): x0 (0,0), x1 (1,0), x2 (0,1), x3 (1,1)
SWIN_MERGE_ORDER_2D = ((0, 0), (1, 0), (0, 1), (1, 1))


class PatchMerging(nn.Module):
    """Halve the grid by concatenating each 2x2 (2x2x2) neighbourhood in `order`, then norm and project.

    Works on channels-last grids (B, *grid, C); odd sizes are zero-padded at the end first.
    """

    def __init__(
        self,
        dim: int,
        out_dim: int | None = None,
        norm_layer: Callable[[int], nn.Module] = nn.LayerNorm,
        order: Sequence[Sequence[int]] = SWIN_MERGE_ORDER_2D,
    ) -> None:
        super().__init__()
        self.order = tuple(tuple(o) for o in order)
        self.spatial_dims = len(self.order[0])
        if len(self.order) != 2**self.spatial_dims:
            raise ValueError(f"merge order needs {2 ** self.spatial_dims} offsets, got {len(self.order)}")
        self.out_dim = out_dim or 2 * dim
        self.norm = norm_layer(len(self.order) * dim)
        self.reduction = nn.Linear(len(self.order) * dim, self.out_dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        x = pad_end(x, [s % 2 for s in x.shape[1:-1]], channels_last=True)
        parts = [x[(slice(None),) + tuple(slice(o, None, 2) for o in offset)] for offset in self.order]
        return self.reduction(self.norm(torch.cat(parts, dim=-1)))


class SwinStage(GradCheckpointing, nn.Module):
    """Optional patch merging followed by `depth` blocks alternating W-MSA and SW-MSA; channels-last in and out."""

    def __init__(
        self,
        dim: int,
        out_dim: int,
        depth: int,
        num_heads: int,
        window_size: int | Sequence[int] = 7,
        downsample: bool = True,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        proj_drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: Sequence[float] | float = 0.0,
        norm_layer: Callable[[int], nn.Module] = nn.LayerNorm,
        attn: AttnCfg | Sequence[AttnCfg] = None,
        spatial_dims: int = 2,
        merge_order: Sequence[Sequence[int]] = SWIN_MERGE_ORDER_2D,
        input_resolution: Sequence[int] | None = None,
        shrunk_window_bias: str | None = None,
    ) -> None:
        """
        Args:
            attn: token mixer config for every block (default window attention), or a list with one per block.
            input_resolution: the stage's token grid at the model's reference size, for mixers with position tables.
            shrunk_window_bias: how window attention reads its bias in a window shrunk to a small grid
                (`WindowAttention`; Swin UNETR uses "truncated" for MONAI parity).
        """
        super().__init__()
        window = (window_size,) * spatial_dims if isinstance(window_size, int) else tuple(window_size)
        shift = tuple(w // 2 for w in window)
        if downsample:
            self.downsample = PatchMerging(dim, out_dim, norm_layer, order=merge_order)
        else:
            if dim != out_dim:
                raise ValueError(f"a stage without downsampling keeps its width: dim {dim} != out_dim {out_dim}")
            self.downsample = nn.Identity()
        drop_path = [drop_path] * depth if isinstance(drop_path, float) else list(drop_path)
        block_attn = block_attention_configs(attn, depth)
        context = AttentionContext(
            out_dim, num_heads, spatial_dims, input_resolution, qkv_bias=qkv_bias, attn_drop=attn_drop, proj_drop=proj_drop,
            window_size=window, shrunk_window_bias=shrunk_window_bias,
        )
        self.blocks = nn.ModuleList(
            TransformerBlock(
                out_dim,
                build_attention(block_attn[i], "window", context.replace(shift_size=0 if i % 2 == 0 else shift)),
                mlp_ratio=mlp_ratio,
                norm_layer=norm_layer,
                drop_path=drop_path[i],
                proj_drop=proj_drop,
            )
            for i in range(depth)
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.downsample(x)
        b, *grid, c = x.shape
        grid = tuple(grid)
        x = map_microbatches(lambda chunk: self._blocks(chunk, grid), x.reshape(b, -1, c))
        return x.view(b, *grid, c)

    def _blocks(self, x: Tensor, grid: tuple[int, ...]) -> Tensor:
        for block in self.blocks:
            x = self.checkpointed(block, x, grid)
        return x


class SwinTransformer(TimmBackbone):
    """Swin Transformer with timm's model interface: forward_features -> (B, H, W, C), forward_head -> logits."""

    stages_attr = "layers"
    classifier_attr = "head.fc"

    def __init__(
        self,
        img_size: int | Sequence[int] = 224,
        patch_size: int = 4,
        in_chans: int = 3,
        num_classes: int = 1000,
        global_pool: str = "avg",
        embed_dim: int = 96,
        depths: Sequence[int] = (2, 2, 6, 2),
        num_heads: Sequence[int] = (3, 6, 12, 24),
        window_size: int | Sequence[int] | Sequence[int | Sequence[int]] = 7,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_rate: float = 0.0,
        proj_drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.1,
        attn: AttnCfg | Sequence[AttnCfg | Sequence[AttnCfg]] = None,
        attn_stages: str | None = None,
        norm_layer: Callable[[int], nn.Module] = nn.LayerNorm,
    ) -> None:
        """
        Args:
            img_size: the training resolution (recorded in pretrained_cfg, sizes position tables); any input size runs.
            window_size: attention window: an int, (h, w), or one of those per stage (e.g. ``(56, 56, 7, 7)``;
                a window at least the stage grid is one global window).
            attn: token mixer config for every block, default ``dict(type="window")``; or one per stage
                (each a config or a list with one per block).
            attn_stages: one letter per stage (``"LLSS"``, ``"AAAB"``): S/B stages keep window attention, others use `attn`;
                ``M`` with a trailing k (``"AAMB2"``) uses it in the first k blocks of that stage.
        """
        super().__init__()
        if len(depths) != len(num_heads):
            raise ValueError(f"depths {tuple(depths)} and num_heads {tuple(num_heads)} must have one entry per stage")
        self.num_layers = len(depths)
        dims = [int(embed_dim * 2**i) for i in range(self.num_layers)]
        self._init_interface(in_chans, num_classes, global_pool, dims[-1])
        self.img_size = img_size
        self.embed_dim = embed_dim
        self.output_fmt = "NHWC"

        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim, norm_layer=norm_layer)
        grid = self.patch_embed.grid_size(to_ntuple(img_size, 2, "img_size"))
        windows = _stage_windows(window_size, self.num_layers)
        attn_cfgs = stage_attention_configs(attn, attn_stages, self.num_layers, depths)
        dpr = torch.linspace(0, drop_path_rate, sum(depths)).split(list(depths))
        stages, info = [], []
        for i in range(self.num_layers):
            stages.append(
                SwinStage(
                    dim=dims[max(i - 1, 0)],
                    out_dim=dims[i],
                    depth=depths[i],
                    num_heads=num_heads[i],
                    window_size=windows[i],
                    downsample=i > 0,
                    mlp_ratio=mlp_ratio,
                    qkv_bias=qkv_bias,
                    proj_drop=proj_drop_rate,
                    attn_drop=attn_drop_rate,
                    drop_path=dpr[i].tolist(),
                    norm_layer=norm_layer,
                    attn=attn_cfgs[i],
                    input_resolution=tuple(-(-g // 2**i) for g in grid),  # ceil: odd grids are padded
                )
            )
            info.append(dict(num_chs=dims[i], reduction=patch_size * 2**i, module=f"layers.{i}"))
        self.layers = nn.Sequential(*stages)
        self.feature_info = FeatureInfo(info)
        self.norm = norm_layer(self.num_features)
        self.head = ClassifierHead(self.num_features, num_classes, pool_type=global_pool, drop_rate=drop_rate, input_fmt="NHWC")
        self.apply(self._init_linear)

    # --- timm model interface -------------------------------------------------------------------
    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        return {n for n, _ in self.named_parameters() if "relative_position_bias_table" in n}

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        return dict(
            stem=r"^patch_embed",
            blocks=r"^layers\.(\d+)"
            if coarse
            else [(r"^layers\.(\d+).downsample", (0,)), (r"^layers\.(\d+)\.\w+\.(\d+)", None), (r"^norm", (99999,))],
        )

    def _check_pool(self, global_pool: str) -> None:
        """Nothing here: timm's `ClassifierHead` validates the pool type when it is reset."""

    def _reset_head(self, num_classes: int, global_pool: str | None) -> None:
        """Reset the `ClassifierHead` (its pool too), sized for `num_features`, on the model's device."""
        self.head.reset(num_classes, pool_type=global_pool, in_features=self.num_features, device=next(self.parameters()).device)

    # --- forward ------------------------------------------------------------------------------
    def _stem(self, x: Tensor) -> Tensor:
        """Patch embedding as a channels-last grid (B, H, W, C)."""
        tokens, grid = self.patch_embed(x)
        return tokens.view(tokens.shape[0], *grid, -1)

    def _stage_to_nchw(self, state: Tensor, i: int) -> Tensor:
        """(B, H, W, C) -> contiguous (B, C, H, W)."""
        return state.permute(0, 3, 1, 2).contiguous()

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """timm's `ClassifierHead` (pool, dropout, fc) on the channels-last map."""
        return self.head(x, pre_logits=True) if pre_logits else self.head(x)


def _stage_windows(window_size: Any, num_stages: int) -> list[int | tuple[int, ...]]:
    """One window (int or (h, w)) per stage from an int, an (h, w) pair or a per-stage list."""
    if isinstance(window_size, int):
        return [window_size] * num_stages
    window_size = list(window_size)
    if len(window_size) == 2 and all(isinstance(w, int) for w in window_size) and num_stages != 2:
        return [tuple(window_size)] * num_stages  # one (h, w) window for every stage
    if len(window_size) != num_stages:
        raise ValueError(
            f"window_size must be an int, (h, w) or one entry per stage ({num_stages}), got {tuple(window_size)}"
        )
    return [w if isinstance(w, int) else tuple(w) for w in window_size]


_SWIN_CFG = image_classifier_cfg("https://arxiv.org/abs/2103.14030", classifier="head.fc", tiny=dict(depths=(1, 1, 1, 1)))


@register_model(**_SWIN_CFG)
def swin_tiny_patch4_window7_224(**kwargs: Any) -> SwinTransformer:
    """Swin-T: C=96, depths 2-2-6-2, heads 3-6-12-24, window 7 (28 M params)."""
    return SwinTransformer(**{"img_size": 224, "embed_dim": 96, "depths": (2, 2, 6, 2), "num_heads": (3, 6, 12, 24), **kwargs})


@register_model(**_SWIN_CFG)
def swin_small_patch4_window7_224(**kwargs: Any) -> SwinTransformer:
    """Swin-S: C=96, depths 2-2-18-2, heads 3-6-12-24, window 7 (50 M params)."""
    return SwinTransformer(**{"img_size": 224, "embed_dim": 96, "depths": (2, 2, 18, 2), "num_heads": (3, 6, 12, 24), **kwargs})


@register_model(**_SWIN_CFG)
def swin_base_patch4_window7_224(**kwargs: Any) -> SwinTransformer:
    """Swin-B: C=128, depths 2-2-18-2, heads 4-8-16-32, window 7 (88 M params)."""
    return SwinTransformer(**{"img_size": 224, "embed_dim": 128, "depths": (2, 2, 18, 2), "num_heads": (4, 8, 16, 32), **kwargs})


@register_model(**{**_SWIN_CFG, "input_size": (3, 384, 384), "crop_pct": 1.0})
def swin_base_patch4_window12_384(**kwargs: Any) -> SwinTransformer:
    """Swin-B at 384 with window 12."""
    return SwinTransformer(
        **{"img_size": 384, "embed_dim": 128, "depths": (2, 2, 18, 2), "num_heads": (4, 8, 16, 32), "window_size": 12, **kwargs}
    )


# --- published weights ----------------------------------------------------------------------------
# Swin Transformer weights: the official Microsoft releases, as republished by timm on the Hugging Face Hub.
#
# Top-1: the publisher's figure (microsoft/Swin-Transformer README) and timm's re-evaluation
# (huggingface/pytorch-image-models results/results-imagenet.csv). The original ``.pth`` files load
# through ``checkpoint_path=`` with the Microsoft converter; their URLs are kept in ``notes``.
_PAPER = "Swin Transformer (Liu et al., ICCV 2021), https://arxiv.org/abs/2103.14030"
_MS = "https://github.com/SwinTransformer/storage/releases/download/"


def _swin_weights(name_tag: str, published: float, timm_top1: float, original: str, size: int = 224) -> None:
    register_weights(name_tag, timm_hub_entry(
        name_tag,
        license="mit",
        paper=_PAPER,
        metrics={"imagenet_top1": published, "imagenet_top1_timm": timm_top1},
        input_size=(3, size, size),
        crop_pct=0.9 if size == 224 else 1.0,
        notes=f"original release: {_MS}{original}",
    ))


_swin_weights("swin_tiny_patch4_window7_224.ms_in1k", 81.2, 81.388, "v1.0.0/swin_tiny_patch4_window7_224.pth")
_swin_weights("swin_tiny_patch4_window7_224.ms_in22k_ft_in1k", 80.9, 80.966, "v1.0.8/swin_tiny_patch4_window7_224_22kto1k_finetune.pth")
_swin_weights("swin_small_patch4_window7_224.ms_in1k", 83.2, 83.228, "v1.0.0/swin_small_patch4_window7_224.pth")
_swin_weights("swin_small_patch4_window7_224.ms_in22k_ft_in1k", 83.2, 83.330, "v1.0.8/swin_small_patch4_window7_224_22kto1k_finetune.pth")
_swin_weights("swin_base_patch4_window7_224.ms_in1k", 83.5, 83.604, "v1.0.0/swin_base_patch4_window7_224.pth")
_swin_weights("swin_base_patch4_window7_224.ms_in22k_ft_in1k", 85.2, 85.276, "v1.0.0/swin_base_patch4_window7_224_22kto1k.pth")
_swin_weights("swin_base_patch4_window12_384.ms_in1k", 84.5, 84.478, "v1.0.0/swin_base_patch4_window12_384.pth", 384)
_swin_weights("swin_base_patch4_window12_384.ms_in22k_ft_in1k", 86.4, 86.442, "v1.0.0/swin_base_patch4_window12_384_22kto1k.pth", 384)


# --- checkpoint converters ------------------------------------------------------------------------
# Swin checkpoints: timm's layout and the original Microsoft release (microsoft/Swin-Transformer, ``model`` key).
#
# Key mapping, Microsoft -> visionzoo:
#
# ==============================================  ==============================================
# ``layers.{i}.downsample.{norm,reduction}``      ``layers.{i+1}.downsample.{norm,reduction}``
#                                                 (Microsoft merges at the end of stage i, timm and
#                                                 visionzoo at the start of stage i+1)
# ``head.{weight,bias}``                          ``head.fc.{weight,bias}``
# ``*.relative_position_index``, ``*.attn_mask``  dropped (recomputed buffers)
# everything else                                 unchanged
# ==============================================  ==============================================
#
# timm -> visionzoo is the identity apart from dropping the same buffers. Both resize
# ``relative_position_bias_table`` (timm's bicubic resize) when the model's window differs.
_BUFFERS = ("relative_position_index", "attn_mask")


def _fit_bias_tables(state_dict: StateDict, model: nn.Module) -> StateDict:
    own = model.state_dict()
    for key, value in list(state_dict.items()):
        if key.endswith("relative_position_bias_table") and key in own and own[key].shape != value.shape:
            attn = model.get_submodule(key.rsplit(".", 1)[0])
            state_dict[key] = resize_rel_pos_bias_table(
                value, new_window_size=attn.window_size, new_bias_shape=tuple(own[key].shape)
            )
    return state_dict


@register_converter(SwinTransformer, "timm")
def convert_timm_swin(state_dict: Mapping[str, Tensor], model: nn.Module) -> StateDict:
    """timm Swin -> visionzoo Swin."""
    out = {k: v for k, v in state_dict.items() if not k.endswith(_BUFFERS)}
    return _fit_bias_tables(out, model)


@register_converter(SwinTransformer, "microsoft")
def convert_microsoft_swin(state_dict: Mapping[str, Tensor], model: nn.Module) -> StateDict:
    """Official Microsoft Swin release -> visionzoo Swin (see the mapping above)."""
    out: StateDict = {}
    for key, value in state_dict.items():
        if key.endswith(_BUFFERS):
            continue
        key = re.sub(r"^layers\.(\d+)\.downsample", lambda m: f"layers.{int(m.group(1)) + 1}.downsample", key)
        key = re.sub(r"^head\.", "head.fc.", key)
        out[key] = value
    return _fit_bias_tables(out, model)


@register_detector(SwinTransformer)
def detect_swin_layout(state_dict: Mapping[str, Tensor]) -> str:
    """"microsoft" for the original release (``layers.0.downsample``, ``head.weight``), else "timm" (our names too)."""
    microsoft = "layers.0.downsample.reduction.weight" in state_dict or "head.weight" in state_dict
    return "microsoft" if microsoft else "timm"

