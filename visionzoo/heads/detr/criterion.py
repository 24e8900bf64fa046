"""DETR's set loss: Hungarian matching, then cross-entropy, L1 and GIoU on the matched pairs, for every decoder layer."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import box_convert, generalized_box_iou

from .matcher import HungarianMatcher

__all__ = ["SetCriterion", "DEFAULT_WEIGHT_DICT"]

Targets = Sequence[Mapping[str, Tensor]]
DEFAULT_WEIGHT_DICT = {"loss_ce": 1.0, "loss_bbox": 5.0, "loss_giou": 2.0}


def _check_targets(targets: Targets, num_classes: int) -> None:
    for i, t in enumerate(targets):
        if "labels" not in t or "boxes" not in t:
            raise ValueError(f"target {i} needs 'labels' (n,) and 'boxes' (n, 4) normalised cx, cy, w, h; got keys {sorted(t)}")
        labels, boxes = t["labels"], t["boxes"]
        if boxes.ndim != 2 or boxes.shape[-1] != 4 or labels.shape != boxes.shape[:1]:
            raise ValueError(f"target {i}: expected labels (n,) and boxes (n, 4), got {tuple(labels.shape)} and {tuple(boxes.shape)}")
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
            raise ValueError(f"target {i}: labels must lie in [0, {num_classes}), got {labels.min().item()}..{labels.max().item()}")


class SetCriterion(nn.Module):
    """``criterion(outputs, targets) -> {"loss_ce", "loss_bbox", "loss_giou", "loss_ce_0", ...}``, already weighted.

    `targets` is one dict per image: ``labels`` int64 (n,) in ``[0, num_classes)`` and ``boxes`` (n, 4)
    normalised cx, cy, w, h. Unmatched predictions are trained towards the no-object class (index
    `num_classes`, weighted `eos_coef` in the cross-entropy). L1 and GIoU losses are summed over the
    matched pairs and divided by the number of target boxes, averaged over processes under
    torch.distributed (at least 1). With `aux_loss`, each ``outputs["aux_outputs"][i]`` (the earlier
    decoder layers) gets its own matching and the same losses with the suffix ``_{i}``; sum the values
    for the total.
    """

    def __init__(
        self,
        num_classes: int,
        matcher: HungarianMatcher | None = None,
        eos_coef: float = 0.1,
        weight_dict: Mapping[str, float] | None = None,
        aux_loss: bool = True,
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.matcher = matcher if matcher is not None else HungarianMatcher()
        self.eos_coef = eos_coef
        self.weight_dict = dict(DEFAULT_WEIGHT_DICT if weight_dict is None else weight_dict)
        unknown = set(self.weight_dict) - set(DEFAULT_WEIGHT_DICT)
        if unknown:
            raise ValueError(f"unknown loss names in weight_dict: {sorted(unknown)} (known: {sorted(DEFAULT_WEIGHT_DICT)})")
        self.aux_loss = aux_loss
        empty_weight = torch.ones(num_classes + 1)
        empty_weight[-1] = eos_coef
        self.register_buffer("empty_weight", empty_weight, persistent=False)

    def num_boxes(self, targets: Targets, device: torch.device) -> float:
        """Target boxes per process: the batch's count, averaged over processes under torch.distributed, at least 1."""
        n = torch.tensor(float(sum(len(t["labels"]) for t in targets)), device=device)
        world = 1
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(n)
            world = dist.get_world_size()
        return max(n.item() / world, 1.0)

    def _losses(self, outputs: Mapping[str, Tensor], targets: Targets, num_boxes: float, suffix: str) -> dict[str, Tensor]:
        logits, pred_boxes = outputs["pred_logits"], outputs["pred_boxes"]
        if logits.shape[-1] != self.num_classes + 1:
            raise ValueError(
                f"pred_logits has {logits.shape[-1]} classes, the criterion expects num_classes + 1 = {self.num_classes + 1}"
            )
        indices = self.matcher(outputs, targets)
        batch_idx = torch.cat([torch.full_like(src, i) for i, (src, _) in enumerate(indices)]).to(logits.device)
        src_idx = torch.cat([src for src, _ in indices]).to(logits.device)
        matched_labels = torch.cat([t["labels"][tgt.to(t["labels"].device)] for t, (_, tgt) in zip(targets, indices)])
        matched_boxes = torch.cat([t["boxes"][tgt.to(t["boxes"].device)] for t, (_, tgt) in zip(targets, indices)])

        target_classes = torch.full(logits.shape[:2], self.num_classes, dtype=torch.int64, device=logits.device)
        target_classes[batch_idx, src_idx] = matched_labels.to(logits.device, torch.int64)
        loss_ce = F.cross_entropy(logits.transpose(1, 2), target_classes, self.empty_weight.to(logits.dtype))

        src_boxes = pred_boxes[batch_idx, src_idx]
        tgt_boxes = matched_boxes.to(src_boxes)
        loss_bbox = F.l1_loss(src_boxes, tgt_boxes, reduction="sum") / num_boxes
        giou = generalized_box_iou(box_convert(src_boxes, "cxcywh", "xyxy"), box_convert(tgt_boxes, "cxcywh", "xyxy"))
        loss_giou = (1 - torch.diag(giou)).sum() / num_boxes
        losses = {"loss_ce": loss_ce, "loss_bbox": loss_bbox, "loss_giou": loss_giou}
        return {f"{k}{suffix}": v * self.weight_dict.get(k, 0.0) for k, v in losses.items() if k in self.weight_dict}

    def forward(self, outputs: Mapping[str, object], targets: Targets) -> dict[str, Tensor]:
        _check_targets(targets, self.num_classes)
        num_boxes = self.num_boxes(targets, outputs["pred_logits"].device)
        losses = self._losses(outputs, targets, num_boxes, "")
        if self.aux_loss:
            for i, aux in enumerate(outputs.get("aux_outputs", ())):
                losses.update(self._losses(aux, targets, num_boxes, f"_{i}"))
        return losses
