"""`ImageClassifier`, the `Accuracy` metric and `TimmOptimWrapperConstructor`: image classification under mmengine.

`ImageClassifier` wraps any registered classifier (``net`` is a `visionzoo.create_model` config). Training
follows timm's ``train.py``: Mixup / CutMix through `timm.data.Mixup` with `timm.loss.SoftTargetCrossEntropy`,
else label smoothing through `timm.loss.LabelSmoothingCrossEntropy`, else plain cross-entropy.
`TimmOptimWrapperConstructor` builds the parameter groups with timm's own helpers: no weight decay on
norms, biases and the model's ``no_weight_decay()`` names (position embeddings, class tokens,
relative-position tables), and optional layer-wise learning-rate decay from the model's ``group_matcher``.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper
from torch import Tensor, nn

from .registry import METRICS, MODELS, OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS, OPTIMIZERS
from .task_model import TaskModel

__all__ = ["ImageClassifier", "Accuracy", "TimmOptimWrapperConstructor", "Bf16OptimWrapper"]


@MODELS.register_module()
class ImageClassifier(TaskModel):
    """Single-label image classifier around ``visionzoo.create_model(**net)``.

    Args:
        net: e.g. ``dict(name="vit_small_patch16_224", num_classes=1000, drop_path_rate=0.1)``.
        mixup: `timm.data.Mixup` keywords (``mixup_alpha``, ``cutmix_alpha``, ``label_smoothing``, ...); None: off.
        label_smoothing: for the loss without mixup (timm's ``--smoothing``).
        replace_head: fine-tuning marker read by `resolve_cls_data` (the head is built for the data's classes).
        precision: inference precision: ``"fp32"`` (default), ``"bf16"`` (autocast) or ``"auto"`` (see `TaskModel`).
    """

    default_preprocessor = "ClsDataPreprocessor"

    def __init__(self, net: dict, mixup: dict | None = None, label_smoothing: float = 0.0, replace_head: bool = False,
                 data_preprocessor: dict | None = None, init_cfg: dict | None = None, precision: str = "fp32") -> None:
        super().__init__(net, data_preprocessor, init_cfg, precision)
        from timm.data import Mixup
        from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy

        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}.")
        self.num_classes = int(getattr(self.net, "num_classes", net.get("num_classes") or 0))
        if self.num_classes <= 0:
            raise ValueError(f"{net.get('name')} has no classification head (num_classes={self.num_classes}).")
        self.mixup = Mixup(**{"num_classes": self.num_classes, **mixup}) if mixup else None
        if self.mixup is not None:
            self.loss_fn: nn.Module = SoftTargetCrossEntropy()
        elif label_smoothing > 0:
            self.loss_fn = LabelSmoothingCrossEntropy(smoothing=label_smoothing)
        else:
            self.loss_fn = nn.CrossEntropyLoss()
        self.label_smoothing = float(label_smoothing)

    def init_weights(self) -> None:
        """Nothing to do: `create_model` initialised the network (or loaded pretrained weights that must survive)."""

    def loss(self, inputs: Tensor, data_samples: list[dict] | None) -> dict[str, Tensor]:
        """``{"loss": ...}``; Mixup/CutMix mixes the batch first when configured (and the batch size is even)."""
        if not data_samples or any("gt_label" not in ds for ds in data_samples):
            raise ValueError("training needs a gt_label in every sample (ImageClsDataset + cls_collate).")
        labels = torch.as_tensor([int(ds["gt_label"]) for ds in data_samples], device=inputs.device)
        if self.mixup is not None:
            if len(labels) % 2 == 0:
                inputs, targets = self.mixup(inputs, labels)
            else:  # timm's Mixup needs pairs; an odd last batch gets the smoothed one-hot targets only
                from timm.data.mixup import one_hot

                off = self.mixup.label_smoothing / self.num_classes
                targets = one_hot(labels, self.num_classes, on_value=1.0 - self.mixup.label_smoothing + off,
                                  off_value=off)
            return {"loss": self.loss_fn(self.net(inputs), targets)}
        return {"loss": self.loss_fn(self.net(inputs), labels)}

    @torch.no_grad()
    def predict(self, inputs: Tensor, data_samples: list[dict] | None = None) -> list[dict]:
        """Per image: its data sample plus ``pred_scores`` (softmax over classes) and ``pred_label``."""
        scores = F.softmax(self.net(inputs).float(), dim=-1).cpu()
        data_samples = data_samples or [{} for _ in range(len(scores))]
        out = []
        for ds, s in zip(data_samples, scores):
            out.append({**ds, "pred_scores": s, "pred_label": int(s.argmax())})
        return out


@METRICS.register_module()
class Accuracy(BaseMetric):
    """Top-k accuracy in percent (``accuracy/top1``, ``accuracy/top5``: mmpretrain's keys), per-class accuracy
    and the confusion matrix.

    k larger than the number of classes is clamped to it. After `evaluate`, `confusion` holds the (C, C)
    count matrix (rows: true class, columns: predicted) and `per_class` each class's accuracy in percent.
    """

    default_prefix: str | None = "accuracy"

    def __init__(self, topk: Sequence[int] = (1, 5), collect_device: str = "cpu", prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.topk = tuple(int(k) for k in topk)
        if not self.topk or min(self.topk) < 1:
            raise ValueError(f"Accuracy topk must be positive integers, got {topk}.")
        self.confusion: np.ndarray | None = None
        self.per_class: dict[str, float] = {}

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        for ds in data_samples:
            if "gt_label" not in ds:
                continue
            scores = ds["pred_scores"]
            k = min(max(self.topk), scores.numel())
            self.results.append({"gt": int(ds["gt_label"]), "topk": scores.topk(k).indices.tolist(),
                                 "num_classes": scores.numel()})

    def compute_metrics(self, results: list[dict]) -> dict[str, float]:
        if not results:
            raise ValueError("Accuracy got no labelled predictions: is the evaluation split empty?")
        n_cls = results[0]["num_classes"]
        gt = np.array([r["gt"] for r in results])
        ranked = [r["topk"] for r in results]
        metrics = {}
        for k in self.topk:
            kk = min(k, n_cls)
            hits = np.array([g in t[:kk] for g, t in zip(gt, ranked)])
            metrics[f"top{k}"] = float(hits.mean() * 100)
        pred = np.array([t[0] for t in ranked])
        confusion = np.zeros((n_cls, n_cls), dtype=np.int64)
        np.add.at(confusion, (gt, pred), 1)
        self.confusion = confusion
        classes = (self.dataset_meta or {}).get("classes") or [str(i) for i in range(n_cls)]
        support = confusion.sum(1)
        self.per_class = {str(c): float(confusion[i, i] / support[i] * 100) for i, c in enumerate(classes)
                          if i < n_cls and support[i]}
        metrics["mean_class"] = float(np.mean(list(self.per_class.values())))
        return metrics


@OPTIM_WRAPPERS.register_module()
class Bf16OptimWrapper(OptimWrapper):
    """`OptimWrapper` whose forward runs under bf16 autocast (CPU with AVX512-BF16 / AMX, or CUDA); no loss scaling.

    Gradients and optimizer state stay fp32; autocast keeps softmax, norms and reductions in fp32.
    """

    @contextlib.contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        device = "cuda" if next(model.parameters()).is_cuda else "cpu"
        with super().optim_context(model), torch.autocast(device_type=device, dtype=torch.bfloat16):
            yield


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class TimmOptimWrapperConstructor:
    """Optimizer parameter groups from timm: weight decay off for 1-D parameters and ``no_weight_decay()`` names,
    optional layer-wise lr decay (``paramwise_cfg=dict(layer_decay=0.65)``, ViT fine-tuning).

    The groups' learning rates are pre-scaled (``lr * lr_scale``), so mmengine's schedulers keep the ratios.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict | None = None) -> None:
        self.wrapper_cfg = dict(optim_wrapper_cfg)
        self.optimizer_cfg = dict(self.wrapper_cfg.pop("optimizer"))
        paramwise_cfg = dict(paramwise_cfg or {})
        self.layer_decay = paramwise_cfg.pop("layer_decay", None)
        self.no_weight_decay_1d = bool(paramwise_cfg.pop("no_weight_decay_1d", True))
        if paramwise_cfg:
            raise ValueError(f"TimmOptimWrapperConstructor: unknown paramwise_cfg keys {sorted(paramwise_cfg)} "
                             "(it takes layer_decay and no_weight_decay_1d).")
        if self.layer_decay is not None and not 0 < float(self.layer_decay) <= 1:
            raise ValueError(f"layer_decay must be in (0, 1], got {self.layer_decay}.")

    def __call__(self, model: nn.Module) -> OptimWrapper:
        from timm.optim import param_groups_layer_decay, param_groups_weight_decay

        model = model.module if is_model_wrapper(model) else model
        net = getattr(model, "net", model)
        weight_decay = float(self.optimizer_cfg.get("weight_decay", 0.0))
        no_decay = set(net.no_weight_decay()) if hasattr(net, "no_weight_decay") else set()
        lr = float(self.optimizer_cfg["lr"])
        if self.layer_decay is not None:
            if not hasattr(net, "group_matcher"):
                raise ValueError(f"layer_decay needs a model with group_matcher(); {type(net).__name__} has none.")
            groups = param_groups_layer_decay(net, weight_decay, no_decay, layer_decay=float(self.layer_decay),
                                              weight_decay_exclude_1d=self.no_weight_decay_1d)
            for g in groups:
                g["lr"] = lr * g.pop("lr_scale", 1.0)
        else:
            groups = param_groups_weight_decay(net, weight_decay, weight_decay_exclude_1d=self.no_weight_decay_1d,
                                               no_weight_decay_list=no_decay)
        covered = {id(p) for g in groups for p in g["params"]}
        rest = [p for p in model.parameters() if p.requires_grad and id(p) not in covered]
        if rest:
            groups.append({"params": rest, "weight_decay": weight_decay})
        optimizer = OPTIMIZERS.build(dict(self.optimizer_cfg, params=groups))
        return OPTIM_WRAPPERS.build(dict(self.wrapper_cfg, optimizer=optimizer))
