"""The model registry's tables: named architectures (`@register_model`), their weight tags and tiny test configs.

Names follow timm: an architecture name such as ``swin_tiny_patch4_window7_224`` and, for published
weights, ``name.tag`` (``vit_small_patch16_224.augreg_in21k_ft_in1k``). Weight tags are data
(`visionzoo.weights.WeightEntry`), registered apart from the architecture functions and stored as they are:
this module imports no weights code (the layering: `visionzoo.factory.create_model`, which builds models and
loads their weights, sits above both the registry and `visionzoo.weights`).
"""
from __future__ import annotations

import difflib
import fnmatch
import functools
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import torch.nn as nn

from .constants import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

if TYPE_CHECKING:  # type hints only: an entry is stored as data, never imported here
    from .weights.entry import WeightEntry

__all__ = [
    "register_model",
    "register_weights",
    "image_classifier_cfg",
    "list_models",
    "list_pretrained",
    "get_pretrained_cfg",
    "get_arch_cfg",
    "get_tiny_cfg",
    "model_entrypoint",
    "resolve_weight_entry",
    "split_model_name_tag",
    "is_model",
    "model_family",
    "check_model_kwargs",
    "TIMM_FACTORY_KWARGS",
    "PRETRAINED_CFG_KEYS",
]

_ENTRYPOINTS: dict[str, Callable[..., nn.Module]] = {}
_ARCH_CFGS: dict[str, dict[str, Any]] = {}
_FAMILIES: dict[str, str] = {}
_WEIGHTS: dict[str, dict[str, WeightEntry]] = {}
_TINY: dict[str, dict[str, Any]] = {}
TINY_INPUT_SIZE = (3, 64, 64)

# timm's create_model passes these to every entrypoint (None unless the caller set them)
TIMM_FACTORY_KWARGS = ("pretrained", "pretrained_cfg", "pretrained_cfg_overlay", "cache_dir")
DROP_RATE_KWARGS = ("drop_rate", "drop_path_rate", "attn_drop_rate", "proj_drop_rate", "pos_drop_rate")
# the keys of timm's PretrainedCfg that every model's `pretrained_cfg` carries
PRETRAINED_CFG_KEYS = (
    "architecture", "tag", "url", "hf_hub_id", "file", "input_size", "interpolation", "crop_pct", "crop_mode",
    "mean", "std", "num_classes", "pool_size", "first_conv", "classifier", "fixed_input_size", "license",
)
_FACTORY: list[Callable[..., nn.Module]] = []  # set by visionzoo.factory (above this module): builds by name


def check_model_kwargs(kwargs: Mapping[str, Any]) -> None:
    """A clear `ValueError` for constructor arguments no model can take: a negative `num_classes`, a drop rate outside [0, 1)."""
    num_classes = kwargs.get("num_classes")
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0):
        raise ValueError(f"num_classes must be an int >= 0 (0: no classifier, features only), got {num_classes!r}")
    for key in DROP_RATE_KWARGS:
        rate = kwargs.get(key)
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0):
            raise ValueError(f"{key} must be a probability in [0, 1), got {rate!r}")


def _timm_entrypoint(name: str, f: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """The public entrypoint of a registered architecture, callable the way timm's create_model calls one.

    timm passes ``pretrained=, pretrained_cfg=, pretrained_cfg_overlay=, cache_dir=`` (and ``features_only=``...)
    to every entrypoint; these go to visionzoo's factory, which builds the model with its complete
    `pretrained_cfg` and loads its weights. Registered into timm's registry, our entrypoints then behave
    as timm's own.
    """

    @functools.wraps(f)
    def entrypoint(**kwargs: Any) -> nn.Module:
        check_model_kwargs(kwargs)
        if _FACTORY:
            return _FACTORY[0](name, **{k: v for k, v in kwargs.items() if not (k in TIMM_FACTORY_KWARGS and v is None)})
        for key in TIMM_FACTORY_KWARGS:  # no factory imported (cannot happen via `import visionzoo`)
            value = kwargs.pop(key, None)
            if value:
                raise ValueError(f"{name}({key}=...) needs visionzoo.factory: use visionzoo.create_model")
        return f(**kwargs)

    entrypoint.__wrapped__ = f
    return entrypoint


def register_model(
    fn: Callable[..., nn.Module] | None = None,
    *,
    tiny: Mapping[str, Any] | None = None,
    tiny_input_size: tuple[int, ...] = TINY_INPUT_SIZE,
    **arch_cfg: Any,
):
    """Register an architecture function under its own name.

    Use bare (``@register_model``) or with architecture defaults that every weight tag inherits
    (``@register_model(first_conv="patch_embed.proj", classifier="head")``).

    `tiny`: the constructor overrides that make a seconds-fast version of the model for tests (fewer and
    narrower blocks), with `tiny_input_size` (C, *spatial) an input it takes. Generic tests (ONNX export,
    state-dict round trip, the timm interface) build every registered model this way (`get_tiny_cfg`).
    """

    def _register(f: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        name = f.__name__
        if name in _ENTRYPOINTS:
            raise RuntimeError(f"model {name!r} is registered twice ({_ENTRYPOINTS[name].__module__} and {f.__module__})")
        _ENTRYPOINTS[name] = f  # the architecture function itself; the factory calls it
        _ARCH_CFGS[name] = dict(arch_cfg)
        _FAMILIES[name] = f.__module__.rsplit(".", 1)[-1]
        if tiny is not None:
            _TINY[name] = {"kwargs": dict(tiny), "input_size": tuple(tiny_input_size)}
        return _timm_entrypoint(name, f)  # the module's public name: takes timm's factory arguments

    return _register(fn) if fn is not None else _register


def get_tiny_cfg(name: str) -> dict[str, Any]:
    """``{"kwargs": ..., "input_size": ...}``: how to build a seconds-fast version of a registered model, and its input."""
    arch = _require_arch(split_model_name_tag(name)[0])
    if arch not in _TINY:
        raise KeyError(f"{arch} declares no tiny configuration: pass tiny=dict(...) to its @register_model")
    cfg = _TINY[arch]
    return {"kwargs": dict(cfg["kwargs"]), "input_size": cfg["input_size"]}


def image_classifier_cfg(
    paper: str,
    *,
    first_conv: str = "patch_embed.proj",
    classifier: str = "head",
    input_size: tuple[int, ...] = (3, 224, 224),
    mean: tuple[float, ...] = IMAGENET_DEFAULT_MEAN,
    std: tuple[float, ...] = IMAGENET_DEFAULT_STD,
    crop_pct: float = 0.9,
    interpolation: str = "bicubic",
    **extra: Any,
) -> dict[str, Any]:
    """The architecture defaults of an ImageNet classifier for `register_model` (timm's ``_cfg``): the input it was
    designed for, its normalisation and eval crop, and the names of its first conv and classifier. `extra` adds
    keys (``tiny=``, ``img_size_free=``, ``official_code=``)."""
    return dict(first_conv=first_conv, classifier=classifier, input_size=input_size, mean=mean, std=std,
                crop_pct=crop_pct, interpolation=interpolation, fixed_input_size=False, paper=paper, **extra)


def register_weights(model_name: str, tag: str | WeightEntry, entry: WeightEntry | None = None) -> None:
    """Attach a published checkpoint to a registered architecture; the first tag is the default.

    ``register_weights("arch", "tag", entry)`` or ``register_weights("arch.tag", entry)``.
    """
    if entry is None:
        (model_name, tag), entry = split_model_name_tag(model_name), tag
    if model_name not in _ENTRYPOINTS:
        raise KeyError(f"cannot register weights {model_name}.{tag}: architecture {model_name!r} is not registered")
    tags = _WEIGHTS.setdefault(model_name, {})
    if tag in tags:
        raise RuntimeError(f"weight tag {model_name}.{tag} is registered twice")
    tags[tag] = entry


def split_model_name_tag(name: str) -> tuple[str, str | None]:
    """``"vit_small_patch16_224.augreg_in1k"`` -> ``("vit_small_patch16_224", "augreg_in1k")``."""
    arch, _, tag = name.partition(".")
    return arch, (tag or None)


def is_model(name: str) -> bool:
    """True if `name` (with or without a tag) names a registered architecture."""
    return split_model_name_tag(name)[0] in _ENTRYPOINTS


def model_family(name: str) -> str:
    """The family (defining module) of a registered architecture, e.g. ``"swin"``."""
    return _FAMILIES[_require_arch(split_model_name_tag(name)[0])]


def _closest(name: str, candidates: Iterable[str], n: int = 5) -> list[str]:
    candidates = list(candidates)
    close = difflib.get_close_matches(name, candidates, n=n, cutoff=0.5)
    if not close:  # fall back to substring matches on the leading word, e.g. "swin"
        stem = name.split("_")[0]
        close = [c for c in candidates if stem and stem in c][:n]
    return close


def _require_arch(arch: str) -> str:
    if arch not in _ENTRYPOINTS:
        close = _closest(arch, _ENTRYPOINTS)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(
            f"Unknown model {arch!r}.{hint} visionzoo.list_models() lists all {len(_ENTRYPOINTS)} registered names."
        )
    return arch


def _match_any(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _as_patterns(filter: str | Iterable[str] | None) -> list[str]:
    if not filter:
        return []
    return [filter] if isinstance(filter, str) else list(filter)


def list_models(
    filter: str | Iterable[str] = "",
    exclude_filters: str | Iterable[str] = (),
    pretrained: bool = False,
    include_tags: bool | None = None,
) -> list[str]:
    """Registered architecture names matching fnmatch `filter`, sorted; with `pretrained`, only those with weights.

    As timm's: `include_tags` (default: `pretrained`) lists every ``name.tag`` weight entry instead of the bare
    names, the filters matching either form.
    """
    if include_tags is None:
        include_tags = pretrained
    include, exclude = _as_patterns(filter), _as_patterns(exclude_filters)
    if include_tags:
        out = []
        for arch in sorted(_ENTRYPOINTS):
            tags = list(_WEIGHTS.get(arch, ())) or ([] if pretrained else [None])
            for tag in tags:
                full = f"{arch}.{tag}" if tag else arch
                if (not include or _match_any(full, include) or _match_any(arch, include)) and not (
                    _match_any(full, exclude) or _match_any(arch, exclude)
                ):
                    out.append(full)
        return out
    names = [
        n
        for n in _ENTRYPOINTS
        if (not include or _match_any(n, include))
        and not _match_any(n, exclude)
        and (not pretrained or _WEIGHTS.get(n))
    ]
    return sorted(names)


def list_pretrained(filter: str | Iterable[str] = "*", exclude_filters: str | Iterable[str] = ()) -> list[str]:
    """Registered ``name.tag`` weight entries matching `filter`, in name order (default tag first)."""
    include, exclude = _as_patterns(filter) or ["*"], _as_patterns(exclude_filters)
    out = []
    for arch in sorted(_WEIGHTS):
        for tag in _WEIGHTS[arch]:
            full = f"{arch}.{tag}"
            if (_match_any(full, include) or _match_any(arch, include)) and not _match_any(full, exclude):
                out.append(full)
    return out


def resolve_weight_entry(arch: str, tag: str | None) -> tuple[str | None, WeightEntry | None]:
    """``(tag, entry)`` of ``arch.tag``; `tag` None means the default (first) tag, ``(None, None)`` if there is none."""
    tags = _WEIGHTS.get(arch, {})
    if tag is None:
        if not tags:
            return None, None
        tag = next(iter(tags))
    if tag not in tags:
        known = ", ".join(f"{arch}.{t}" for t in tags) or "none"
        raise ValueError(f"Unknown weight tag {arch}.{tag}. Registered tags for {arch}: {known}.")
    return tag, tags[tag]


def get_arch_cfg(name: str) -> dict[str, Any]:
    """Architecture defaults (first conv, classifier, input size, mean/std) of a registered model."""
    arch = _require_arch(split_model_name_tag(name)[0])
    return dict(_ARCH_CFGS[arch])


def get_pretrained_cfg(name: str) -> dict[str, Any]:
    """The merged pretrained_cfg of ``name`` or ``name.tag``: architecture defaults overlaid by the weight entry."""
    arch, tag = split_model_name_tag(name)
    _require_arch(arch)
    cfg: dict[str, Any] = {"architecture": arch, "tag": None, **_ARCH_CFGS[arch]}
    tag, entry = resolve_weight_entry(arch, tag)
    if entry is not None:
        cfg.update(entry.pretrained_cfg())
        cfg["tag"] = tag
    for key in PRETRAINED_CFG_KEYS:  # timm's PretrainedCfg keys, always present
        cfg.setdefault(key, _CFG_DEFAULTS.get(key))
    return cfg


_CFG_DEFAULTS = {"crop_mode": "center", "fixed_input_size": False}


def model_entrypoint(name: str) -> Callable[..., nn.Module]:
    """The registered architecture function of ``name`` (or ``name.tag``); unknown names list close matches."""
    return _ENTRYPOINTS[_require_arch(split_model_name_tag(name)[0])]
