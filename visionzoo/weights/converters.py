"""The converter registry: one explicit function per (model class, publisher layout), found along the model's MRO.

A converter takes the unwrapped state dict of one publisher's release and returns one in the model's own
layout; loading stays strict afterwards. A model family declares its converters beside its entrypoints
(`visionzoo/backbones/<family>.py`, `visionzoo/models/<family>.py`), keyed by the model class::

    @register_converter(SwinTransformer, "microsoft")
    def convert_microsoft_swin(state_dict, model): ...

    register_detector(SwinTransformer, detect_swin_layout)   # which layout a state dict is in

Lookups walk ``type(model).__mro__``: a model built from a subclass, or a variant that is an instance of
its base family's class (a FLatten-Swin is a `SwinTransformer`), uses the base family's converters unless
a more specific class registers the same source. So ``checkpoint_path=`` needs no flag for the publishers
we know, and no converter dispatches on ``isinstance``.

Some releases hold only part of a model (a self-supervised encoder): their converter is registered with
`covers`, the model state-dict prefixes the layout provides. Loading such weights is strict on those
prefixes and leaves the rest freshly initialised, saying so in the log (`covered_prefixes`).

This module is machinery only: it imports no model code, and no model family is named here.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

import torch.nn as nn
from torch import Tensor

__all__ = [
    "StateDict",
    "Converter",
    "register_converter",
    "register_detector",
    "convert_state_dict",
    "converters_for",
    "covered_prefixes",
    "detect_source",
]

StateDict = dict[str, Tensor]
Converter = Callable[[Mapping[str, Tensor], nn.Module], StateDict]
Detector = Callable[[Mapping[str, Tensor]], str]
OWN_LAYOUT = "visionzoo"
"""The source name of a state dict already in the model's own layout (no conversion)."""


class _Registered(NamedTuple):
    fn: Converter
    covers: tuple[str, ...]


_CONVERTERS: dict[type, dict[str, _Registered]] = {}
_DETECTORS: dict[type, Detector] = {}


Owners = type[nn.Module] | tuple[type[nn.Module], ...]


def _as_tuple(owners: Owners) -> tuple[type, ...]:
    return owners if isinstance(owners, tuple) else (owners,)


def register_converter(owner: Owners, *sources: str, covers: tuple[str, ...] = ()) -> Callable[[Converter], Converter]:
    """Decorator: `fn(state_dict, model) -> state_dict` converts each of `sources`' layouts for instances of `owner`.

    `owner` is a model class (or a tuple of them). `covers`: model state-dict prefixes the layout provides when it
    holds only part of the model (e.g. ``("encoder.",)``); empty means the whole model. Registering one
    (owner, source) twice with another function is an error; the same function again is a no-op.
    """
    if not sources:
        raise TypeError("register_converter() needs at least one source name, e.g. register_converter(Model, 'timm')")

    def wrap(fn: Converter) -> Converter:
        for cls in _as_tuple(owner):
            table = _CONVERTERS.setdefault(cls, {})
            for source in sources:
                known = table.get(source)
                if known is not None and known.fn is not fn and known.fn.__qualname__ != fn.__qualname__:
                    raise RuntimeError(f"a {source!r} converter is registered twice for {_name(cls)}")
                table[source] = _Registered(fn, tuple(covers))
        return fn

    return wrap


def register_detector(owner: Owners, fn: Detector | None = None) -> Detector | Callable[[Detector], Detector]:
    """`fn(state_dict) -> source` tells which publisher's layout a state dict for `owner` models is in (OWN_LAYOUT: ours).

    Call it with the function, or use it as a decorator: ``@register_detector(SwinTransformer)``.
    """
    if fn is None:
        return lambda f: register_detector(owner, f)
    for cls in _as_tuple(owner):
        _DETECTORS[cls] = fn
    return fn


def _name(owner: type) -> str:
    return f"{owner.__module__}.{owner.__qualname__}"


def _owners(model: nn.Module | type) -> tuple[type, ...]:
    """Registry keys that apply to `model`: its classes along the MRO, most specific first."""
    return (model if isinstance(model, type) else type(model)).__mro__


def _find(model: nn.Module | type, source: str) -> _Registered | None:
    for owner in _owners(model):
        found = _CONVERTERS.get(owner, {}).get(source)
        if found is not None:
            return found
    return None


def converters_for(model: nn.Module | type) -> dict[str, Converter]:
    """The sources a model (or model class) can convert from, each with the most specific converter."""
    out: dict[str, Converter] = {}
    for owner in reversed(_owners(model)):
        out.update({source: reg.fn for source, reg in _CONVERTERS.get(owner, {}).items()})
    return out


def detect_source(model: nn.Module, state_dict: Mapping[str, Tensor]) -> str:
    """The publisher layout `state_dict` is in, by the most specific detector for `model` (OWN_LAYOUT if none)."""
    for owner in _owners(model):
        detect = _DETECTORS.get(owner)
        if detect is not None:
            return detect(state_dict)
    return OWN_LAYOUT


def covered_prefixes(model: nn.Module, source: str) -> tuple[str, ...]:
    """Model state-dict prefixes that `source`'s layout provides; ``()`` when it holds the whole model."""
    found = _find(model, source)
    return found.covers if found is not None else ()


def convert_state_dict(model: nn.Module, state_dict: Mapping[str, Tensor], source: str | None = None) -> StateDict:
    """Convert `state_dict` from `source`'s layout (detected if None) to `model`'s."""
    if source is None:
        source = detect_source(model, state_dict)
    if source == OWN_LAYOUT:
        return dict(state_dict)
    found = _find(model, source)
    if found is None:
        known = ", ".join(sorted(converters_for(model))) or "none"
        family = type(model).__module__.rsplit(".", 1)[-1]  # the module that defines the model class
        raise ValueError(f"no converter from {source!r} checkpoints for {family} models (known sources: {known})")
    return found.fn(state_dict, model)
