"""Converters from official checkpoint layouts to visionzoo's, one explicit function per (family, source).

A converter takes the unwrapped state dict of one publisher's release and returns one in the model's
own layout; loading stays strict afterwards. Each family registers a detector that recognises which
layout a state dict is in, so ``checkpoint_path=`` needs no flag for the publishers we know.

Some releases hold only part of a model (a self-supervised encoder): their converter is registered
with `covers`, the model state-dict prefixes the layout provides. Loading such weights is strict on
those prefixes and leaves the rest freshly initialised, saying so in the log (`covered_prefixes`).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import torch.nn as nn
from torch import Tensor

__all__ = [
    "register_converter",
    "register_detector",
    "convert_state_dict",
    "converters_for",
    "covered_prefixes",
    "detect_source",
    "model_family_of",
]

StateDict = dict[str, Tensor]
Converter = Callable[[Mapping[str, Tensor], nn.Module], StateDict]

_CONVERTERS: dict[str, dict[str, Converter]] = {}
_DETECTORS: dict[str, Callable[[Mapping[str, Tensor]], str]] = {}
_COVERS: dict[tuple[str, str], tuple[str, ...]] = {}


def register_converter(family: str, source: str, covers: tuple[str, ...] = ()) -> Callable[[Converter], Converter]:
    """Decorator: `fn(state_dict, model) -> state_dict` converts `source`'s layout for models of `family`.

    `covers`: model state-dict prefixes the layout provides when it holds only part of the model
    (e.g. ``("encoder.",)``); empty means the whole model.
    """

    def wrap(fn: Converter) -> Converter:
        _CONVERTERS.setdefault(family, {})[source] = fn
        if covers:
            _COVERS[(family, source)] = tuple(covers)
        return fn

    return wrap


def register_detector(family: str, fn: Callable[[Mapping[str, Tensor]], str]) -> None:
    """`fn(state_dict) -> source` tells which publisher's layout a state dict of this family is in."""
    _DETECTORS[family] = fn


def converters_for(family: str) -> dict[str, Converter]:
    """The sources a family can convert from."""
    return dict(_CONVERTERS.get(family, {}))


def model_family_of(model: nn.Module) -> str:
    """Family of a model: from its registered architecture name, else from its defining module."""
    from ...registry import is_model, model_family

    arch = getattr(model, "pretrained_cfg", {}).get("architecture")
    if arch and is_model(arch):
        return model_family(arch)
    return type(model).__module__.rsplit(".", 1)[-1]


def detect_source(model: nn.Module, state_dict: Mapping[str, Tensor]) -> str:
    """The publisher layout `state_dict` is in, for models of `model`'s family ("visionzoo" if ours)."""
    detect = _DETECTORS.get(model_family_of(model))
    return detect(state_dict) if detect else "visionzoo"


def covered_prefixes(model: nn.Module, source: str) -> tuple[str, ...]:
    """Model state-dict prefixes that `source`'s layout provides; ``()`` when it holds the whole model."""
    return _COVERS.get((model_family_of(model), source), ())


def convert_state_dict(model: nn.Module, state_dict: Mapping[str, Tensor], source: str | None = None) -> StateDict:
    """Convert `state_dict` from `source`'s layout (detected if None) to `model`'s."""
    family = model_family_of(model)
    available = _CONVERTERS.get(family, {})
    if source is None:
        source = detect_source(model, state_dict)
    if source == "visionzoo":
        return dict(state_dict)
    if source not in available:
        known = ", ".join(sorted(available)) or "none"
        raise ValueError(f"no converter from {source!r} checkpoints for {family} models (known sources: {known})")
    return available[source](state_dict, model)


from . import resnet, swin, swin_unetr, unetr, vit  # noqa: E402,F401  (register the built-in converters)
from . import pvt, twins  # noqa: E402,F401
from . import biformer  # noqa: E402,F401
from . import detr  # noqa: E402,F401
from . import agent, flatten  # noqa: E402,F401
