"""DETR (Carion et al., ECCV 2020): set-prediction detection on any visionzoo backbone.

backbone (last-stage NCHW map through ``forward_intermediates``) -> 1x1 ``input_proj`` -> post-norm
transformer with sine position embeddings -> ``class_embed`` (num_classes + 1, the last = no object)
and the 3-layer ``bbox_embed`` MLP (sigmoid: cx, cy, w, h in [0, 1] of the unpadded image).
``model(images)`` takes a (B, 3, H, W) batch (with an optional ``mask`` (B, H, W), True = padding) or a
list of (3, H, W) images of different sizes, padded bottom-right to the largest (the official
NestedTensor). Module names follow the official code except inside the transformer (see the converter at the
end of this module, beside the published weights), so official releases load through ``checkpoint_path=``.
ResNet backbones use frozen BatchNorm and, as in the official training, a frozen stem and ``layer1``.
ONNX export (`visionzoo.export_onnx`) traces the tensor input without a mask: the graph treats every
pixel as valid and returns pred_logits, pred_boxes, then the auxiliary predictions, flattened.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import FrozenBatchNorm2d

from ..backbones.resnet import ResNet
from ..constants import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from ..factory import create_model
from ..heads.detr import MLP, DETRTransformer, PositionEmbeddingSine
from ..layers import check_image_input
from ..registry import register_model, register_weights
from ..weights import WeightEntry
from ..weights.converters import StateDict, register_converter, register_detector

__all__ = ["DETR", "freeze_batch_norm", "nested_tensor"]

_RESNET_TRAINABLE = ("layer2.", "layer3.", "layer4.")


def freeze_batch_norm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm2d in `module` by torchvision's FrozenBatchNorm2d with the same statistics.

    ``y = (x - mean) * weight * rsqrt(var + eps) + bias`` with eps inside the rsqrt, like the official
    DETR's frozen BN; the BatchNorm's own eps is kept (1e-5 for ResNets, which is also the official value).
    """
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps).to(child.weight.device)
            with torch.no_grad():
                frozen.weight.copy_(child.weight)
                frozen.bias.copy_(child.bias)
                frozen.running_mean.copy_(child.running_mean)
                frozen.running_var.copy_(child.running_var)
            setattr(module, name, frozen)
        else:
            freeze_batch_norm(child)
    return module


def nested_tensor(images: Sequence[Tensor], in_chans: int = 3) -> tuple[Tensor, Tensor]:
    """Pad (C, H, W) images bottom-right with zeros to the largest H and W; return the batch and its mask (True = padding)."""
    if len(images) == 0:
        raise ValueError("got an empty list of images")
    for i, img in enumerate(images):
        if not isinstance(img, Tensor) or img.ndim != 3 or img.shape[0] != in_chans:
            shape = tuple(img.shape) if isinstance(img, Tensor) else type(img).__name__
            raise ValueError(f"image {i} of the list must be a ({in_chans}, H, W) tensor, got {shape}")
    h = max(img.shape[1] for img in images)
    w = max(img.shape[2] for img in images)
    batch = images[0].new_zeros(len(images), in_chans, h, w)
    mask = torch.ones(len(images), h, w, dtype=torch.bool, device=images[0].device)
    for i, img in enumerate(images):
        batch[i, :, : img.shape[1], : img.shape[2]].copy_(img)
        mask[i, : img.shape[1], : img.shape[2]] = False
    return batch, mask


class DETR(nn.Module):
    """Backbone + DETR transformer + class and box heads; ``forward -> {"pred_logits", "pred_boxes", "aux_outputs"}``."""

    def __init__(
        self,
        backbone: str | nn.Module = "resnet50",
        num_classes: int = 91,
        num_queries: int = 100,
        hidden_dim: int = 256,
        nheads: int = 8,
        enc_layers: int = 6,
        dec_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        aux_loss: bool = True,
        backbone_kwargs: Mapping[str, Any] | None = None,
        frozen_bn: bool | None = None,
        freeze_stem: bool | None = None,
        train_backbone: bool = True,
        in_chans: int = 3,
    ) -> None:
        """
        Args:
            backbone: a registered model name (built with ``num_classes=0`` and `backbone_kwargs`, e.g.
                ``dict(pretrained=True)`` for its ImageNet weights) or a module with
                ``forward_intermediates`` and ``feature_info``; its last stage feeds DETR.
            num_classes: object classes; the class head has ``num_classes + 1`` outputs (no object last).
                91 for the official COCO releases (category ids up to 90).
            aux_loss: also return the class/box predictions of the earlier decoder layers.
            frozen_bn: replace BatchNorm2d by FrozenBatchNorm2d; None = only for ResNet backbones.
                Frozen statistics suit a pretrained backbone; train a randomly initialised one with False.
            freeze_stem: freeze a ResNet's stem and ``layer1`` (the official recipe for pretrained
                backbones); None = whenever its BatchNorm is frozen.
            train_backbone: False freezes the whole backbone.
            in_chans: image channels, passed to a backbone built by name.
        """
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if hidden_dim % nheads:
            raise ValueError(f"hidden_dim {hidden_dim} must be divisible by nheads {nheads}")
        if isinstance(backbone, str):
            backbone = create_model(backbone, num_classes=0, in_chans=in_chans, **dict(backbone_kwargs or {}))
        elif backbone_kwargs:
            raise ValueError("backbone_kwargs only apply when backbone is given by name")
        else:
            in_chans = getattr(backbone, "in_chans", in_chans)
        if not hasattr(backbone, "forward_intermediates") or not hasattr(backbone, "feature_info"):
            raise ValueError(f"{type(backbone).__name__} has no forward_intermediates/feature_info; DETR cannot read its features")
        if hasattr(backbone, "prune_intermediate_layers"):  # drop the classifier head: no unused parameters under DDP
            backbone.prune_intermediate_layers(1, prune_norm=False, prune_head=True)
        is_resnet = isinstance(backbone, ResNet)
        frozen_bn = is_resnet if frozen_bn is None else frozen_bn
        freeze_stem = is_resnet and (frozen_bn if freeze_stem is None else freeze_stem)
        if frozen_bn:
            freeze_batch_norm(backbone)
        for name, p in backbone.named_parameters():
            if not train_backbone or (freeze_stem and not name.startswith(_RESNET_TRAINABLE)):
                p.requires_grad_(False)
        self.backbone = backbone
        self.num_classes = num_classes
        self.num_queries = num_queries
        self.aux_loss = aux_loss
        self.in_chans = in_chans
        self.num_channels = backbone.feature_info[-1]["num_chs"]
        self.position_embedding = PositionEmbeddingSine(hidden_dim // 2, normalize=True)
        self.input_proj = nn.Conv2d(self.num_channels, hidden_dim, kernel_size=1)
        self.query_embed = nn.Embedding(num_queries, hidden_dim)
        self.transformer = DETRTransformer(hidden_dim, nheads, enc_layers, dec_layers, dim_feedforward, dropout)
        self.class_embed = nn.Linear(hidden_dim, num_classes + 1)
        self.bbox_embed = MLP(hidden_dim, hidden_dim, 4, 3)

    def _inputs(self, images: Tensor | Sequence[Tensor], mask: Tensor | None) -> tuple[Tensor, Tensor | None]:
        if isinstance(images, (list, tuple)):
            if mask is not None:
                raise ValueError("pass mask only with a batch tensor; for a list of images it is built from their sizes")
            return nested_tensor(images, self.in_chans)
        check_image_input(images, self.in_chans)
        if mask is not None:
            b, _, h, w = images.shape
            if mask.shape != (b, h, w) or mask.dtype != torch.bool:
                raise ValueError(f"mask must be a bool tensor of shape {(b, h, w)} (True = padding), got {mask.dtype} {tuple(mask.shape)}")
        return images, mask

    def forward_features(self, images: Tensor | Sequence[Tensor], mask: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """The backbone's last feature map (B, C, h, w) and the padding mask resized to it (nearest; None if no padding)."""
        x, mask = self._inputs(images, mask)
        feat = self.backbone.forward_intermediates(x, indices=1, norm=True, intermediates_only=True)[-1]
        if mask is not None:
            mask = F.interpolate(mask[None].float(), size=feat.shape[-2:]).to(torch.bool)[0]
        return feat, mask

    def forward(self, images: Tensor | Sequence[Tensor], mask: Tensor | None = None) -> dict[str, Any]:
        feat, mask = self.forward_features(images, mask)
        pos = self.position_embedding(feat, mask)
        # a copy per image (as the official repeat), not a view: a module given a parameter or a view of one
        # as input breaks torch's module tracker (FlopCounterMode) under no_grad
        queries = self.query_embed.weight.unsqueeze(0).repeat(feat.shape[0], 1, 1)
        hs, _ = self.transformer(self.input_proj(feat), mask, queries, pos)
        if not self.aux_loss:
            hs = hs[-1:]
        logits = self.class_embed(hs)
        boxes = self.bbox_embed(hs).sigmoid()
        out: dict[str, Any] = {"pred_logits": logits[-1], "pred_boxes": boxes[-1]}
        if self.aux_loss:
            out["aux_outputs"] = [{"pred_logits": a, "pred_boxes": b} for a, b in zip(logits[:-1], boxes[:-1])]
        return out


_DETR_CFG = dict(
    input_size=(3, 800, 1333),
    mean=IMAGENET_DEFAULT_MEAN,
    std=IMAGENET_DEFAULT_STD,
    crop_pct=None,
    interpolation="bilinear",
    fixed_input_size=False,
    img_size_free=True,
    first_conv="backbone.conv1",
    classifier="class_embed",
    num_classes=91,
    paper="https://arxiv.org/abs/2005.12872",
    tiny=dict(backbone_kwargs=dict(layers=(1, 1, 1, 1)), hidden_dim=32, nheads=2, enc_layers=1, dec_layers=2,
              dim_feedforward=64, num_queries=5),
)


@register_model(**_DETR_CFG)
def detr(**kwargs: Any) -> DETR:
    """DETR on any backbone, e.g. ``create_model("detr", backbone="swin_tiny_patch4_window7_224", num_classes=3)``.

    Defaults are `DETR`'s: a ResNet-50 backbone and the official COCO configuration.
    """
    return DETR(**kwargs)


def _fixed_backbone(name: str, kwargs: dict[str, Any]) -> None:
    if kwargs.setdefault("backbone", name) != name:
        raise ValueError(f"this DETR variant has a {name} backbone; use create_model('detr', backbone=...) for others")


@register_model(**_DETR_CFG)
def detr_r50(**kwargs: Any) -> DETR:
    """DETR-R50, the official COCO configuration (41.5 M params, 41.3 M trainable): 6+6 layers, d 256, 100 queries, 92 logits."""
    _fixed_backbone("resnet50", kwargs)
    return detr(**kwargs)


@register_model(**_DETR_CFG)
def detr_r101(**kwargs: Any) -> DETR:
    """DETR-R101, the official COCO configuration (60.5 M params, 60.2 M trainable)."""
    _fixed_backbone("resnet101", kwargs)
    return detr(**kwargs)


# --- published weights ----------------------------------------------------------------------------
# DETR weights: the official facebookresearch/detr COCO releases (``model`` key, official layout).
#
# Box AP: the publisher's figures on COCO 2017 val5k (README "Model Zoo", 500-epoch schedule). Files are
# served at ``https://dl.fbaipublicfiles.com/detr/detr-<arch>-<hash8>.pth``; the 8 hex digits are the
# start of the file's sha256 (torch.hub's ``check_hash`` convention). The full digest is not published,
# so `sha256` stays None and the prefix is recorded in ``notes``. Preprocessing: ImageNet mean/std,
# shorter side resized to 800 with the longer side at most 1333 (``datasets/coco.py``); boxes are
# predicted as normalised cx, cy, w, h over the 91 COCO category ids (+ no object). Apache-2.0.
_PAPER = "End-to-End Object Detection with Transformers (Carion et al., ECCV 2020), https://arxiv.org/abs/2005.12872"
_URL = "https://dl.fbaipublicfiles.com/detr/"


def _detr_weights(arch: str, filename: str, box_ap: float, notes: str) -> None:
    sha_prefix = filename.rsplit("-", 1)[1].split(".")[0]
    register_weights(
        arch,
        "fb_coco",
        WeightEntry(
            source="facebookresearch",
            url=_URL + filename,
            sha256=None,
            license="apache-2.0",
            paper=_PAPER,
            official_code="https://github.com/facebookresearch/detr",
            metrics={"coco_val2017_box_ap": box_ap},
            num_classes=91,
            input_size=(3, 800, 1333),
            crop_pct=None,
            interpolation="bilinear",
            notes=(
                f"{notes}; resize shorter side 800, longer side <= 1333; sha256 starts with {sha_prefix} "
                "(torch.hub file-name convention; the full digest is not published)."
            ),
        ),
    )


_detr_weights("detr_r50", "detr-r50-e632da11.pth", 42.0, "DETR R50, 500 epochs, batch 2 per GPU on 8 V100 (159 MB)")
_detr_weights("detr_r101", "detr-r101-2c7b67e5.pth", 43.5, "DETR R101, 500 epochs (232 MB)")


# --- checkpoint converters ------------------------------------------------------------------------
# DETR checkpoints: the facebookresearch/detr releases (``torch.save({"model": state_dict, ...})``).
#
# The ``model`` wrapper is removed before conversion. Key mapping, official -> visionzoo (``E`` =
# ``transformer.encoder.layers.{i}``, ``D`` = ``transformer.decoder.layers.{i}``, ``A`` any of their
# attention modules):
#
# ====================================================  ======================================================
# ``backbone.0.body.{conv1,bn1,layer1..layer4}.*``      ``backbone.*`` (torchvision ResNet names; frozen BN
#                                                       stores weight/bias/running_mean/running_var only)
# ``A.in_proj_weight`` (3C, C), ``A.in_proj_bias``      ``A.{q_proj,k_proj,v_proj}.{weight,bias}`` (rows
#                                                       [0:C], [C:2C], [2C:3C])
# ``A.out_proj.*``                                      ``A.proj.*``
# ``D.multihead_attn.*``                                ``D.cross_attn.*``
# ``E/D.linear1.*`` / ``E/D.linear2.*``                 ``E/D.mlp.fc1.*`` / ``E/D.mlp.fc2.*``
# ``E/D.norm{1,2,3}.*``, ``transformer.decoder.norm.*`` unchanged
# ``input_proj.*``, ``query_embed.weight``,             unchanged
# ``class_embed.*``, ``bbox_embed.layers.{k}.*``
# ====================================================  ======================================================
#
# ``backbone.1`` (the sine position embedding) has no weights. Loading stays strict afterwards: a
# checkpoint for another backbone, depth or class count fails with the mismatched keys and shapes.
# The DC5 releases (dilated last stage) have the same keys as the plain ones but need a dilated ResNet,
# which visionzoo does not build; they are not registered.
_ATTN = re.compile(r"^(transformer\.(?:encoder|decoder)\.layers\.\d+\.(?:self_attn|multihead_attn))\.in_proj_(weight|bias)$")
_RENAMES = (
    (re.compile(r"^backbone\.0\.body\."), "backbone."),
    (re.compile(r"\.multihead_attn\."), ".cross_attn."),
    (re.compile(r"\.out_proj\."), ".proj."),
    (re.compile(r"(layers\.\d+)\.linear1\."), r"\1.mlp.fc1."),
    (re.compile(r"(layers\.\d+)\.linear2\."), r"\1.mlp.fc2."),
)


def _rename(key: str) -> str:
    for pattern, replacement in _RENAMES:
        key = pattern.sub(replacement, key)
    return key


@register_converter(DETR, "facebookresearch")
def convert_facebookresearch_detr(state_dict: Mapping[str, Tensor], model: nn.Module) -> StateDict:
    """Official DETR (facebookresearch/detr) -> visionzoo DETR (see the mapping above)."""
    out: StateDict = {}
    for key, value in state_dict.items():
        if key.endswith("num_batches_tracked"):
            continue  # frozen BN keeps no counter (the official module drops it on load as well)
        match = _ATTN.match(key)
        if match:
            if value.shape[0] % 3:
                raise ValueError(f"{key} has {value.shape[0]} rows; a packed q/k/v projection needs a multiple of 3")
            prefix = _rename(match.group(1) + ".")
            for name, part in zip(("q_proj", "k_proj", "v_proj"), value.chunk(3, dim=0)):
                out[f"{prefix}{name}.{match.group(2)}"] = part.clone()
            continue
        out[_rename(key)] = value
    return out


@register_detector(DETR)
def detect_detr_layout(state_dict: Mapping[str, Tensor]) -> str:
    """"facebookresearch" for the official names (``backbone.0.body.*``, packed ``in_proj_weight``), else "visionzoo"."""
    if any(k.startswith("backbone.0.body.") or k.endswith(".in_proj_weight") for k in state_dict):
        return "facebookresearch"
    return "visionzoo"

