"""DETR predictions to per-image detections: scores, labels and absolute xyxy boxes."""
from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn as nn
from torch import Tensor
from torchvision.ops import box_convert

__all__ = ["PostProcess", "postprocess"]


@torch.no_grad()
def postprocess(outputs: Mapping[str, Tensor], target_sizes: Tensor) -> list[dict[str, Tensor]]:
    """One dict per image with ``scores`` (Q,), ``labels`` (Q,) and ``boxes`` (Q, 4) xyxy in pixels.

    The score of a query is its highest class probability excluding no-object (the last logit);
    `target_sizes` is (B, 2) as (height, width) of each original image, to which boxes are scaled.
    """
    logits, boxes = outputs["pred_logits"], outputs["pred_boxes"]
    target_sizes = torch.as_tensor(target_sizes, device=boxes.device)
    if target_sizes.shape != (logits.shape[0], 2):
        raise ValueError(f"target_sizes must be (B, 2) = ({logits.shape[0]}, 2) as (height, width), got {tuple(target_sizes.shape)}")
    scores, labels = logits.softmax(-1)[..., :-1].max(-1)
    h, w = target_sizes.to(boxes.dtype).unbind(1)
    scale = torch.stack([w, h, w, h], dim=1)[:, None, :]
    xyxy = box_convert(boxes, "cxcywh", "xyxy") * scale
    return [{"scores": s, "labels": l, "boxes": b} for s, l, b in zip(scores, labels, xyxy)]


class PostProcess(nn.Module):
    """Module form of `postprocess` (``forward(outputs, target_sizes[B, 2] as (h, w))``)."""

    def forward(self, outputs: Mapping[str, Tensor], target_sizes: Tensor) -> list[dict[str, Tensor]]:
        return postprocess(outputs, target_sizes)
