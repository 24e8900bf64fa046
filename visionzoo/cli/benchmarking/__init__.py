"""Benchmark a model against a reference implementation: params, GMACs, throughput, latency and peak memory.

``run_benchmark("swin_tiny_patch4_window7_224", compare="timm")`` builds our model and timm's, counts
their MACs the same way, times them interleaved (ours, ref, ours, ref, ...) so machine noise hits both
alike, and prints one table. References are pluggable: `register_reference("monai", build_fn)`.
Nothing here asserts on timings; the numbers are reported, not judged.
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from visionzoo import create_model, get_pretrained_cfg
from visionzoo.layers import explicit_attention, to_ntuple
from visionzoo.utils.precision import PRECISIONS, autocast, resolve_precision

__all__ = [
    "REFERENCES",
    "register_reference",
    "build_timm_reference",
    "count_params",
    "count_gmacs",
    "static_counts",
    "parameters_on_meta",
    "default_input_size",
    "peak_memory_mib",
    "matmul_peak_gflops",
    "FLOP_FORMULAS",
    "run_benchmark",
    "format_table",
    "run_scaling",
    "format_scaling_table",
]

MODES = ("inference", "train", "sliding_window")
ReferenceBuilder = Callable[..., nn.Module]  # fn(name, img_size=(H, W), **kwargs) -> nn.Module


# --- references ---------------------------------------------------------------------------------
def _build_with_img_size(
    build: Callable[..., nn.Module], name: str, img_size: tuple[int, int], **kwargs: Any
) -> nn.Module:
    """Build with ``img_size=`` (so ViT pos-embeds and Swin masks match the input); drop it if unsupported."""
    if "img_size" in kwargs:
        return build(name, **kwargs)
    try:
        return build(name, img_size=img_size, **kwargs)
    except TypeError as e:  # architectures without an img_size argument (e.g. convnets)
        if "img_size" not in str(e):
            raise
        return build(name, **kwargs)


def build_timm_reference(name: str, img_size: tuple[int, int], **kwargs: Any) -> nn.Module:
    """``timm.create_model(name, pretrained=False, img_size=img_size, **kwargs)``: random weights, no download."""
    import timm

    def build(model_name: str, **kw: Any) -> nn.Module:
        return timm.create_model(model_name, pretrained=False, **kw)

    kwargs.pop("pretrained", None)
    return _build_with_img_size(build, name, img_size, **kwargs)


_MONAI_DEFAULTS = {
    "swin_unetr": dict(in_channels=1, out_channels=2, feature_size=48),
    "swin_unetr_brats": dict(in_channels=4, out_channels=3, feature_size=48),
    "unetr": dict(in_channels=1, out_channels=2),
}
_MONAI_ARGS = {"in_chans": "in_channels", "num_classes": "out_channels"}


def build_monai_reference(name: str, img_size: tuple[int, ...], **kwargs: Any) -> nn.Module:
    """MONAI's network for a visionzoo segmenter name (``swin_unetr*`` -> SwinUNETR, ``unetr`` -> UNETR), random weights.

    visionzoo keyword names (in_chans, num_classes) are translated to MONAI's (in_channels, out_channels).
    """
    from monai.networks.nets import UNETR, SwinUNETR

    if name not in _MONAI_DEFAULTS:
        raise ValueError(f"no MONAI reference for {name!r}; known: {', '.join(sorted(_MONAI_DEFAULTS))}")
    args = {**_MONAI_DEFAULTS[name], **{_MONAI_ARGS.get(k, k): v for k, v in kwargs.items()}}
    args.setdefault("spatial_dims", len(img_size))
    if name == "unetr":
        return UNETR(img_size=args.pop("img_size", img_size), **args)
    return SwinUNETR(**args)


REFERENCES: dict[str, ReferenceBuilder] = {"timm": build_timm_reference, "monai": build_monai_reference}


def register_reference(name: str, fn: ReferenceBuilder) -> ReferenceBuilder:
    """Make ``compare=name`` build its model with ``fn(model_name, img_size=(H, W), **ref_kwargs)``."""
    REFERENCES[name] = fn
    return fn


def build_torchvision_reference(name: str, img_size: tuple[int, ...], **kwargs: Any) -> nn.Module:
    """``torchvision.models.get_model(name, weights=None, **kwargs)``: random weights; convnets need no img_size."""
    import torchvision

    known = torchvision.models.list_models(module=torchvision.models)
    if name not in known:
        close = [m for m in known if m.startswith(name.split("_")[0])][:8]
        raise ValueError(
            f"torchvision has no classification model {name!r} (similar: {', '.join(close) or 'none'}); "
            "for an attention variant compare its trunk, e.g. ref_name='resnet50' (tools/benchmark.py --ref-name)"
        )
    kwargs.pop("pretrained", None)
    return torchvision.models.get_model(name, weights=None, **kwargs)


register_reference("torchvision", build_torchvision_reference)


def _require_reference(name: str) -> ReferenceBuilder:
    if name not in REFERENCES:
        raise ValueError(f"Unknown reference {name!r}; known references: {', '.join(sorted(REFERENCES))}.")
    return REFERENCES[name]


# --- static measures ----------------------------------------------------------------------------
def _cpu_flash_sdpa_flop(query, key, value, *args: Any, out_shape=None, **kwargs: Any) -> int:
    """FLOPs of fused CPU SDPA, which torch's counter otherwise reports as 0: QK^T plus AV."""
    b, h, l, e = query
    s, ev = key[-2], value[-1]
    return 2 * b * h * l * s * e + 2 * b * h * l * s * ev


FLOP_FORMULAS: dict[Any, Callable[..., int]] = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_flash_sdpa_flop,
}


def count_params(model: nn.Module) -> float:
    """Parameters in millions."""
    return sum(p.numel() for p in model.parameters()) / 1e6


def count_gmacs(model: nn.Module, img_size: tuple[int, int], in_chans: int = 3, device: str = "cpu") -> float:
    """GMACs (FLOPs / 2) of one eval-mode forward on a single image, attention matmuls included.

    Our blocks run their explicit-math attention and fused CPU SDPA gets a formula, so a model and its
    reference are counted alike whichever attention kernel they use.
    """
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False, custom_mapping=FLOP_FORMULAS)
    x = torch.randn(1, in_chans, *img_size, device=device)
    try:
        with torch.no_grad(), explicit_attention(), counter:
            model(x)
    finally:
        model.train(was_training)
    return counter.get_total_flops() / 2 / 1e9


# --- timed steps --------------------------------------------------------------------------------
# --- static counts (params, GMACs without running the model on data) -----------------------------
@contextlib.contextmanager
def parameters_on_meta() -> Iterator[None]:
    """Register every new parameter on the meta device, so building a model initialises nothing.

    A parameter tied by assigning one CPU tensor to two modules would become two meta tensors (counted twice);
    no registered model does that today.
    """
    original = nn.Module.register_parameter

    def register(self: nn.Module, name: str, param: nn.Parameter | None) -> None:
        if param is not None and param.device.type != "meta":
            param = nn.Parameter(param.detach().to("meta"), requires_grad=param.requires_grad)
        original(self, name, param)

    nn.Module.register_parameter = register
    try:
        yield
    finally:
        nn.Module.register_parameter = original


def default_input_size(name: str) -> tuple[int, ...]:
    """The model's default ``(C, *spatial)`` input from its pretrained_cfg."""
    return tuple(get_pretrained_cfg(name).get("input_size") or (3, 224, 224))


@functools.lru_cache(maxsize=None)
def static_counts(name: str) -> tuple[float, float]:
    """(params in M, GMACs of one forward at the default input size), built and run on the meta device.

    Shapes only: a model costs well under a second, so cards and ``visionzoo info`` always show the current code's
    numbers.
    """
    with parameters_on_meta():
        model = create_model(name)
    model = model.to("meta")
    chans, *spatial = default_input_size(name)
    return count_params(model), count_gmacs(model, tuple(spatial), chans, device="meta")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _inference_step(model: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    """One eval-mode forward under `torch.inference_mode()`."""
    model.eval()

    def step() -> None:
        with torch.inference_mode():
            model(x)

    return step


def _sliding_window_step(model: nn.Module, x: torch.Tensor, roi_size: tuple[int, ...], overlap: float,
                         sw_batch_size: int) -> Callable[[], None]:
    """Whole-volume inference as in BraTS evaluation: MONAI's sliding window over `x` with `roi_size` tiles."""
    from monai.inferers import sliding_window_inference

    model.eval()

    def step() -> None:
        with torch.inference_mode():
            sliding_window_inference(x, roi_size, sw_batch_size, model, overlap=overlap, mode="constant")

    return step


def _train_step(model: nn.Module, params: list[nn.Parameter], x: torch.Tensor) -> Callable[[], None]:
    """Forward, a loss against random targets, backward and an SGD step; grads are freed after each step.

    Classifiers and dense models get cross-entropy against random labels; set-prediction detectors (outputs
    with ``pred_logits``/``pred_boxes``, DETR) their Hungarian-matched set criterion against random boxes.
    """
    model.train()
    optimizer = torch.optim.SGD(params, lr=1e-4)
    loss_fn: list[Callable[[Any], torch.Tensor]] = []

    def step() -> None:
        out = model(x)
        if not loss_fn:
            loss_fn.append(_random_target_loss(out))
        loss_fn[0](out).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def _random_target_loss(out: Any) -> Callable[[Any], torch.Tensor]:
    """A training loss for `out`'s kind of output, against fixed random targets."""
    if isinstance(out, dict) and "pred_logits" in out:
        from visionzoo.heads.detr import SetCriterion

        from .detr import random_targets

        num_classes = out["pred_logits"].shape[-1] - 1
        criterion = SetCriterion(num_classes, aux_loss="aux_outputs" in out)
        targets = random_targets(out["pred_logits"].shape[0], 4, num_classes)
        return lambda o: sum(criterion(o, targets).values())
    # labels shaped like the output: (B,) for logits, (B, *spatial) for dense outputs
    labels = torch.randint(out.shape[1], (out.shape[0], *out.shape[2:]), device=out.device)
    return lambda o: F.cross_entropy(o, labels)


def _time_once(step: Callable[[], None], device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    step()
    _sync(device)
    return time.perf_counter() - start


# --- peak memory --------------------------------------------------------------------------------
def _peak_from_memory_events(events: list[tuple[float, int]]) -> int:
    """Highest running total of (timestamp, bytes) allocation/free events, relative to the start (>= 0)."""
    running = peak = 0
    for _, nbytes in sorted(events, key=lambda e: e[0]):
        running += nbytes
        peak = max(peak, running)
    return peak


def _cpu_memory_events(prof: torch.profiler.profile) -> list[tuple[float, int]]:
    """The profiler's ``[memory]`` events (time, signed bytes), read from its exported chrome trace."""
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        prof.export_chrome_trace(path)
        with open(path) as f:
            trace = json.load(f)
    finally:
        os.remove(path)
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    return [(e["ts"], int(e["args"]["Bytes"])) for e in events if e.get("name") == "[memory]"]


def peak_memory_mib(step: Callable[[], None], device: str | torch.device = "cpu") -> float | None:
    """Peak memory one call of `step` allocates above what was allocated before it, in MiB.

    CUDA reads the caching allocator's peak; CPU replays the allocations and frees that
    ``torch.profiler`` records with ``profile_memory=True``. Other devices give None.
    """
    device = torch.device(device)
    if device.type == "cuda":
        _sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        step()
        _sync(device)
        return (torch.cuda.max_memory_allocated(device) - before) / 2**20
    if device.type == "cpu":
        activities = [torch.profiler.ProfilerActivity.CPU]
        with torch.profiler.profile(activities=activities, profile_memory=True) as prof:
            step()
        return _peak_from_memory_events(_cpu_memory_events(prof)) / 2**20
    return None


# --- orchestration ------------------------------------------------------------------------------
@contextmanager
def _num_threads(threads: int | None) -> Iterator[None]:
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _log(verbose: bool, msg: str) -> None:
    if verbose:
        print(f"[benchmark] {msg}", file=sys.stderr, flush=True)


def _model_name(model: str | nn.Module) -> str:
    return model if isinstance(model, str) else type(model).__name__


def _build_ours(name: str, size: tuple[int, ...], kwargs: dict) -> nn.Module:
    """Our model; ``img_size`` is passed only to architectures whose weights depend on it (position embeddings)."""
    if get_pretrained_cfg(name).get("img_size_free"):
        return create_model(name, **kwargs)
    return _build_with_img_size(create_model, name, size, **kwargs)


def _default_img_size(model: str | nn.Module) -> tuple[int, ...]:
    """The model's ``pretrained_cfg["input_size"][1:]`` (2D or 3D), else 224x224."""
    cfg = get_pretrained_cfg(model) if isinstance(model, str) else getattr(model, "pretrained_cfg", None) or {}
    input_size = cfg.get("input_size")
    return tuple(input_size[1:]) if input_size else (224, 224)


def _in_chans(model: nn.Module) -> int:
    if isinstance(getattr(model, "in_chans", None), int):
        return model.in_chans
    input_size = (getattr(model, "pretrained_cfg", None) or {}).get("input_size")
    return input_size[0] if input_size else 3


def _reference_name(model: str | nn.Module, ref_name: str | None) -> str:
    if ref_name is not None:
        return ref_name
    if isinstance(model, str):
        return model
    arch = (getattr(model, "pretrained_cfg", None) or {}).get("architecture")
    if arch is None:
        raise ValueError("compare= with an nn.Module needs ref_name= (the reference model to build)")
    return arch


def matmul_peak_gflops(precision: str = "fp32", device: str | torch.device = "cpu", n: int = 2048,
                       repeats: int = 5) -> float:
    """The best rate of an n x n x n matmul in `precision` (GFLOP/s) with this process's threads: the machine's
    practical peak, measured in the same run as the model so that "percent of peak" compares like with like."""
    dtype = PRECISIONS[resolve_precision(precision, torch.device(device).type)]
    dev = torch.device(device)
    a, b = (torch.randn(n, n, device=dev).to(dtype) for _ in range(2))
    best = float("inf")
    for _ in range(repeats + 1):  # the first call warms the kernel up
        best = min(best, _time_once(lambda: torch.mm(a, b), dev))
    return 2 * n**3 / best / 1e9


COMPILED_TOLERANCE = {"fp32": 1e-4, "bf16": 2e-2, "fp16": 2e-2}
"""Largest difference, relative to the output's scale, allowed between a compiled model and the same model eager."""


def _check_compiled(label: str, model: nn.Module, compiled: Callable, x: torch.Tensor, precision: str,
                    device: torch.device) -> None:
    """Refuse to time a compiled model whose outputs differ from eager ones (torch.compile of Swin UNETR under
    bf16 autocast returns NaN on torch 2.14 CPU): its timing would be that of a wrong model."""
    with torch.inference_mode(), autocast(precision, device.type):
        got, expected = _first_tensor(compiled(x)), _first_tensor(model(x))
    scale = max(float(expected.float().abs().max()), 1e-6)
    if not torch.isfinite(got).all() and torch.isfinite(expected).all():
        raise ValueError(f"torch.compile changed {label}'s outputs: non-finite values where eager ones are finite "
                         f"(precision {precision}); run without --compile")
    diff = float((got.float() - expected.float()).abs().max()) / scale
    if diff > COMPILED_TOLERANCE.get(resolve_precision(precision, device.type), 2e-2):
        raise ValueError(f"torch.compile changed {label}'s outputs by {diff:.2e} of their scale (precision "
                         f"{precision}); run without --compile")


def _first_tensor(output: object) -> torch.Tensor:
    """The first tensor of a model output (a tensor, a dict of them such as DETR's, or a sequence)."""
    if isinstance(output, torch.Tensor):
        return output
    values = output.values() if isinstance(output, dict) else output
    return next(v for v in values if isinstance(v, torch.Tensor))


def _with_precision(step: Callable[[], None], precision: str, device: torch.device) -> Callable[[], None]:
    if precision == "fp32":
        return step

    def autocast_step() -> None:
        with autocast(precision, device.type):
            step()

    return autocast_step


class _Candidate:
    """One benchmarked model (ours or the reference): its module, input, timed step and measurements."""

    def __init__(self, label: str, model: nn.Module, img_size: tuple[int, int], *, batch_size: int, mode: str,
                 channels_last: bool, compile: bool, device: torch.device, in_chans: int | None = None,
                 sliding_window: dict | None = None, precision: str = "fp32") -> None:
        self.label = label
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        model = model.to(device=device, memory_format=memory_format)
        in_chans = in_chans or _in_chans(model)
        self.params_m = count_params(model)
        # sliding window: GMACs of one tile (the network's input), the input is the whole volume
        counted_size = tuple(sliding_window["roi_size"]) if mode == "sliding_window" else img_size
        self.gmacs = count_gmacs(model, counted_size, in_chans, str(device))
        x = torch.randn(batch_size, in_chans, *img_size, device=device).contiguous(memory_format=memory_format)
        runnable = torch.compile(model) if compile else model
        self.check_compiled = (lambda: _check_compiled(label, model, runnable, x, precision, device)) \
            if compile and mode == "inference" else None
        if mode == "train":
            self.step = _train_step(runnable, list(model.parameters()), x)
        elif mode == "sliding_window":
            self.step = _sliding_window_step(runnable, x, **sliding_window)
        else:
            self.step = _inference_step(runnable, x)
        self.step = _with_precision(self.step, precision, device)
        self.model = model
        self.times: list[float] = []
        self.peak_mem_mib: float | None = None

    def summary(self, batch_size: int, mode: str) -> dict[str, float | None]:
        median = statistics.median(self.times)
        per_step = {"inference": batch_size, "sliding_window": None, "train": 3 * batch_size}.get(mode)
        return {
            "params_m": self.params_m,
            "gmacs": self.gmacs,
            "throughput": batch_size / median,
            "peak_mem_mib": self.peak_mem_mib,
            "latency_ms": median * 1e3,
            # forward FLOPs (2 x MACs; training counts backward as 2 forwards) per second
            "gflops": 2 * self.gmacs * per_step / median if self.gmacs and per_step else None,
        }


def _ratio(ours: dict[str, float | None], ref: dict[str, float | None]) -> dict[str, float | None]:
    keys = ("throughput", "peak_mem_mib", "params_m", "gmacs", "latency_ms", "gflops")
    return {k: ours[k] / ref[k] if ours[k] is not None and ref[k] else None for k in keys}


def _compiled_graphs() -> int:
    """Graphs torch.compile has built so far in this process (dynamo's stats counter)."""
    from torch._dynamo.utils import counters

    return counters["stats"]["unique_graphs"]


def _settle_compilation(candidates: list[_Candidate], verbose: bool, max_rounds: int = 10) -> None:
    """Extra untimed rounds until torch.compile stops building graphs, so recompiles never land in timed runs.

    Dynamo recompiles on later calls (e.g. once it marks a shape dynamic), so a fixed warmup may not be enough.
    """
    for i in range(max_rounds):
        before = _compiled_graphs()
        for c in candidates:
            c.step()
        if _compiled_graphs() == before:
            return
        _log(verbose, f"torch.compile still compiling; extra warmup round {i + 1}")


def _measure(
    candidates: list[_Candidate], *, warmup: int, runs: int, compile: bool, device: torch.device, verbose: bool
) -> None:
    """Warm up, then time `runs` rounds interleaved across candidates; then one profiled step each for memory."""
    for i in range(warmup):
        _log(verbose, f"warmup {i + 1}/{warmup}")
        for c in candidates:
            c.step()
    if compile:
        _settle_compilation(candidates, verbose)
        for c in candidates:
            if c.check_compiled is not None:
                c.check_compiled()
    for i in range(runs):
        for c in candidates:
            c.times.append(_time_once(c.step, device))
        _log(verbose, f"measuring throughput run {i + 1}/{runs}: " + ", ".join(
            f"{c.label} {c.times[-1] * 1e3:.1f} ms" for c in candidates))
    for c in candidates:
        _log(verbose, f"measuring peak memory of one step ({c.label})")
        c.peak_mem_mib = peak_memory_mib(c.step, device)


def run_benchmark(
    model: str | nn.Module,
    *,
    compare: str | None = None,
    batch_size: int = 8,
    img_size: int | tuple[int, int] | None = None,
    mode: str = "inference",
    channels_last: bool = False,
    compile: bool = False,
    threads: int | None = None,
    warmup: int = 2,
    runs: int = 5,
    device: str = "cpu",
    model_kwargs: dict | None = None,
    ref_name: str | None = None,
    ref_kwargs: dict | None = None,
    roi_size: int | tuple[int, ...] | None = None,
    overlap: float = 0.5,
    sw_batch_size: int = 4,
    precision: str = "fp32",
    verbose: bool = True,
) -> dict:
    """Measure params, GMACs, throughput, latency and peak memory of `model` and, with `compare`, a reference.

    `model` is a registered name (built with ``create_model(name, img_size=..., **model_kwargs)``) or a
    module. `compare` names a reference library in `REFERENCES` (``"timm"``), which builds `ref_name`
    (default: the same name) with `ref_kwargs`. Both get ``img_size`` so sizes that set position
    embeddings or attention masks match the input. Timed steps are interleaved; the median is reported.
    ``mode="sliding_window"`` times whole-volume inference of an `img_size` volume in `roi_size` tiles
    (MONAI's ``sliding_window_inference``, `overlap`, `sw_batch_size`); models are built for `roi_size`.
    `precision` ``"bf16"`` runs both models under bf16 autocast; the result then also holds the bf16 matmul
    peak measured in the same run (``matmul_peak_gflops``) and the fraction of it the model reaches.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if runs < 1 or warmup < 0:
        raise ValueError(f"need runs >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}")
    build_ref = _require_reference(compare) if compare is not None else None
    default_size = _default_img_size(model)
    size = to_ntuple(img_size, len(default_size), "img_size") if img_size is not None else default_size
    dev = torch.device(device)
    name = _model_name(model)
    precision = resolve_precision(precision, dev.type)
    options = dict(batch_size=batch_size, mode=mode, channels_last=channels_last, compile=compile, device=dev,
                   precision=precision)
    build_size = size
    if mode == "sliding_window":
        roi = to_ntuple(roi_size, len(size), "roi_size") if roi_size is not None else default_size
        options["sliding_window"] = dict(roi_size=roi, overlap=overlap, sw_batch_size=sw_batch_size)
        build_size = roi

    with _num_threads(threads):
        _log(verbose, f"building {name} (visionzoo) at {'x'.join(map(str, size))}")
        module = model if isinstance(model, nn.Module) else _build_ours(model, build_size, model_kwargs or {})
        candidates = [_Candidate("ours", module, size, **options)]
        if build_ref is not None:
            reference = _reference_name(model, ref_name)
            _log(verbose, f"building {reference} ({compare})")
            ref_module = build_ref(reference, img_size=build_size, **(ref_kwargs or {}))
            candidates.append(_Candidate(compare, ref_module, size, in_chans=_in_chans(module), **options))
        _measure(candidates, warmup=warmup, runs=runs, compile=compile, device=dev, verbose=verbose)
        used_threads = torch.get_num_threads()
        _log(verbose, f"measuring the {precision} matmul peak")
        peak = matmul_peak_gflops(precision, dev)

    ours = candidates[0].summary(batch_size, mode)
    ref = candidates[1].summary(batch_size, mode) if len(candidates) > 1 else None
    result = {
        "model": name,
        "reference": compare,
        "batch_size": batch_size,
        "img_size": list(size),
        "mode": mode,
        "sliding_window": options.get("sliding_window"),
        "device": str(dev),
        "threads": used_threads,
        "channels_last": channels_last,
        "compile": compile,
        "precision": precision,
        "matmul_peak_gflops": peak,
        "peak_fraction": ours["gflops"] / peak if ours["gflops"] else None,
        "torch": torch.__version__,
        "ours": ours,
        "ref": ref,
        "ratio": _ratio(ours, ref) if ref is not None else None,
    }
    if verbose:
        print(format_table(result), flush=True)
    return result


# --- report -------------------------------------------------------------------------------------
_ROWS = (
    ("params (M)", "params_m", "{:.2f}"),
    ("GMACs (fwd, per image)", "gmacs", "{:.3f}"),
    ("throughput (img/s)", "throughput", "{:.1f}"),
    ("latency (ms/batch)", "latency_ms", "{:.1f}"),
    ("peak memory (MiB)", "peak_mem_mib", "{:.1f}"),
    ("GFLOP/s (2 x GMACs x img/s)", "gflops", "{:.1f}"),
)


def _fmt(fmt: str, value: float | None) -> str:
    return "-" if value is None else fmt.format(value)


def format_table(result: dict) -> str:
    """One aligned table (rows: params, GMACs, throughput, latency, peak memory; columns: ours, reference, ratio)."""
    size = "x".join(str(s) for s in result["img_size"])
    extras = "".join(f" {k}" for k in ("channels_last", "compile") if result.get(k))
    if result.get("precision", "fp32") != "fp32":
        extras += f" precision={result['precision']}"
    sw = result.get("sliding_window")
    if sw:
        extras += f" roi={'x'.join(map(str, sw['roi_size']))} overlap={sw['overlap']} sw_batch={sw['sw_batch_size']}"
    header = (
        f"{result['model']} | mode={result['mode']} batch={result['batch_size']} size={size} "
        f"threads={result['threads']} device={result['device']}{extras} | torch {result.get('torch', '?')}"
    )
    ref_label = f"reference ({result['reference']})" if result["reference"] else "reference"
    columns = ["", "ours", ref_label, "ratio ours/ref"]
    ref, ratio = result["ref"] or {}, result["ratio"] or {}
    rows = [
        [label, _fmt(fmt, result["ours"][key]), _fmt(fmt, ref.get(key)), _fmt("{:.3f}", ratio.get(key))]
        for label, key, fmt in _ROWS
    ]
    widths = [max(len(r[i]) for r in [columns, *rows]) for i in range(len(columns))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(cells))

    rule = "-" * len(line(columns))
    lines = [header, rule, line(columns), rule, *(line(r) for r in rows), rule]
    if result.get("matmul_peak_gflops"):
        fraction = result.get("peak_fraction")
        lines.append(f"{result.get('precision', 'fp32')} matmul peak, same run: {result['matmul_peak_gflops']:.1f} GFLOP/s"
                     + (f"; ours at {100 * fraction:.1f} % of it" if fraction else ""))
    return "\n".join(lines)



# --- scaling with input size --------------------------------------------------------------------
def run_scaling(models: list[str], sizes: list[int | tuple[int, int]], verbose: bool = True, **options: Any) -> list[dict]:
    """`run_benchmark` of every model at every size (no reference); one result dict per (model, size).

    Each result gains ``tokens_rel`` (pixels relative to the first size, proportional to tokens) and
    ``time_vs_linear`` / ``mem_vs_linear``: the measured latency / peak memory over the first size's value
    extrapolated linearly in tokens (1.0 = exactly linear growth).
    """
    results = []
    for name in models:
        first = None
        for size in sizes:
            _log(verbose, f"{name} at {size}")
            r = run_benchmark(name, img_size=size, verbose=False, **options)
            pixels = r["img_size"][0] * r["img_size"][1]
            first = first or (pixels, r["ours"]["latency_ms"], r["ours"]["peak_mem_mib"])
            rel = pixels / first[0]
            r["tokens_rel"] = rel
            r["time_vs_linear"] = r["ours"]["latency_ms"] / (first[1] * rel)
            mem = r["ours"]["peak_mem_mib"]
            r["mem_vs_linear"] = mem / (first[2] * rel) if mem is not None and first[2] else None
            results.append(r)
    return results


def format_scaling_table(results: list[dict]) -> str:
    """One row per (model, size): latency, throughput, peak memory and their growth against linear-in-tokens."""
    header = ["model", "size", "tokens (rel)", "latency (ms/batch)", "img/s", "peak mem (MiB)", "time/linear", "mem/linear"]
    rows = [
        [
            r["model"],
            "x".join(map(str, r["img_size"])),
            f"{r['tokens_rel']:.1f}",
            _fmt("{:.1f}", r["ours"]["latency_ms"]),
            _fmt("{:.2f}", r["ours"]["throughput"]),
            _fmt("{:.1f}", r["ours"]["peak_mem_mib"]),
            _fmt("{:.2f}", r["time_vs_linear"]),
            _fmt("{:.2f}", r["mem_vs_linear"]),
        ]
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))) for row in [header, *rows]]
    first = results[0] if results else {}
    note = (f"batch={first.get('batch_size')} threads={first.get('threads')} device={first.get('device')} "
            f"mode={first.get('mode')} | torch {torch.__version__}")
    rule = "-" * len(lines[0])
    return "\n".join([note, rule, lines[0], rule, *lines[1:], rule])
