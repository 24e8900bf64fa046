"""`Detector`: an mmengine model around any visionzoo set-prediction detector (DETR on any backbone).

``mode="loss"`` matches predictions to targets (Hungarian) and returns the weighted set-criterion losses
(class, L1, GIoU, and each auxiliary decoder layer's); ``mode="predict"`` returns per image the
post-processed boxes (absolute xyxy in the ORIGINAL image size), scores and labels; ``mode="tensor"``
returns the network's raw outputs. The network is built by ``visionzoo.create_model(**net)``.

The published recipe trains the backbone at a tenth of the learning rate: configs do that with
``optim_wrapper.paramwise_cfg = dict(custom_keys={"backbone": dict(lr_mult=0.1)})`` (every parameter
whose name contains "backbone", as DETR's ``lr_backbone``).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from .detection_data import pad_images
from .registry import MODELS
from .task_model import TaskModel

__all__ = ["Detector"]


def _detr_head():
    from visionzoo.heads import detr  # the heads package is imported lazily: only detection configs need it

    return detr


_NEEDS_NUM_CLASSES = ("Detector needs num_classes: set it in the config (--cfg-options model.num_classes=K, K the "
                      "dataset's categories) or pass it as an argument.")


def _image_size(padding: Tensor) -> tuple[int, int]:
    """(h, w) of the image inside a (H, W) padding mask (True on padding, at the bottom and right)."""
    valid = ~padding
    return int(valid.any(1).sum()), int(valid.any(0).sum())


@MODELS.register_module()
class Detector(TaskModel):
    """Set-prediction detector: ``net`` is a `visionzoo.create_model` config, ``criterion`` the `SetCriterion` options.

    Args:
        net: e.g. ``dict(name="detr", backbone="resnet18", num_classes=3, num_queries=20)``.
        criterion: ``SetCriterion`` keywords (``eos_coef``, ``weight_dict``, ``aux_loss``) plus ``matcher``,
            a dict of ``HungarianMatcher`` keywords (``cost_class``, ``cost_bbox``, ``cost_giou``).
        num_classes: classes without no-object; default ``net["num_classes"]`` or the network's ``num_classes``.
        precision: inference precision: ``"fp32"`` (default), ``"bf16"`` (autocast) or ``"auto"`` (see `TaskModel`).
        per_image_predict: predict each image of a padded batch at its own size (default), so results do not depend
            on how images are batched: a CNN backbone's border features see the batch's padding (batch norm makes
            it non-zero, max-pooling pads with -inf alone), which moves boxes by a pixel or more (DETR #191, #239).
            False runs the padded batch at once, as training does (faster on GPUs).
    """

    default_preprocessor = "DetectionDataPreprocessor"

    def __init__(self, net: dict, criterion: dict | None = None, num_classes: int | None = None,
                 data_preprocessor: dict | None = None, init_cfg: dict | None = None, precision: str = "fp32",
                 per_image_predict: bool = True) -> None:
        if "num_classes" in net and net["num_classes"] is None and not num_classes:  # left for the user to set
            raise ValueError(_NEEDS_NUM_CLASSES)
        super().__init__(net, data_preprocessor, init_cfg, precision)
        self.per_image_predict = per_image_predict
        num_classes = num_classes or net.get("num_classes") or getattr(self.net, "num_classes", None)
        if not num_classes:
            raise ValueError(_NEEDS_NUM_CLASSES)
        self.num_classes = int(num_classes)
        head = _detr_head()
        crit = dict(criterion or {})
        matcher = crit.pop("matcher", None)
        matcher = head.HungarianMatcher(**matcher) if isinstance(matcher, dict) else matcher
        crit.setdefault("aux_loss", bool(net.get("aux_loss", True)))
        self.criterion = head.SetCriterion(self.num_classes, matcher=matcher, **crit)
        self._postprocess = head.postprocess

    def tensor(self, inputs: Tensor | Sequence[Tensor], mask: Tensor | None = None) -> dict[str, Any]:
        """The network's outputs; a list of images is padded into one batch with its padding mask."""
        if not isinstance(inputs, Tensor):
            inputs, mask = pad_images(list(inputs))
        return self.net(inputs, mask=mask) if mask is not None else self.net(inputs)

    def loss(self, inputs: Tensor | Sequence[Tensor], data_samples: list[dict] | None,
             mask: Tensor | None = None) -> dict[str, Tensor]:
        """The weighted set-criterion losses (every key holding "loss" is summed by mmengine)."""
        if not data_samples or any("boxes" not in ds or "labels" not in ds for ds in data_samples):
            raise ValueError("training needs boxes and labels in every data sample (CocoDetDataset + detection_collate).")
        device = inputs.device if isinstance(inputs, Tensor) else inputs[0].device
        targets = [{"labels": ds["labels"].to(device), "boxes": ds["boxes"].to(device)} for ds in data_samples]
        return self.criterion(self.tensor(inputs, mask), targets)

    def _predict_outputs(self, inputs: Tensor | Sequence[Tensor], mask: Tensor | None) -> dict[str, Tensor]:
        """``pred_logits``/``pred_boxes`` of every image, each run alone at its own size when `per_image_predict`."""
        padded = isinstance(inputs, Tensor)
        if not self.per_image_predict or len(inputs) == 1 or (padded and mask is None):
            return self.tensor(inputs, mask)
        if padded:
            images = [im[:, :h, :w] for im, (h, w) in zip(inputs, map(_image_size, mask))]
        else:
            images = list(inputs)
        outputs = [self.net(im.unsqueeze(0)) for im in images]
        return {key: torch.cat([o[key] for o in outputs]) for key in ("pred_logits", "pred_boxes")}

    @torch.no_grad()
    def predict(self, inputs: Tensor | Sequence[Tensor], data_samples: list[dict] | None = None,
                mask: Tensor | None = None) -> list[dict]:
        """Per image: its data sample (on the CPU) plus ``pred_boxes`` (Q, 4) xyxy pixels of the original image,
        ``pred_scores`` (Q,) and ``pred_labels`` (Q,)."""
        outputs = self._predict_outputs(inputs, mask)
        n = outputs["pred_logits"].shape[0]
        data_samples = data_samples or [{} for _ in range(n)]
        sizes = []
        for i, ds in enumerate(data_samples):
            if "orig_size" in ds:
                sizes.append([int(v) for v in ds["orig_size"]])
            elif not isinstance(inputs, Tensor):  # no meta: the input's own size
                sizes.append(list(inputs[i].shape[-2:]))
            elif mask is not None:
                sizes.append(list(_image_size(mask[i])))
            else:
                sizes.append(list(inputs.shape[-2:]))
        results = self._postprocess(outputs, torch.tensor(sizes, device=outputs["pred_logits"].device))
        out = []
        for ds, res in zip(data_samples, results):
            sample = {k: v.cpu() if isinstance(v, Tensor) else v for k, v in ds.items()}
            sample.update(pred_boxes=res["boxes"].cpu(), pred_scores=res["scores"].cpu(), pred_labels=res["labels"].cpu())
            out.append(sample)
        return out
