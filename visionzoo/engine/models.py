"""`VolumeSegmenter`: an mmengine model around any visionzoo 3D segmenter (Swin UNETR, UNETR, ...).

``mode="loss"`` applies the configured loss to the logits of training crops; ``mode="predict"`` runs
MONAI sliding-window inference over whole volumes and thresholds the sigmoid, giving one binary
TC/WT/ET mask per case; ``mode="tensor"`` returns raw logits. The network is built by
``visionzoo.create_model(**net)``, the same call users make.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from monai.inferers import sliding_window_inference
from torch import Tensor

from .losses import build_loss
from .registry import MODELS
from .task_model import TaskModel

__all__ = ["VolumeSegmenter", "SlidingWindow"]

_BLEND_MODES = ("constant", "gaussian")


@dataclass(frozen=True)
class SlidingWindow:
    """Sliding-window inference settings (MONAI names); `threshold` applies to the sigmoid of the blended logits."""

    roi_size: tuple[int, ...] = (128, 128, 128)
    sw_batch_size: int = 1
    overlap: float = 0.5
    mode: str = "constant"
    sigma_scale: float = 0.125
    threshold: float = 0.5
    sw_device: str | None = None
    device: str | None = None  # where windows are stitched; "cpu" saves GPU memory on 240x240x155 volumes

    def __post_init__(self) -> None:
        if self.mode not in _BLEND_MODES:
            raise ValueError(f"inference mode must be one of {_BLEND_MODES}, got {self.mode!r}.")
        if not 0 <= self.overlap < 1:
            raise ValueError(f"inference overlap must be in [0, 1), got {self.overlap}.")
        object.__setattr__(self, "roi_size", tuple(int(r) for r in self.roi_size))


@MODELS.register_module()
class VolumeSegmenter(TaskModel):
    """Multi-label volume segmenter: ``net`` is a `visionzoo.create_model` config, ``loss`` a loss config.

    Args:
        net: e.g. ``dict(name="swin_unetr_brats", feature_size=48)``.
        loss: e.g. ``dict(type="DiceLoss", sigmoid=True)`` (published) or ``dict(type="DiceBCELoss")``.
        inference: `SlidingWindow` fields, e.g. ``dict(roi_size=(128, 128, 128), overlap=0.5, mode="gaussian")``.
        precision: inference precision: ``"fp32"`` (default), ``"bf16"`` (autocast) or ``"auto"`` (see `TaskModel`).
    """

    default_preprocessor = "BratsDataPreprocessor"

    def __init__(self, net: dict, loss: dict | None = None, inference: dict | None = None,
                 data_preprocessor: dict | None = None, init_cfg: dict | None = None, precision: str = "fp32") -> None:
        super().__init__(net, data_preprocessor, init_cfg, precision)
        self.loss_fn = build_loss(loss or dict(type="DiceLoss", sigmoid=True))
        self.inference = SlidingWindow(**(inference or {}))

    def loss(self, inputs: Tensor | Sequence[Tensor], data_samples: list[dict] | None) -> dict[str, Tensor]:
        """``{"loss": loss(logits, labels)}`` for a batch of equal-sized training crops."""
        if not isinstance(inputs, Tensor):
            raise ValueError("training images in a batch differ in shape; crop them to one roi_size in the train pipeline.")
        if not data_samples or any("label" not in ds for ds in data_samples):
            raise ValueError("training needs a label in every sample (BratsSegDataset with require_label=True).")
        labels = torch.stack([ds["label"] for ds in data_samples]).to(inputs.device)
        return {"loss": self.loss_fn(self.net(inputs), labels)}

    @torch.no_grad()
    def predict(self, inputs: Tensor | Sequence[Tensor], data_samples: list[dict] | None = None) -> list[dict]:
        """Per case: the data sample plus ``pred``, a bool (3, *S) TC/WT/ET mask on the CPU (label moved to the CPU too)."""
        images = list(inputs.unbind(0)) if isinstance(inputs, Tensor) else list(inputs)
        data_samples = data_samples or [{} for _ in images]
        out = []
        for image, ds in zip(images, data_samples):
            prob = torch.sigmoid(self.sliding_window_logits(image[None]))[0]
            sample = {k: v.cpu() if isinstance(v, Tensor) else v for k, v in ds.items()}
            sample["pred"] = (prob > self.inference.threshold).cpu()
            out.append(sample)
        return out

    def sliding_window_logits(self, image: Tensor) -> Tensor:
        """Blended logits (B, classes, *S) of a whole volume, windows of `inference.roi_size`."""
        cfg = self.inference
        if len(cfg.roi_size) != image.dim() - 2:
            raise ValueError(
                f"inference roi_size {cfg.roi_size} does not match a {image.dim() - 2}D input {tuple(image.shape)}."
            )
        return sliding_window_inference(
            image, cfg.roi_size, cfg.sw_batch_size, self.net, overlap=cfg.overlap, mode=cfg.mode,
            sigma_scale=cfg.sigma_scale, sw_device=cfg.sw_device, device=cfg.device,
        )

    def extra_repr(self) -> str:
        return f"inference={asdict(self.inference)}"
