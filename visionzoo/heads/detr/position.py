"""Normalised 2D sine position embedding of DETR, computed from the padding mask so padded pixels do not shift it."""
from __future__ import annotations

import math

import torch
import torch.nn as nn
from torch import Tensor

__all__ = ["PositionEmbeddingSine"]


class PositionEmbeddingSine(nn.Module):
    """``forward(x[B, C, H, W], mask[B, H, W] | None) -> pos[B, 2 * num_pos_feats, H, W]`` (y features, then x).

    Coordinates are the cumulative count of valid (non-padding) pixels along each axis; with `normalize`
    they are divided by the valid extent and scaled to ``[0, scale]`` (default 2*pi), so each image of a
    padded batch gets the embedding it would get alone. Channel ``2i`` is ``sin(c / T^(2i/F))``, ``2i+1`` its cos.
    """

    def __init__(
        self, num_pos_feats: int = 128, temperature: float = 10000.0, normalize: bool = True, scale: float | None = None
    ) -> None:
        super().__init__()
        if scale is not None and not normalize:
            raise ValueError("scale is only used with normalize=True")
        self.num_pos_feats = num_pos_feats
        self.temperature = temperature
        self.normalize = normalize
        self.scale = 2 * math.pi if scale is None else scale

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        b, _, h, w = x.shape
        if mask is None:  # all valid: the cumulative counts are 1..H and 1..W
            y_embed = torch.arange(1, h + 1, dtype=torch.float32, device=x.device).view(1, h, 1).expand(b, h, w)
            x_embed = torch.arange(1, w + 1, dtype=torch.float32, device=x.device).view(1, 1, w).expand(b, h, w)
        else:
            if mask.shape != (b, h, w):
                raise ValueError(f"mask must have shape {(b, h, w)} (True = padding), got {tuple(mask.shape)}")
            not_mask = (~mask).to(torch.float32)
            y_embed = not_mask.cumsum(1)
            x_embed = not_mask.cumsum(2)
        if self.normalize:
            eps = 1e-6
            y_embed = y_embed / (y_embed[:, -1:, :] + eps) * self.scale
            x_embed = x_embed / (x_embed[:, :, -1:] + eps) * self.scale
        dim_t = torch.arange(self.num_pos_feats, dtype=torch.float32, device=x.device)
        dim_t = self.temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / self.num_pos_feats)
        pos_x = x_embed[..., None] / dim_t
        pos_y = y_embed[..., None] / dim_t
        pos_x = torch.stack((pos_x[..., 0::2].sin(), pos_x[..., 1::2].cos()), dim=4).flatten(3)
        pos_y = torch.stack((pos_y[..., 0::2].sin(), pos_y[..., 1::2].cos()), dim=4).flatten(3)
        return torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2).to(x.dtype)
