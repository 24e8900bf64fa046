"""CPU throughput measurements: the file only ``--measure`` writes, the timing protocol, and staleness checks."""
from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

import visionzoo as vz
from visionzoo.cli.benchmarking import default_input_size, run_benchmark, static_counts
from visionzoo.utils import atomic_write_text

from .common import MEASUREMENTS, CardError, rel
from .text import num, size_text

MEASURE_3D_SIZE = 96  # 3D models are timed at (at most) 96^3, the MONAI training ROI, batch 1
MEASURE_2D_BATCH = 8
SCHEMA = 1
# relative difference in params/GMACs beyond which a measurement counts as taken on a different model
_STALE_TOLERANCE = 0.005


def load_measurements(path: Path = MEASUREMENTS) -> dict[str, dict]:
    """Model name -> measurement dict from `path`; a missing file means nothing is measured yet."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise CardError(f"{rel(path)} is not valid JSON ({e}); restore it from git or re-run --measure") from e
    if not isinstance(data, dict) or not isinstance(data.get("models", {}), dict):
        raise CardError(f"{rel(path)} must be an object with a 'models' object; restore it from git")
    return data.get("models", {})


def save_measurements(path: Path, models: dict[str, dict]) -> None:
    """Write the measurement file atomically, keys sorted so re-measuring one model gives a small diff."""
    data = {
        "about": "CPU inference throughput per model, written by tools/model_cards.py --measure; "
                 "params_m/gmacs are at the default input size, throughput at batch_size x measured_size.",
        "schema": SCHEMA,
        "models": models,
    }
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def machine_description() -> str:
    """CPU model and usable core count, e.g. ``AMD EPYC (2 cores)``."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cpu} ({cores} cores)"


def measure_settings(name: str, batch_size: int | None = None,
                     img_size: tuple[int, ...] | None = None) -> tuple[int, tuple[int, ...]]:
    """(batch, spatial size) to time `name` at: 2D at its default size, batch 8; 3D at most 96³, batch 1."""
    _, *spatial = default_input_size(name)
    if img_size is not None:
        size = tuple(img_size) * len(spatial) if len(img_size) == 1 else tuple(img_size)
        if len(size) != len(spatial):
            raise CardError(f"--img-size {' '.join(map(str, img_size))} does not fit {name}, whose input is "
                            f"{len(spatial)}D; give one size or {len(spatial)} sizes")
    elif len(spatial) == 3:
        size = tuple(min(s, MEASURE_3D_SIZE) for s in spatial)
    else:
        size = tuple(spatial)
    if batch_size is None:
        batch_size = 1 if len(spatial) == 3 else MEASURE_2D_BATCH
    return batch_size, size


def measure_model(name: str, *, batch_size: int | None = None, img_size: tuple[int, ...] | None = None,
                  threads: int | None = None, warmup: int = 1, runs: int = 3,
                  model_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Time fp32 CPU inference of our `name` with `visionzoo.cli.benchmarking` (no reference) and describe how."""
    batch, size = measure_settings(name, batch_size, img_size)
    result = run_benchmark(name, batch_size=batch, img_size=size, threads=threads, warmup=warmup, runs=runs,
                           device="cpu", model_kwargs=dict(model_kwargs or {}), verbose=False)
    ours = result["ours"]
    try:
        params, gmacs = static_counts(name) if not model_kwargs else (None, None)
    except Exception:
        params, gmacs = None, None
    if params is None and not model_kwargs and tuple(size) == default_input_size(name)[1:]:
        params, gmacs = ours["params_m"], ours["gmacs"]
    return {
        "params_m": params,
        "gmacs": gmacs,
        "input_size": list(default_input_size(name)),
        "throughput": ours["throughput"],
        "unit": "vol/s" if len(size) == 3 else "img/s",
        "latency_ms": ours["latency_ms"],
        "peak_mem_mib": ours["peak_mem_mib"],
        "batch_size": batch,
        "measured_size": list(size),
        "model_kwargs": dict(model_kwargs or {}),
        "threads": result["threads"],
        "warmup": warmup,
        "runs": runs,
        "precision": "fp32",
        "torch": torch.__version__,
        "machine": machine_description(),
        "date": datetime.date.today().isoformat(),
    }


def measure(patterns: list[str], path: Path, **options: Any) -> list[str]:
    """(Re)measure every registered model matching `patterns` (all if empty); the file is rewritten after each model."""
    unmatched = [p for p in patterns if not vz.list_models(p)]
    if unmatched:
        raise CardError(f"no registered model matches {', '.join(map(repr, unmatched))}; "
                        f"registered: {', '.join(vz.list_models())}")
    names = vz.list_models(patterns) if patterns else vz.list_models()
    models = load_measurements(path)
    start = time.perf_counter()
    for i, name in enumerate(names, 1):
        t0 = time.perf_counter()
        entry = measure_model(name, **options)
        models[name] = entry
        save_measurements(path, models)
        print(f"[model_cards] {i}/{len(names)} {name}: {num(entry['throughput'])} {entry['unit']} "
              f"(batch {entry['batch_size']}, {size_text(entry['measured_size'])}, {entry['threads']} threads) "
              f"in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    print(f"[model_cards] measured {len(names)} model(s) in {time.perf_counter() - start:.0f} s -> {rel(path)}",
          file=sys.stderr)
    return names


def is_stale(entry: dict, params: float | None, gmacs: float | None) -> bool:
    """True when the measurement was taken on a model whose params/GMACs differ from today's code."""
    if entry.get("model_kwargs"):
        return False
    for old, new in ((entry.get("params_m"), params), (entry.get("gmacs"), gmacs)):
        if old is not None and new is not None and abs(old - new) > _STALE_TOLERANCE * max(abs(new), 1e-9):
            return True
    return False
