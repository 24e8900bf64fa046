"""The pre-norm transformer block shared by ViT, Swin and every backbone that plugs in a token mixer."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch.nn as nn
from timm.layers import DropPath, LayerScale
from torch import Tensor
from torch.nn.modules.module import _global_forward_hooks

from .microbatch import add_residual
from .mlp import Mlp

__all__ = ["TransformerBlock"]


class TransformerBlock(nn.Module):
    """``x + mixer(norm1(x), shape)`` then ``x + mlp(norm2(x))``, each branch with optional layer scale and DropPath.

    Submodule names (``norm1``, ``attn``, ``ls1``, ``norm2``, ``mlp.fc1``/``fc2``) follow timm's ViT and
    Swin blocks.
    """

    def __init__(
        self,
        dim: int,
        mixer: nn.Module,
        mlp_ratio: float = 4.0,
        norm_layer: Callable[[int], nn.Module] = nn.LayerNorm,
        act_layer: Callable[[], nn.Module] = nn.GELU,
        drop_path: float = 0.0,
        proj_drop: float = 0.0,
        init_values: float | None = None,
        mlp_layer: Callable[..., nn.Module] = Mlp,
    ) -> None:
        """`mlp_layer` builds the MLP from ``in_features``, ``hidden_features``, ``act_layer`` and ``drop`` (timm's
        convention; PVTv2 passes its depthwise-conv MLP)."""
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = mixer
        self.ls1 = LayerScale(dim, init_values=init_values) if init_values else nn.Identity()
        self.drop_path1 = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = norm_layer(dim)
        self.mlp = mlp_layer(in_features=dim, hidden_features=int(dim * mlp_ratio), act_layer=act_layer, drop=proj_drop)
        self.ls2 = LayerScale(dim, init_values=init_values) if init_values else nn.Identity()
        self.drop_path2 = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()

    def forward(self, x: Tensor, shape: Sequence[int]) -> Tensor:
        # in place only where no forward hook can hold the branch's output (feature and attention-map tools do)
        x = self._residual(self.drop_path1(self.ls1(self.attn(self.norm1(x), shape))), x, self.attn, self.ls1,
                           self.drop_path1)
        return self._residual(self.drop_path2(self.ls2(self.mlp(self.norm2(x)))), x, self.mlp, self.ls2,
                              self.drop_path2)

    @staticmethod
    def _residual(branch: Tensor, x: Tensor, *producers: nn.Module) -> Tensor:
        if _global_forward_hooks or any(m._forward_hooks for p in producers for m in p.modules()):
            return x + branch
        return add_residual(branch, x)

    @property
    def supports_prefix_only(self) -> bool:
        """True if the mixer can compute the output of leading tokens alone (`forward_prefix`)."""
        return hasattr(self.attn, "forward_queries")

    def forward_prefix(self, x: Tensor, shape: Sequence[int], num_tokens: int) -> Tensor:
        """``forward(x, shape)[:, :num_tokens]`` computed for those tokens only (they still attend to all)."""
        y = x[:, :num_tokens] + self.drop_path1(self.ls1(self.attn.forward_queries(self.norm1(x), num_tokens)))
        return y + self.drop_path2(self.ls2(self.mlp(self.norm2(y))))
