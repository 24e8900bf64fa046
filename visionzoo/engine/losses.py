"""Segmentation losses by ``type=`` name: MONAI ``DiceLoss`` (published recipe), ``DiceCELoss``, ``DiceBCELoss``.

TC/WT/ET are overlapping regions predicted by independent sigmoids, so the cross-entropy partner of
Dice must be binary: MONAI's ``DiceCELoss`` applies a softmax cross-entropy whenever there is more
than one channel (kept for softmax models), hence `DiceBCELoss`.
"""
from __future__ import annotations

from monai.losses import DiceCELoss, DiceLoss
from torch import Tensor, nn

from .registry import MODELS

__all__ = ["DiceBCELoss", "build_loss"]

MODELS.register_module(name="DiceLoss", module=DiceLoss)
MODELS.register_module(name="DiceCELoss", module=DiceCELoss)


@MODELS.register_module()
class DiceBCELoss(nn.Module):
    """``lambda_dice * DiceLoss(sigmoid=True, **dice_kwargs) + lambda_bce * BCEWithLogits`` for multi-label logits."""

    def __init__(self, lambda_dice: float = 1.0, lambda_bce: float = 1.0, **dice_kwargs) -> None:
        super().__init__()
        if lambda_dice < 0 or lambda_bce < 0:
            raise ValueError(f"loss weights must be >= 0, got lambda_dice={lambda_dice}, lambda_bce={lambda_bce}.")
        dice_kwargs.setdefault("sigmoid", True)
        self.dice = DiceLoss(**dice_kwargs)
        self.bce = nn.BCEWithLogitsLoss()
        self.lambda_dice, self.lambda_bce = float(lambda_dice), float(lambda_bce)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return self.lambda_dice * self.dice(logits, target) + self.lambda_bce * self.bce(logits, target.to(logits.dtype))


def build_loss(cfg: dict | nn.Module) -> nn.Module:
    """A loss module from a ``dict(type=..., **kwargs)`` config (or the module itself)."""
    if isinstance(cfg, nn.Module):
        return cfg
    return MODELS.build(dict(cfg))
