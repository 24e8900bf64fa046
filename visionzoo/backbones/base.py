"""timm's model interface, written once for every backbone family: `TimmBackbone`.

A family describes its trunk through a few small hooks (the stem, one stage, the final norm, how a stage's output
becomes an NCHW map) and a few class attributes (where its stages and classifier live, which pools it accepts);
`TimmBackbone` builds on them `forward_features`/`forward_head`/`forward`, `forward_intermediates`,
`prune_intermediate_layers`, `get_classifier`/`reset_classifier` and `set_grad_checkpointing`, so these behave the
same in every family (timm's semantics: `stop_early` runs up to the last requested stage, `intermediates_only`
returns just the list and stops there too).

Gradient checkpointing is one rule (`GradCheckpointing.checkpointed`): a block runs through
``torch.utils.checkpoint`` when its owner's flag is on and the model trains. The owner is the backbone where it
iterates the blocks itself (ViT) and the stage module where a stage iterates its blocks (Swin, PVT, Twins,
BiFormer; ResNet's stages are `CheckpointedSequential`); `set_grad_checkpointing` sets every owner's flag, so
memory is traded block by block everywhere, as in timm.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn as nn
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from ..layers import trunc_normal_
from .features import feature_take_indices

__all__ = ["CheckpointedSequential", "GradCheckpointing", "TimmBackbone", "set_grad_checkpointing"]

State = Any  # what flows between stages: a tensor, or (tokens, grid) for token families


class GradCheckpointing:
    """Mixin for a module that runs blocks in a loop: its `grad_checkpointing` flag and the one checkpointing rule."""

    grad_checkpointing: bool = False
    training: bool

    def checkpointed(self, block: nn.Module, *args: Any) -> Any:
        """``block(*args)``, recomputed during backward when checkpointing is on and training: activation memory for compute."""
        if self.grad_checkpointing and self.training and not torch.jit.is_scripting():
            return checkpoint(block, *args, use_reentrant=False)
        return block(*args)


def set_grad_checkpointing(model: nn.Module, enable: bool = True) -> None:
    """Set the flag of every block-running module in `model`: the one switch of timm models and Swin UNETR."""
    for module in model.modules():
        if isinstance(module, GradCheckpointing):
            module.grad_checkpointing = enable


class CheckpointedSequential(GradCheckpointing, nn.Sequential):
    """`nn.Sequential` (same names, same hooks) whose modules are checkpointed one by one when enabled."""

    def forward(self, x: Tensor) -> Tensor:
        for module in self:
            x = self.checkpointed(module, x)
        return x


class TimmBackbone(GradCheckpointing, nn.Module):
    """Base of every classification backbone: timm's model interface on top of a few per-family hooks.

    Class attributes a family sets: `stages_attr` (the attribute holding the stages; ViT's blocks), `stage_siblings`
    (per-stage lists pruned with them, BiFormer's ``downsample_layers``), `classifier_attr` (``head``, ``fc``;
    a dotted one, Swin's ``head.fc``, comes with its own `_reset_head` and `forward_head`), `pool_types` (accepted `global_pool` values) and `isotropic` (every stage has one width and the
    final norm fits each, as in ViT: intermediates are normalised when asked, the final output always is, and
    ending early keeps norm and head). Hooks: `_stem`, `_run_stage`, `_apply_norm`, `_stage_to_nchw`, `_features_out`.
    """

    stages_attr: str = "stages"
    stage_siblings: tuple[str, ...] = ()
    classifier_attr: str = "head"
    pool_types: tuple[str, ...] = ("avg", "")
    isotropic: bool = False
    num_classes: int
    num_features: int
    global_pool: str

    # --- construction ---------------------------------------------------------------------------
    def _init_interface(self, in_chans: int, num_classes: int, global_pool: str, num_features: int) -> None:
        """timm's model attributes, set first in a constructor: `global_pool` is checked (`_check_pool`) before
        anything is built; `num_features` (= `head_hidden_size`) is the width the classifier takes."""
        self._check_pool(global_pool)
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.global_pool = global_pool
        self.num_features = self.head_hidden_size = num_features

    def _init_classifier(self, drop_rate: float) -> None:
        """The head dropout and the linear classifier (`classifier_attr`; an Identity for 0 classes) on `num_features`."""
        self.head_drop = nn.Dropout(drop_rate)
        classifier = nn.Linear(self.num_features, self.num_classes) if self.num_classes > 0 else nn.Identity()
        setattr(self, self.classifier_attr, classifier)

    @staticmethod
    def _init_linear(m: nn.Module) -> None:
        """timm's transformer initialisation of a linear layer (truncated normal, std 0.02; zero bias); others unchanged."""
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    # --- hooks --------------------------------------------------------------------------------
    @property
    def _stages(self) -> Sequence[nn.Module]:
        """The stages, in order (ViT: its blocks)."""
        return getattr(self, self.stages_attr)

    def _stem(self, x: Tensor) -> State:
        """The input after the stem: the state the first stage takes."""
        raise NotImplementedError

    def _run_stage(self, i: int, state: State) -> State:
        """Stage `i` on the previous state (default: the stage module called on it)."""
        return self._stages[i](state)

    def _apply_norm(self, state: State) -> State:
        """The final norm on a state (default: ``self.norm`` on the tensor)."""
        return self.norm(state)

    def _stage_to_nchw(self, state: State, i: int) -> Tensor:
        """Stage `i`'s output as an NCHW (NCDHW) map, the form of `forward_intermediates` (default: as it is)."""
        return state

    def _features_out(self, state: State, i: int) -> Tensor:
        """What `forward_features` returns for the (normalised) output of stage `i` (default: the state)."""
        return state

    def _truncate(self, num_stages: int) -> None:
        """Keep the first `num_stages` stages (and their siblings); parameter names of the kept ones are unchanged."""
        for name in (self.stages_attr, *self.stage_siblings):
            setattr(self, name, getattr(self, name)[:num_stages])

    def _check_pool(self, global_pool: str) -> None:
        """Raise a ValueError for a `global_pool` this model cannot apply."""
        if global_pool not in self.pool_types:
            raise ValueError(f"global_pool must be one of {self.pool_types}, got {global_pool!r}")

    def _reset_head(self, num_classes: int, global_pool: str | None) -> None:
        """Install a fresh classifier for `num_classes` (0: none) on `num_features`, on the model's device."""
        device = next(self.parameters()).device
        head = nn.Linear(self.num_features, num_classes, device=device) if num_classes > 0 else nn.Identity()
        setattr(self, self.classifier_attr, head)

    def _prune_head(self) -> None:
        """Remove the classifier (`prune_intermediate_layers`)."""
        self.reset_classifier(0, "")

    def _final_norm(self, state: State, i: int) -> State:
        """The final norm on stage `i`'s output where it applies: after the last stage (every stage if isotropic)."""
        return self._apply_norm(state) if self.isotropic or i == len(self._stages) - 1 else state

    # --- timm model interface -------------------------------------------------------------------
    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        """No parameter is exempt by name (timm's optimizer factory already exempts 1-D norms and biases)."""
        return set()

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute block activations during backward (less memory): sets the flag of every block-running module."""
        set_grad_checkpointing(self, enable)

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        """The final classification layer (``pretrained_cfg["classifier"]``)."""
        return self.get_submodule(self.classifier_attr)

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Replace the classifier with a fresh one for `num_classes` (0 removes it), optionally changing the pool."""
        if global_pool is not None:
            self._check_pool(global_pool)
        self._reset_head(num_classes, global_pool)
        if global_pool is not None:
            self.global_pool = global_pool
        self.num_classes = num_classes

    # --- forward ------------------------------------------------------------------------------
    def forward_features(self, x: Tensor) -> Tensor:
        """The last stage's output after the final norm, in the family's layout (see the class docstring)."""
        state = self._stem(x)
        last = len(self._stages) - 1
        for i in range(last + 1):
            state = self._run_stage(i, state)
        return self._features_out(self._final_norm(state, last), last)

    def pool(self, x: Tensor) -> Tensor:
        """Global pooling of an NCHW map by `global_pool` ("avg", "max"; "" keeps the map)."""
        if self.global_pool == "avg":
            return x.mean(dim=(2, 3))
        if self.global_pool == "max":
            return x.amax(dim=(2, 3))
        return x

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Pool, dropout and classifier on `forward_features`' output; `pre_logits` stops before the classifier."""
        x = self.head_drop(self.pool(x))
        return x if pre_logits else getattr(self, self.classifier_attr)(x)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (B, num_classes)."""
        return self.forward_head(self.forward_features(x))

    def forward_intermediates(
        self,
        x: Tensor,
        indices: int | Sequence[int] | None = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ) -> list[Tensor] | tuple[Tensor, list[Tensor]]:
        """Stage outputs at `indices` (last n if int, all if None) as NCHW maps: the feature pyramid of dense heads.

        `norm` applies the final norm where it fits (the last stage; every stage of an isotropic model); the
        final output (not with `intermediates_only`) is `forward_features`' of the last stage run.
        """
        if output_fmt != "NCHW":
            raise ValueError(f"output_fmt must be 'NCHW', got {output_fmt!r}")
        return self._intermediates(x, indices, norm, stop_early, intermediates_only, self._stage_to_nchw)

    def _intermediates(
        self,
        x: Tensor,
        indices: int | Sequence[int] | None,
        norm: bool,
        stop_early: bool,
        intermediates_only: bool,
        fmt: Callable[[State, int], Any],
    ) -> list[Any] | tuple[Tensor, list[Any]]:
        """The one intermediates loop: stem, stages (up to the last taken one when stopping early), `fmt` per taken one."""
        num_stages = len(self._stages)
        take, max_index = feature_take_indices(num_stages, indices)
        last = max_index if stop_early or intermediates_only else num_stages - 1
        state = self._stem(x)
        intermediates = []
        for i in range(last + 1):
            state = self._run_stage(i, state)
            if i in take:
                intermediates.append(fmt(self._final_norm(state, i) if norm else state, i))
        if intermediates_only:
            return intermediates
        return self._features_out(self._final_norm(state, last), last), intermediates

    def prune_intermediate_layers(
        self, indices: int | Sequence[int] = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> list[int]:
        """Drop the stages after the last of `indices`, and the norm/head they or the caller no longer need.

        Ending early (not isotropic) also drops the final norm and the head, and sets `num_features` to the width
        of the last kept stage. Returns the absolute indices taken.
        """
        take, max_index = feature_take_indices(len(self._stages), indices)
        prune_end = max_index < len(self._stages) - 1 and not self.isotropic
        self._truncate(max_index + 1)
        if (prune_norm or prune_end) and isinstance(getattr(self, "norm", None), nn.Module):
            self.norm = nn.Identity()
        if prune_end:
            self.num_features = self.head_hidden_size = self.feature_info[max_index]["num_chs"]
        if prune_head or prune_end:
            self._prune_head()
        return take
