"""The token-mixer registry: one builder contract for every attention type.

A backbone describes the place a mixer goes into with one `AttentionContext` (width, heads, the token grid
at the model's reference size, prefix tokens, qkv bias, drop rates and the backbone's geometry options:
window and shift, spatial-reduction ratio, PVTv2-li pooling, routing regions...). Each attention module
registers its mixer with ``register_attention(name, builder, spatial_dims=..., prefix_tokens=...)``: the
builder's signature *declares* what it uses, and `build_attention` passes exactly the context fields the
builder names (a field the backbone leaves ``None`` is not passed, so the mixer's own default applies) plus
the user's options from ``attn=dict(type=name, **options)``, which override context fields of the same name.
No builder keeps a list of backbone arguments to drop. Combinations that cannot exist (a 2D-only mixer on a
3D grid, a pure-grid mixer with a class token) are refused here, once, with the option that makes them work.

The type of a mixer is parsed here only: `parse_attention_config` reads ``None``/``"name"``/``dict(type=...)``,
`attention_stage_mask` reads the per-stage attention-type strings of the FLatten/Agent papers (``"LLSS"``,
``"AAAB"``, ``"AAMB2"``).
"""
from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import torch.nn as nn

__all__ = [
    "ATTENTION_TYPES",
    "AttentionContext",
    "AttentionType",
    "register_attention",
    "build_attention",
    "parse_attention_config",
    "attention_stage_mask",
    "stage_attention_configs",
    "block_attention_configs",
]


@dataclass(frozen=True)
class AttentionContext:
    """What a backbone tells the token mixer it builds about the place the mixer goes into.

    ``None`` means "the backbone has no such notion here": the field is not passed and the mixer's default applies.
    """

    dim: int
    num_heads: int
    spatial_dims: int | None = None
    """2 (images) or 3 (volumes); default: from `input_resolution` or a sequence `window_size`, else 2."""
    input_resolution: tuple[int, ...] | None = None
    """The token grid at the model's reference size (img_size); sizes position/bias tables, resampled elsewhere."""
    num_prefix_tokens: int = 0
    """Leading non-grid tokens (a class token) in ``x``; the grid tokens follow."""
    qkv_bias: bool | None = None
    attn_drop: float = 0.0
    proj_drop: float = 0.0
    # --- the backbone's geometry options -------------------------------------------------------------
    window_size: int | tuple[int, ...] | None = None
    """Swin / Twins-LSA window (the same window serves every windowed mixer)."""
    shift_size: int | tuple[int, ...] | None = None
    """Swin's cyclic shift of this block (0 on even blocks)."""
    sr_ratio: int | None = None
    """PVT / Twins spatial reduction of keys and values."""
    linear: bool | None = None
    """PVTv2-li: keys/values pooled to 7x7."""
    split_qkv: bool | None = None
    """Separate ``q``/``kv`` projections (the PVT family's parameter layout); default: True where `sr_ratio` is given."""
    n_win: int | None = None
    """BiFormer: regions per side of the routing attention."""
    topk: int | None = None
    """BiFormer: routed regions per query region."""
    qk_dim: int | None = None
    qk_scale: float | None = None
    side_dwconv: int | None = None
    """BiFormer: LePE depthwise-conv kernel."""
    shrunk_window_bias: str | None = None
    """Swin UNETR: how a window shrunk to a small grid reads its bias ("truncated" for MONAI parity)."""

    def __post_init__(self) -> None:
        if not isinstance(self.num_heads, int) or self.num_heads <= 0:
            raise ValueError(f"num_heads must be a positive int, got {self.num_heads!r}")
        if self.dim % self.num_heads:
            raise ValueError(
                f"num_heads={self.num_heads} does not divide the width {self.dim}: choose heads that divide it "
                f"(e.g. {', '.join(str(h) for h in range(1, self.dim + 1) if self.dim % h == 0 and h <= 32)})"
            )
        for key in ("attn_drop", "proj_drop"):
            rate = getattr(self, key)
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"{key} must be a probability in [0, 1), got {rate!r}")
        if self.input_resolution is not None:
            object.__setattr__(self, "input_resolution", tuple(int(s) for s in self.input_resolution))
        if self.spatial_dims is None:
            if self.input_resolution is not None:
                dims = len(self.input_resolution)
            elif isinstance(self.window_size, Sequence):
                dims = len(self.window_size)
            else:
                dims = 2
            object.__setattr__(self, "spatial_dims", dims)
        if self.input_resolution is not None and len(self.input_resolution) != self.spatial_dims:
            raise ValueError(
                f"input_resolution {self.input_resolution} does not match spatial_dims={self.spatial_dims}"
            )
        if self.split_qkv is None and self.sr_ratio is not None:
            object.__setattr__(self, "split_qkv", True)

    def replace(self, **changes: Any) -> AttentionContext:
        return dataclasses.replace(self, **changes)

    def given(self) -> dict[str, Any]:
        """The fields the backbone set (not ``None``)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


CONTEXT_FIELDS = frozenset(f.name for f in fields(AttentionContext))
BACKBONE_FIELDS = frozenset({"dim", "spatial_dims", "num_prefix_tokens"})  # the block's structure: not user options


@dataclass(frozen=True)
class AttentionType:
    """A registered token mixer: its builder and the geometry it supports."""

    name: str
    builder: Callable[..., nn.Module]
    spatial_dims: tuple[int, ...] = (2,)
    prefix_tokens: bool = True

    def parameters(self) -> dict[str, inspect.Parameter]:
        params = dict(inspect.signature(self.builder).parameters)
        params.pop("self", None)
        if any(p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) for p in params.values()):
            raise TypeError(f"the builder of {self.name!r} must name what it uses (no *args/**kwargs)")
        return params

    def uses(self) -> frozenset[str]:
        """The context fields this mixer declares (its builder's parameters that are context fields)."""
        return frozenset(self.parameters()) & CONTEXT_FIELDS

    def options(self) -> tuple[str, ...]:
        """The user options of this type: its builder's parameters other than the backbone's structure and `context`."""
        return tuple(k for k in self.parameters() if k not in BACKBONE_FIELDS and k != "context")

    def check(self, context: AttentionContext) -> None:
        """A clear error for a context this mixer cannot serve, naming the option that makes it work."""
        if context.spatial_dims not in self.spatial_dims:
            others = sorted(n for n, t in ATTENTION_TYPES.items() if context.spatial_dims in t.spatial_dims)
            dims = "/".join(f"{d}D" for d in self.spatial_dims)
            raise ValueError(
                f"{self.name} attention works on {dims} token grids, but this backbone's grid is {context.spatial_dims}D: "
                f"use it with spatial_dims={self.spatial_dims[0]}, or one of the {context.spatial_dims}D types: {', '.join(others)}"
            )
        if context.num_prefix_tokens and not self.prefix_tokens:
            raise ValueError(
                f"{self.name} attention cannot mix prefix (class) tokens, it needs a pure token grid: build the backbone "
                "without a class token (class_token=False, global_pool='avg'), or keep the backbone's own attention "
                "in the class-token stage (attn_stages)"
            )

    def build(self, context: AttentionContext, options: Mapping[str, Any]) -> nn.Module:
        params = self.parameters()
        unknown = sorted(k for k in options if k not in params and k not in CONTEXT_FIELDS)
        if unknown:
            raise ValueError(
                f"{self.name} attention has no option {', '.join(map(repr, unknown))}; its options: {', '.join(self.options())}"
            )
        fixed = sorted(BACKBONE_FIELDS & set(options))
        if fixed:
            raise ValueError(f"{', '.join(fixed)} of a token mixer come from the backbone, not from its attn options")
        self.check(context)
        kwargs = {k: v for k, v in {**context.given(), **options}.items() if k in params}
        if "context" in params:
            kwargs["context"] = context
        return self.builder(**kwargs)


ATTENTION_TYPES: dict[str, AttentionType] = {}


def register_attention(
    name: str,
    builder: Callable[..., nn.Module],
    *,
    spatial_dims: Sequence[int] = (2,),
    prefix_tokens: bool = True,
) -> None:
    """Make a token mixer available to `build_attention` as ``type=name``.

    Args:
        builder: a mixer class or function; its parameters that are `AttentionContext` fields receive them,
            a parameter named ``context`` receives the whole context, the others are user options.
        spatial_dims: the grid dimensionalities the mixer supports.
        prefix_tokens: whether it handles prefix (class) tokens before the grid tokens.
    """
    if name in ATTENTION_TYPES:
        raise RuntimeError(f"attention type {name!r} is registered twice")
    entry = AttentionType(name, builder, tuple(spatial_dims), prefix_tokens)
    entry.parameters()  # fail at registration, not at first use, on a builder that does not declare its inputs
    ATTENTION_TYPES[name] = entry


AttnCfg = str | Mapping[str, Any] | None


def parse_attention_config(cfg: AttnCfg, default: str | None = None) -> tuple[str, dict[str, Any]]:
    """``(type name, user options)`` of a mixer config: ``None`` (the default), ``"name"`` or ``dict(type=name, ...)``."""
    if cfg is None:
        name, options = default, {}
    elif isinstance(cfg, str):
        name, options = cfg, {}
    elif isinstance(cfg, Mapping):
        options = dict(cfg)
        name = options.pop("type", default)
    else:
        raise TypeError(f"an attention config is a type name or dict(type=..., **options), got {type(cfg).__name__}")
    if name not in ATTENTION_TYPES:
        raise ValueError(f"Unknown attention type {name!r}; registered types: {', '.join(sorted(ATTENTION_TYPES))}")
    return name, options


def build_attention(
    cfg: AttnCfg, default: str | None = None, context: AttentionContext | None = None, **kwargs: Any
) -> nn.Module:
    """Build a token mixer from ``cfg`` (a type name or ``dict(type=..., **options)``) for a backbone's `context`.

    The context may also be given as keyword arguments (``dim=..., num_heads=..., window_size=...``) or
    amended by them. Options in ``cfg`` override context fields of the same name (``num_heads``, ``window_size``...).
    """
    name, options = parse_attention_config(cfg, default)
    extra = {k: kwargs.pop(k) for k in list(kwargs) if k not in CONTEXT_FIELDS}
    context = AttentionContext(**kwargs) if context is None else context.replace(**kwargs) if kwargs else context
    return ATTENTION_TYPES[name].build(context, {**extra, **options})


# Letters of an attention-type string (``"LLSS"``, ``"AAAB"``) that keep the backbone's own attention:
# S = the standard (softmax/window) mixer of FLatten's strings, B = the baseline mixer of Agent Attention's.
BACKBONE_DEFAULT_LETTERS = "SB"
MIXED_LETTER = "M"  # Agent-Swin-B's "AAMB2": the stage's first k blocks (the trailing number) use attn


def attention_stage_mask(attn_stages: str, depths: Sequence[int] | int, letters: str | None = None) -> list:
    """Which stages (and blocks) of an attention-type string use the given attention.

    One entry per stage: True (every block uses it), False (the backbone's own attention: ``S``/``B``) or,
    for ``M`` with the string's trailing number k (``"AAMB2"``), a list of per-block flags (the first k).
    `depths` is the blocks per stage (or just the number of stages where ``M`` is not used); `letters`
    optionally restricts the letters that select the attention (e.g. ``"A"``).
    """
    num_stages = depths if isinstance(depths, int) else len(depths)
    match = re.fullmatch(r"([A-Za-z]*?)(\d*)", attn_stages)
    stage_letters, mixed = (match.group(1), match.group(2)) if match else (attn_stages, "")
    if len(stage_letters) != num_stages:
        raise ValueError(
            f"attn_stages {attn_stages!r} has {len(stage_letters)} letters but the backbone has {num_stages} stages; "
            f"write one letter per stage (S/B keep the backbone's attention, another letter uses attn, "
            f"M<k> its first k blocks)"
        )
    mask: list = []
    for i, letter in enumerate(stage_letters):
        if letter in BACKBONE_DEFAULT_LETTERS:
            mask.append(False)
        elif letter == MIXED_LETTER and mixed:
            if isinstance(depths, int):
                raise ValueError(f"attn_stages {attn_stages!r}: M<k> needs the blocks per stage")
            k = int(mixed)
            mask.append([j < k for j in range(depths[i])])
        elif letter == MIXED_LETTER or (letters is not None and letter not in letters):
            allowed = "/".join(letters or "") or "a letter"
            raise ValueError(
                f"attention type {attn_stages!r}: expected {allowed} (the attention), S/B (the backbone's) per stage "
                f"or M<k> (its first k blocks), got {letter!r} at stage {i}"
            )
        else:
            mask.append(True)
    if mixed and MIXED_LETTER not in stage_letters:
        raise ValueError(f"attention type {attn_stages!r}: a trailing number needs an M stage (M<k>)")
    return mask


def stage_attention_configs(
    attn: AttnCfg | Sequence[AttnCfg], attn_stages: str | None, num_stages: int, depths: Sequence[int] | None = None
) -> list:
    """Per-stage mixer configs for a hierarchical backbone; ``None`` keeps the backbone's own attention.

    `attn` is one config for every stage or a sequence with one per stage (each a config or a per-block list).
    `attn_stages` is an attention-type string as the FLatten/Agent papers write it (``"LLSS"``, ``"AAAB"``,
    ``"AAMB2"``, see `attention_stage_mask`): stages marked ``S``/``B`` keep the backbone's attention, any other
    letter uses `attn`; ``M`` uses it in the first k blocks of that stage (`depths` needed).
    """
    if isinstance(attn, Sequence) and not isinstance(attn, str):
        if attn_stages is not None:
            raise ValueError("give either per-stage attn configs or attn_stages, not both")
        if len(attn) != num_stages:
            raise ValueError(f"attn has {len(attn)} per-stage configs but the backbone has {num_stages} stages")
        return list(attn)
    if attn_stages is None:
        return [attn] * num_stages
    mask = attention_stage_mask(attn_stages, num_stages if depths is None else depths)
    if attn is None and any(m is not False for m in mask):
        raise ValueError(f"attn_stages {attn_stages!r} marks stages for another attention but attn= is not given")
    return [[attn if b else None for b in m] if isinstance(m, list) else attn if m else None for m in mask]


def block_attention_configs(attn: AttnCfg | Sequence[AttnCfg], depth: int, where: str = "the stage") -> list[AttnCfg]:
    """One mixer config per block: `attn` for every block, or a per-block list checked against `depth`."""
    if isinstance(attn, Sequence) and not isinstance(attn, str):
        if len(attn) != depth:
            raise ValueError(f"attn has {len(attn)} per-block configs but {where} has depth {depth}")
        return list(attn)
    return [attn] * depth
