"""Hungarian matching of DETR's predictions to ground-truth boxes (one-to-one, minimum total cost)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn
from torch import Tensor
from torchvision.ops import box_convert, generalized_box_iou

__all__ = ["HungarianMatcher"]

Targets = Sequence[Mapping[str, Tensor]]


class HungarianMatcher(nn.Module):
    """Cost ``cost_class * -p(class) + cost_bbox * L1(cxcywh) + cost_giou * -GIoU(xyxy)`` and its optimal assignment.

    The cost of every prediction of the batch against every target of the batch is computed in one
    go (a (B*Q, sum n_i) matrix); scipy's `linear_sum_assignment` then solves each image's block.
    Returns, per image, ``(pred_indices, target_indices)`` int64 tensors of length ``min(Q, n_i)``.
    """

    def __init__(self, cost_class: float = 1.0, cost_bbox: float = 5.0, cost_giou: float = 2.0) -> None:
        super().__init__()
        if cost_class == 0 and cost_bbox == 0 and cost_giou == 0:
            raise ValueError("all matcher costs are 0: at least one of cost_class, cost_bbox, cost_giou must be non-zero")
        self.cost_class = cost_class
        self.cost_bbox = cost_bbox
        self.cost_giou = cost_giou

    @torch.no_grad()
    def cost_matrix(self, outputs: Mapping[str, Tensor], targets: Targets) -> Tensor:
        """The (B, Q, sum n_i) cost of each prediction against each target of the whole batch (on CPU)."""
        logits, boxes = outputs["pred_logits"], outputs["pred_boxes"]
        b, q = logits.shape[:2]
        prob = logits.flatten(0, 1).float().softmax(-1)
        out_bbox = boxes.flatten(0, 1).float()
        tgt_ids = torch.cat([t["labels"] for t in targets]).to(prob.device, torch.int64)
        tgt_bbox = torch.cat([t["boxes"] for t in targets]).to(out_bbox.device, torch.float32)
        cost = self.cost_bbox * torch.cdist(out_bbox, tgt_bbox, p=1) - self.cost_class * prob[:, tgt_ids]
        giou = generalized_box_iou(box_convert(out_bbox, "cxcywh", "xyxy"), box_convert(tgt_bbox, "cxcywh", "xyxy"))
        cost = cost - self.cost_giou * giou
        return cost.view(b, q, -1).cpu()

    @torch.no_grad()
    def forward(self, outputs: Mapping[str, Tensor], targets: Targets) -> list[tuple[Tensor, Tensor]]:
        b = outputs["pred_logits"].shape[0]
        if len(targets) != b:
            raise ValueError(f"got {len(targets)} target dicts for a batch of {b} predictions")
        sizes = [len(t["boxes"]) for t in targets]
        empty = torch.empty(0, dtype=torch.int64)
        if sum(sizes) == 0:
            return [(empty, empty) for _ in sizes]
        from scipy.optimize import linear_sum_assignment  # imported on first use: scipy.optimize takes ~1 s to import

        cost = self.cost_matrix(outputs, targets)
        if not torch.isfinite(cost).all():
            raise ValueError("the matching cost has NaN/inf entries: check for non-finite predictions or target boxes")
        indices = []
        for i, block in enumerate(cost.split(sizes, -1)):
            if sizes[i] == 0:
                indices.append((empty, empty))
                continue
            rows, cols = linear_sum_assignment(block[i].numpy())
            indices.append((torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64)))
        return indices
