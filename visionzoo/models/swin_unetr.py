"""Swin UNETR (Hatamizadeh et al., BrainLes 2021): a 2D/3D Swin encoder with a residual U-Net decoder.

The encoder is assembled from the shared layers — `PatchEmbed`, `SwinStage` blocks (the same
`WindowAttention` as the 2D Swin classifier) and `PatchMerging` — following MONAI's
``SwinUNETR``: stages merge patches at their *end*, each scale's output is layer-normalised without
affine parameters, and v2 adds a residual conv block before each stage. MONAI's and the
research-contributions BRATS21 checkpoints load through the converters at the end of this module, beside the
published weights.
Any input size runs (padded to a multiple of 32 and cropped back). ``use_checkpoint=True`` (MONAI's name) recomputes
each Swin block during backward, trading compute for activation memory in training.
"""
from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..backbones.base import set_grad_checkpointing
from ..backbones.swin import SWIN_MERGE_ORDER_2D, PatchMerging, SwinStage
from ..heads import SwinUNETRDecoder
from ..layers import PatchEmbed, check_image_input, to_ntuple
from ..layers.conv_blocks import EncoderConvBlock
from ..registry import register_model, register_weights
from ..weights import WeightEntry
from ..weights.converters import StateDict, register_converter, register_detector
from .segmentation import run_padded

__all__ = ["SwinUNETR", "SwinUNETREncoder", "MERGE_ORDERS"]

_logger = logging.getLogger(__name__)

# Neighbour order of the 2x2x2 concatenation: MONAI's "merging" (v0.9.0, used by the BRATS21 release)
# and "mergingv2" (plain raster order); both use Swin's order in 2D.
MERGE_ORDERS = {
    "merging": ((0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (1, 0, 1), (0, 1, 1), (1, 1, 1)),
    "mergingv2": ((0, 0, 0), (0, 0, 1), (0, 1, 0), (0, 1, 1), (1, 0, 0), (1, 0, 1), (1, 1, 0), (1, 1, 1)),
}


def _channels_first(x: Tensor) -> Tensor:
    return x.permute(0, x.ndim - 1, *range(1, x.ndim - 1))


def _channels_last(x: Tensor) -> Tensor:
    return x.permute(0, *range(2, x.ndim), 1)


class SwinUNETREncoder(nn.Module):
    """Hierarchical Swin encoder: ``forward(x) -> [F, 2F, 4F, 8F, 16F]`` channels-first maps at strides 2..32.

    Built by `SwinUNETR`, which holds the defaults and passes every argument by name (``embed_dim`` is its
    ``feature_size``).
    """

    def __init__(
        self,
        *,
        in_chans: int,
        embed_dim: int,
        patch_size: int,
        depths: Sequence[int],
        num_heads: Sequence[int],
        window_size: int | Sequence[int],
        mlp_ratio: float,
        qkv_bias: bool,
        drop_rate: float,
        attn_drop_rate: float,
        drop_path_rate: float,
        patch_norm: bool,
        normalize: bool,
        spatial_dims: int,
        downsample: str,
        use_v2: bool,
        attn: dict[str, Any] | None,
    ) -> None:
        super().__init__()
        if downsample not in MERGE_ORDERS:
            raise ValueError(f"downsample must be one of {sorted(MERGE_ORDERS)}, got {downsample!r}")
        self.spatial_dims = spatial_dims
        self.normalize = normalize
        self.use_v2 = use_v2
        self.patch_embed = PatchEmbed(
            patch_size, in_chans, embed_dim, norm_layer=nn.LayerNorm if patch_norm else None, spatial_dims=spatial_dims
        )
        self.pos_drop = nn.Dropout(drop_rate)
        window = to_ntuple(window_size, spatial_dims, "window_size")
        order = MERGE_ORDERS[downsample] if spatial_dims == 3 else SWIN_MERGE_ORDER_2D
        dpr = torch.linspace(0, drop_path_rate, sum(depths)).split(list(depths))
        dims = [embed_dim * 2**i for i in range(len(depths))]
        self.stages = nn.ModuleList(
            SwinStage(
                dim,
                dim,
                depth,
                heads,
                window_size=window,
                downsample=False,
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                proj_drop=drop_rate,
                attn_drop=attn_drop_rate,
                drop_path=rates.tolist(),
                attn=attn,  # default window attention; in 3D the 3D types (softmax, window) fit
                spatial_dims=spatial_dims,
                shrunk_window_bias="truncated",  # MONAI's bias for windows shrunk to small grids
            )
            for dim, depth, heads, rates in zip(dims, depths, num_heads, dpr)
        )
        self.merges = nn.ModuleList(PatchMerging(dim, 2 * dim, order=order) for dim in dims)
        self.res_blocks = (
            nn.ModuleList(EncoderConvBlock(spatial_dims, dim, dim, "instance") for dim in dims)
            if use_v2
            else None
        )

    def _output(self, x: Tensor) -> Tensor:
        """Channels-first view of a channels-last grid: already the decoder's channels-last memory, no copy."""
        if self.normalize:
            x = F.layer_norm(x, x.shape[-1:])
        return _channels_first(x.contiguous())

    def forward(self, x: Tensor) -> list[Tensor]:
        tokens, grid = self.patch_embed(x)
        h = self.pos_drop(tokens).view(x.shape[0], *grid, -1)  # channels-last grid
        outputs = [self._output(h)]
        for i, (stage, merge) in enumerate(zip(self.stages, self.merges)):
            if self.res_blocks is not None:
                h = _channels_last(self.res_blocks[i](_channels_first(h))).contiguous()
            h = merge(stage(h))
            outputs.append(self._output(h))
        return outputs


class SwinUNETR(nn.Module):
    """Swin UNETR segmenter: ``forward(x[B, in_chans, *spatial]) -> logits[B, num_classes, *spatial]``."""

    def __init__(
        self,
        in_chans: int = 1,
        num_classes: int = 2,
        feature_size: int = 48,
        spatial_dims: int = 3,
        use_v2: bool = False,
        depths: Sequence[int] = (2, 2, 2, 2),
        num_heads: Sequence[int] = (3, 6, 12, 24),
        window_size: int | Sequence[int] = 7,
        patch_size: int = 2,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        norm_name: str | tuple = "instance",
        normalize: bool = True,
        patch_norm: bool = False,
        downsample: str = "merging",
        attn: dict[str, Any] | None = None,
        use_checkpoint: bool = False,
        img_size: Any = None,
    ) -> None:
        """
        Args:
            feature_size: F, the width of the first stage (48 in the paper; a multiple of 12).
            downsample: "merging" (MONAI's default, BRATS21 release) or "mergingv2" neighbour order.
            attn: token mixer of every encoder block, default window attention (``dict(type="window", ...)``
                overrides its options); in 3D the types that work on 3D grids (softmax, window), others raise.
            use_checkpoint: checkpoint each Swin block in training (MONAI's option; `set_grad_checkpointing`
                switches it later): activations are recomputed during backward, same values and gradients.
            img_size: deprecated and ignored (any size runs), accepted so old configs keep working.
        """
        super().__init__()
        if img_size is not None:
            import warnings

            warnings.warn("SwinUNETR img_size is deprecated and ignored: any input size works", DeprecationWarning, stacklevel=2)
        if feature_size % 12:
            raise ValueError(f"feature_size must be a multiple of 12 (heads 3-6-12-24 split it), got {feature_size}")
        if len(depths) != 4 or len(num_heads) != 4:
            raise ValueError(f"Swin UNETR has 4 stages: got depths={tuple(depths)}, num_heads={tuple(num_heads)}")
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.spatial_dims = spatial_dims
        self.stride = patch_size * 2 ** len(depths)
        self.encoder = SwinUNETREncoder(
            in_chans=in_chans, embed_dim=feature_size, patch_size=patch_size, depths=depths, num_heads=num_heads,
            window_size=window_size, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop_rate=drop_rate,
            attn_drop_rate=attn_drop_rate, drop_path_rate=drop_path_rate, patch_norm=patch_norm, normalize=normalize,
            spatial_dims=spatial_dims, downsample=downsample, use_v2=use_v2, attn=attn,
        )
        self.decoder = SwinUNETRDecoder(in_chans, num_classes, feature_size, spatial_dims, norm_name)
        self.set_grad_checkpointing(use_checkpoint)

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each Swin block during backward in training (timm's switch for `use_checkpoint`)."""
        set_grad_checkpointing(self, enable)

    def _forward(self, x: Tensor) -> Tensor:
        return self.decoder(x, self.encoder(x))

    def forward(self, x: Tensor) -> Tensor:
        check_image_input(x, self.in_chans, self.spatial_dims)
        if math.prod(-(-s // self.stride) for s in x.shape[2:]) < 2:
            raise ValueError(
                f"input of spatial size {tuple(x.shape[2:])} is too small for Swin UNETR: its bottleneck (stride "
                f"{self.stride}) would hold a single voxel, which instance norm cannot normalise; use at least "
                f"{2 * self.stride} voxels along one axis"
            )
        return run_padded(self._forward, x, self.stride)


_SEG_CFG = dict(first_conv=None, classifier="decoder.out.conv.conv", fixed_input_size=False, img_size_free=True)


_TINY = dict(feature_size=12, depths=(1, 1, 1, 1))


@register_model(**_SEG_CFG, input_size=(1, 96, 96, 96), paper="https://arxiv.org/abs/2201.01266",
                tiny=_TINY, tiny_input_size=(1, 64, 32, 32))
def swin_unetr(**kwargs: Any) -> SwinUNETR:
    """Swin UNETR, MONAI's architecture: patch 2, depths 2-2-2-2, heads 3-6-12-24, window 7, feature 48."""
    return SwinUNETR(**kwargs)


@register_model(**_SEG_CFG, input_size=(4, 128, 128, 128), paper="https://arxiv.org/abs/2201.01266",
                tiny=_TINY, tiny_input_size=(4, 64, 32, 32))
def swin_unetr_brats(**kwargs: Any) -> SwinUNETR:
    """Swin UNETR for BraTS: 4 MRI modalities (FLAIR, T1ce, T1, T2) in, 3 sigmoid channels (TC, WT, ET) out."""
    return SwinUNETR(**{"in_chans": 4, "num_classes": 3, "feature_size": 48, **kwargs})


# --- published weights ----------------------------------------------------------------------------
# Swin UNETR weights: MONAI research-contributions releases (BraTS 2021 folds, self-supervised CT encoder).
#
# Sources (checked against the publisher's files):
#
# * BraTS 2021: ``Project-MONAI/research-contributions/SwinUNETR/BRATS21/README.md`` — the five
#   ``fold{k}_f48_ep300_4gpu_dice0_XXXX.zip`` downloads, "Mean Dice" per fold (the average of the TC, WT
#   and ET Dice on that fold's validation split of ``brats21_folds.json``), feature size 48, 62.1 M
#   parameters, ROI 128^3, 4 input channels, 3 output channels. The zips hold ``model.pt``: ``test.py``
#   loads ``os.path.join(pretrained_dir, "model.pt")`` with ``pretrained_dir`` defaulting to
#   ``./pretrained_models/fold1_f48_ep300_4gpu_dice0_9059/``, so the member is matched by file name at
#   any depth. ``trainer.save_checkpoint`` writes ``{"epoch", "best_acc", "state_dict": MONAI SwinUNETR
#   keys}`` (optionally ``optimizer``/``scheduler``). Inputs: ``utils/data_utils.py`` normalises with
#   ``NormalizeIntensityd(nonzero=True, channel_wise=True)``; outputs are sigmoid channels TC, WT, ET
#   (``ConvertToMultiChannelBasedOnBratsClassesd``; ``test.py`` thresholds at 0.5). The modality order
#   is the fold json's ``image`` list: FLAIR, T1ce, T1, T2.
# * Self-supervised encoder: ``SwinUNETR/Pretrain/README.md`` links ``model_swinvit.pt``, pre-trained
#   on ~5050 CT volumes (HNSCC, LUNA16, TCIA Colonography, TCIA Covid-19, LIDC) with ``main.py``'s
#   defaults: 1 channel, feature size 48, ROI 96^3, ``ScaleIntensityRanged(a_min=-1000, a_max=1000,
#   b_min=0, b_max=1, clip=True)``, spacing 1.5 x 1.5 x 2.0 mm, RAS. Its key layout is the one
#   MONAI's ``SwinUNETR.load_from`` reads (``state_dict`` key, ``module.``-prefixed Swin ViT keys, no
#   decoder); the tag loads the encoder strictly and leaves the decoder freshly initialised.
#
# No sha256 is published for any of these files (GitHub release assets, no checksum list), so the
# entries pin none; a truncated download is still caught (length check, zip CRC, safe unpickling).
# Licence: research-contributions' sources carry the Apache-2.0 header and the release assets state no
# other licence, so the entries record apache-2.0.
_RELEASE = "https://github.com/Project-MONAI/MONAI-extra-test-data/releases/download/0.8.1/"
_CODE = "https://github.com/Project-MONAI/research-contributions/tree/main/SwinUNETR/"
BRATS_PAPER = (
    "Swin UNETR: Swin Transformers for Semantic Segmentation of Brain Tumors in MRI Images "
    "(Hatamizadeh et al., BrainLes 2021), https://arxiv.org/abs/2201.01266"
)
SSL_PAPER = (
    "Self-Supervised Pre-Training of Swin Transformers for 3D Medical Image Analysis "
    "(Tang et al., CVPR 2022), https://arxiv.org/abs/2111.14791"
)
BRATS_NORMALIZATION = (
    "per volume and channel: z-score over the nonzero (brain) voxels, background left at 0 "
    "(MONAI NormalizeIntensityd(nonzero=True, channel_wise=True))"
)

# (fold, file-name suffix, reported mean validation Dice) from SwinUNETR/BRATS21/README.md
_BRATS21_FOLDS = ((0, "8854", 0.8854), (1, "9059", 0.9059), (2, "8981", 0.8981), (3, "8924", 0.8924), (4, "9035", 0.9035))

for _fold, _suffix, _dice in _BRATS21_FOLDS:
    register_weights(
        "swin_unetr_brats",
        f"brats21_fold{_fold}",
        WeightEntry(
            source="monai",
            url=f"{_RELEASE}fold{_fold}_f48_ep300_4gpu_dice0_{_suffix}.zip",
            archive_member="model.pt",
            sha256=None,
            license="apache-2.0",
            paper=BRATS_PAPER,
            official_code=_CODE + "BRATS21",
            metrics={"brats21_val_mean_dice": _dice},
            num_classes=3,
            input_size=(4, 128, 128, 128),
            mean=None,
            std=None,
            normalization=BRATS_NORMALIZATION,
            crop_pct=None,
            interpolation=None,
            channel_names=("flair", "t1ce", "t1", "t2"),
            class_names=("TC", "WT", "ET"),
            output_activation="sigmoid",
            notes=(
                f"BraTS 2021 fold {_fold} of brats21_folds.json (trained on the other four folds, 300 epochs, 4 GPUs). "
                "brats21_val_mean_dice: the publisher's mean of TC/WT/ET Dice on this fold's validation split "
                "(sliding-window inference, ROI 128^3); folds are different splits, so their figures are not a "
                "ranking. fold0 is the default tag only by order. Feature size 48, MONAI 'merging' patch-merge "
                "order. No sha256 published."
            ),
        ),
    )

register_weights(
    "swin_unetr",
    "ssl_swinvit",
    WeightEntry(
        source="monai_ssl",
        url=f"{_RELEASE}model_swinvit.pt",
        sha256=None,
        license="apache-2.0",
        paper=SSL_PAPER,
        official_code=_CODE + "Pretrain",
        metrics={},
        num_classes=None,
        input_size=(1, 96, 96, 96),
        mean=None,
        std=None,
        normalization="CT: clip to [-1000, 1000] HU and scale to [0, 1] (MONAI ScaleIntensityRanged); 1.5x1.5x2.0 mm, RAS",
        crop_pct=None,
        interpolation=None,
        channel_names=("ct",),
        notes=(
            "Self-supervised Swin ViT encoder only (inpainting + rotation + contrastive pre-training on ~5050 CT "
            "volumes): pretrained=True loads encoder.* strictly and leaves the decoder (any num_classes) freshly "
            "initialised, for fine-tuning. Architecture as pre-trained: in_chans 1, feature size 48, depths 2-2-2-2, "
            "heads 3-6-12-24, window 7, use_v2=False, 'merging' order. The publisher reports no metric for the "
            "encoder itself. No sha256 published."
        ),
    ),
)


# --- checkpoint converters ------------------------------------------------------------------------
# Swin UNETR checkpoints: MONAI's ``SwinUNETR`` state dict (also the research-contributions BRATS21 release).
#
# Key mapping, MONAI -> visionzoo:
#
# =================================================  =================================================
# ``swinViT.patch_embed.*``                          ``encoder.patch_embed.*``
# ``swinViT.layers{i+1}.0.blocks.{j}.*``             ``encoder.stages.{i}.blocks.{j}.*``
# ``... .mlp.linear1`` / ``.mlp.linear2``            ``... .mlp.fc1`` / ``.mlp.fc2``
# ``... .attn.relative_position_index``              dropped (recomputed buffer)
# ``swinViT.layers{i+1}.0.downsample.*``             ``encoder.merges.{i}.*``
# ``swinViT.layers{i+1}c.0.*`` (v2)                  ``encoder.res_blocks.{i}.*``
# ``encoder1`` / ``encoder2`` / ``encoder3`` /       ``decoder.skip0`` / ``skip1`` / ``skip2`` /
# ``encoder4`` / ``encoder10``                       ``skip3`` / ``bottleneck``
# ``decoder5`` ... ``decoder1``                      ``decoder.up4`` ... ``decoder.up0``
# ``out``                                            ``decoder.out``
# =================================================  =================================================
#
# The BRATS21 release wraps the state dict in ``state_dict``; unwrapping happens before conversion.
# The merge order ("merging" vs "mergingv2") is an architecture argument, not a key difference.
#
# The self-supervised Swin ViT release (research-contributions ``SwinUNETR/Pretrain``,
# ``model_swinvit.pt``; the layout MONAI's ``SwinUNETR.load_from`` reads) is the encoder alone:
# ``{"state_dict": {"module.patch_embed.*", "module.layers{i+1}.0.blocks.{j}.*" (MLP as ``mlp.fc1``/
# ``mlp.fc2``), "module.layers{i+1}.0.downsample.*"}}`` — the MONAI keys above without ``swinViT.``.
# Its converter ("monai_ssl") also takes the pre-training model's own ``swin_vit.*`` prefix and drops
# the pre-training heads (``rotation_head``, ``contrastive_head``, ``conv``); it covers ``encoder.``
# only, so the decoder stays freshly initialised (and the log says so).

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


@register_converter(SwinUNETR, "monai")
def convert_monai_swin_unetr(state_dict: Mapping[str, Tensor], model: nn.Module) -> StateDict:
    """MONAI SwinUNETR (and the BRATS21 release) -> visionzoo Swin UNETR (see the mapping above)."""
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


@register_converter(SwinUNETR, "monai_ssl", covers=("encoder.",))
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


@register_detector(SwinUNETR)
def detect_swin_unetr_layout(state_dict: Mapping[str, Tensor]) -> str:
    """"monai" (``swinViT.*``), "monai_ssl" (the self-supervised encoder) or "visionzoo"."""
    if any(k.startswith("swinViT.") for k in state_dict):
        return "monai"
    if any(k.startswith(("patch_embed.", "swin_vit.patch_embed.")) for k in state_dict):
        return "monai_ssl"
    return "visionzoo"

