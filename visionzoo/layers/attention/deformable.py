"""Multi-scale deformable attention (Zhu et al. 2021, "Deformable DETR"), the encoder and decoder attention of
Deformable DETR, DINO and Focus-DETR.

Each query attends to `num_points` sampled locations per head on every level of a feature pyramid instead of to
every token: offsets around the query's reference point and the weights of the samples are linear functions of
the query, the samples are read by bilinear interpolation (``F.grid_sample``, zero outside the map), and the
weights are a softmax over all levels and points of a head. Cost is linear in the number of queries, and the
pyramid is never flattened into one attention matrix.

Conventions (those of the official code and detrex, so that their checkpoints load by key):
- parameters ``sampling_offsets``, ``attention_weights``, ``value_proj``, ``output_proj``;
- a flattened pyramid ``value`` (B, sum(H_l * W_l), C), levels in order, each row-major;
- reference points normalised to [0, 1] with (x, y) order, 0 and 1 being the outer edges of the map
  (``align_corners=False``): (B, Q, L, 2) points, offsets scaled by each level's (W, H), or (B, Q, L, 4) boxes
  (cx, cy, w, h), offsets scaled by half the box over `num_points`;
- a padding mask (B, sum(H_l * W_l)), True on padding, zeroes those values before sampling.

Registered as the ``deformable`` token mixer too (`DeformableSelfAttention`): one level, each token's centre its
reference point, so that it can stand in for attention in a 2D backbone.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .base import check_grid
from .registry import register_attention

__all__ = ["multi_scale_deformable_attention", "MultiScaleDeformableAttention", "DeformableSelfAttention"]


def _level_shapes(spatial_shapes: Sequence[Sequence[int]] | Tensor) -> list[tuple[int, int]]:
    shapes = spatial_shapes.tolist() if isinstance(spatial_shapes, Tensor) else spatial_shapes
    return [(int(h), int(w)) for h, w in shapes]


def multi_scale_deformable_attention(
    value: Tensor, spatial_shapes: Sequence[Sequence[int]] | Tensor, sampling_locations: Tensor, attention_weights: Tensor
) -> Tensor:
    """The sampling core: (B, Q, heads * head_dim) from per-head values and weighted sampling points.

    Args:
        value: (B, S, heads, head_dim), the levels' maps flattened in order (S = sum of H_l * W_l).
        spatial_shapes: (H_l, W_l) per level.
        sampling_locations: (B, Q, heads, L, P, 2), (x, y) in [0, 1] (outside reads zeros).
        attention_weights: (B, Q, heads, L, P), normalised over L * P by the caller.
    """
    shapes = _level_shapes(spatial_shapes)
    b, s, heads, head_dim = value.shape
    _, q, _, levels, points, _ = sampling_locations.shape
    if len(shapes) != levels:
        raise ValueError(f"sampling_locations has {levels} levels but spatial_shapes lists {len(shapes)}: {shapes}")
    if sum(h * w for h, w in shapes) != s:
        raise ValueError(f"value has {s} tokens but the levels {shapes} hold {sum(h * w for h, w in shapes)}")
    grids = sampling_locations * 2 - 1  # grid_sample's [-1, 1], align_corners=False: -1/1 are the outer edges
    samples = []
    for level, ((h, w), level_value) in enumerate(zip(shapes, value.split([h * w for h, w in shapes], dim=1))):
        maps = level_value.permute(0, 2, 3, 1).reshape(b * heads, head_dim, h, w)
        grid = grids[:, :, :, level].transpose(1, 2).reshape(b * heads, q, points, 2)
        samples.append(F.grid_sample(maps, grid, mode="bilinear", padding_mode="zeros", align_corners=False))
    sampled = torch.stack(samples, dim=-2).flatten(-2)  # B*heads, head_dim, Q, L*P
    weights = attention_weights.transpose(1, 2).reshape(b * heads, 1, q, levels * points)
    out = (sampled * weights).sum(-1)  # B*heads, head_dim, Q
    return out.view(b, heads * head_dim, q).transpose(1, 2)


class MultiScaleDeformableAttention(nn.Module):
    """Deformable attention of queries over a multi-scale feature pyramid (the paper's MSDeformAttn).

    ``forward(query, reference_points, value, spatial_shapes, padding_mask=None) -> (B, Q, dim)``; see the
    module docstring for the layouts. `value` is the flattened pyramid before the value projection.
    """

    def __init__(self, dim: int = 256, num_heads: int = 8, num_levels: int = 4, num_points: int = 4,
                 proj_drop: float = 0.0) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"num_heads={num_heads} does not divide dim={dim}")
        for name, count in (("num_levels", num_levels), ("num_points", num_points)):
            if count < 1:
                raise ValueError(f"{name} must be at least 1, got {count}")
        self.dim, self.num_heads, self.num_levels, self.num_points = dim, num_heads, num_levels, num_points
        self.sampling_offsets = nn.Linear(dim, num_heads * num_levels * num_points * 2)
        self.attention_weights = nn.Linear(dim, num_heads * num_levels * num_points)
        self.value_proj = nn.Linear(dim, dim)
        self.output_proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The paper's initialisation: every head starts sampling along its own direction (head h at angle
        2 pi h / heads, scaled so the larger coordinate is 1), point p at distance p + 1, with equal weights."""
        nn.init.zeros_(self.sampling_offsets.weight)
        angles = torch.arange(self.num_heads, dtype=torch.float32) * (2.0 * math.pi / self.num_heads)
        directions = torch.stack([angles.cos(), angles.sin()], dim=-1)
        directions = directions / directions.abs().max(dim=-1, keepdim=True).values
        steps = torch.arange(1, self.num_points + 1, dtype=torch.float32).view(1, 1, -1, 1)
        bias = directions.view(self.num_heads, 1, 1, 2).repeat(1, self.num_levels, self.num_points, 1) * steps
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(bias.flatten())
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        for proj in (self.value_proj, self.output_proj):
            nn.init.xavier_uniform_(proj.weight)
            nn.init.zeros_(proj.bias)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_heads={self.num_heads}, num_levels={self.num_levels}, num_points={self.num_points}"

    def sampling(self, query: Tensor, reference_points: Tensor, spatial_shapes: Sequence[Sequence[int]] | Tensor
                 ) -> tuple[Tensor, Tensor]:
        """(sampling locations (B, Q, heads, L, P, 2), attention weights (B, Q, heads, L, P)) of `query`."""
        b, q, _ = query.shape
        heads, levels, points = self.num_heads, self.num_levels, self.num_points
        offsets = self.sampling_offsets(query).view(b, q, heads, levels, points, 2)
        weights = self.attention_weights(query).view(b, q, heads, levels * points).softmax(-1)
        weights = weights.view(b, q, heads, levels, points)
        if reference_points.dim() == 3:  # (B, Q, 2|4): the same point on every level
            reference_points = reference_points.unsqueeze(2).expand(-1, -1, levels, -1)
        if reference_points.shape[:3] != (b, q, levels) or reference_points.shape[-1] not in (2, 4):
            raise ValueError(f"reference_points must be (B, Q, {levels}, 2 or 4) for {q} queries, got "
                             f"{tuple(reference_points.shape)}")
        ref = reference_points[:, :, None, :, None, :]  # B, Q, 1, L, 1, 2|4
        if reference_points.shape[-1] == 2:
            shapes = _level_shapes(spatial_shapes)
            scale = offsets.new_tensor([[w, h] for h, w in shapes]).view(1, 1, 1, levels, 1, 2)
            return ref + offsets / scale, weights
        return ref[..., :2] + offsets / points * ref[..., 2:] * 0.5, weights

    def forward(self, query: Tensor, reference_points: Tensor, value: Tensor,
                spatial_shapes: Sequence[Sequence[int]] | Tensor, padding_mask: Tensor | None = None) -> Tensor:
        b, s, _ = value.shape
        shapes = _level_shapes(spatial_shapes)  # once: a tensor of shapes is read back a single time
        if len(shapes) != self.num_levels:
            raise ValueError(f"this attention has {self.num_levels} levels, got spatial_shapes {shapes}")
        value = self.value_proj(value)
        if padding_mask is not None:
            value = value.masked_fill(padding_mask[..., None], 0.0)
        value = value.view(b, s, self.num_heads, self.dim // self.num_heads)
        locations, weights = self.sampling(query, reference_points, shapes)
        out = multi_scale_deformable_attention(value, shapes, locations, weights)
        return self.proj_drop(self.output_proj(out))


class DeformableSelfAttention(MultiScaleDeformableAttention):
    """The ``deformable`` token mixer: single-level deformable self-attention over a 2D token grid, each token's
    reference point its own centre (the Deformable DETR encoder on one level)."""

    def __init__(self, dim: int, num_heads: int, num_points: int = 4, proj_drop: float = 0.0) -> None:
        super().__init__(dim, num_heads, num_levels=1, num_points=num_points, proj_drop=proj_drop)

    def forward(self, x: Tensor, shape: Sequence[int]) -> Tensor:  # type: ignore[override]
        h, w = check_grid(x, shape, 0, "deformable attention", (2,))
        ys = (torch.arange(h, device=x.device, dtype=x.dtype) + 0.5) / h
        xs = (torch.arange(w, device=x.device, dtype=x.dtype) + 0.5) / w
        centres = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).reshape(1, h * w, 1, 2)
        return super().forward(x, centres.expand(x.shape[0], -1, -1, -1), x, [(h, w)])


register_attention("deformable", DeformableSelfAttention, spatial_dims=(2,), prefix_tokens=False)
