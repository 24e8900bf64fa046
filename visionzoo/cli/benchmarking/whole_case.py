"""Whole-case BraTS inference, end to end, per inference setting: seconds per case, peak RSS and Dice.

Each variant overrides the config's inference settings (``precision``, ``overlap``, ``sw_batch_size``, ``mode``,
``roi_size`` as ``160`` or ``160x160x128``) and runs in its own fresh process (``python -m
visionzoo.cli.benchmarking.whole_case SPEC.json``), so its peak RSS (``ru_maxrss``) is its own. That process predicts every case the way ``tools/infer.py CONFIG CKPT CASE --out
DIR`` does, one `run_inference` call per case (config load, model build, checkpoint load, reading the NIfTI
files, sliding window, writing the label NIfTI and overlay PNG), with `set_inference_precision` and the
``segmenter.inference`` overrides applied to the config as ``--precision`` / ``--cfg-options`` would.

    run_whole_case("configs/swin_unetr_brats.py", "swin_unetr_brats.pth", "cases/",
                   [{"precision": "bf16"}, {"overlap": 0.25, "precision": "bf16"}], threads=2)

Quality: the saved label maps, turned back into TC/WT/ET regions (`labels_to_regions`), are compared with
the reference variant's (default fp32, overlap 0.5) and with the cases' own labels where they have them;
Dice is MONAI's with ``ignore_empty=False``, as in `BratsMetric`. Without a checkpoint (and no weights named
in the config) the config's random initialisation (seed 0) is saved once and run by every variant: timings and
memory are then real, Dice against the reference only says how far a setting moves an untrained network.
Nothing here asserts on timings; the numbers are reported, not judged.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from . import _log
from .train import _cpu_name, _run_child

__all__ = ["VARIANT_KEYS", "LEVER_VARIANTS", "check_variant", "variant_label", "run_whole_case",
           "format_whole_case_table"]

VARIANT_KEYS = ("precision", "overlap", "sw_batch_size", "mode", "roi_size")
"""The inference settings a variant may override: the task wrapper's precision and `SlidingWindow` fields."""
LEVER_VARIANTS: tuple[dict[str, Any], ...] = (
    {"precision": "bf16"}, {"overlap": 0.25}, {"overlap": 0.0}, {"sw_batch_size": 1}, {"sw_batch_size": 2},
    {"mode": "gaussian"},
)
"""Each lever alone, relative to the recipe's settings (``visionzoo benchmark --whole-case ... --levers``)."""
_MARK = "VZCASE "  # per-case progress lines the child prints (one JSON object each)
_REGIONS = ("TC", "WT", "ET")


# --- variants -----------------------------------------------------------------------------------
def check_variant(variant: dict[str, Any]) -> dict[str, Any]:
    """`variant` with checked values; an unknown key or a bad value is a one-line ValueError."""
    from visionzoo.utils.precision import check_precision

    unknown = sorted(set(variant) - set(VARIANT_KEYS))
    if "channels_last" in unknown:
        raise ValueError("channels_last is not a whole-case lever here (VolumeSegmenter has no memory-format "
                         f"switch); variant keys are {', '.join(VARIANT_KEYS)}")
    if unknown:
        raise ValueError(f"unknown variant key(s) {', '.join(unknown)}; variant keys are {', '.join(VARIANT_KEYS)}")
    out = dict(variant)
    if "precision" in out:
        out["precision"] = check_precision(str(out["precision"]))
    if "overlap" in out:
        if isinstance(out["overlap"], bool) or not isinstance(out["overlap"], (int, float)) \
                or not 0 <= out["overlap"] < 1:
            raise ValueError(f"variant overlap must be a number in [0, 1), got {out['overlap']!r}")
        out["overlap"] = float(out["overlap"])
    if "sw_batch_size" in out and (isinstance(out["sw_batch_size"], bool) or not isinstance(out["sw_batch_size"], int)
                                   or out["sw_batch_size"] < 1):
        raise ValueError(f"variant sw_batch_size must be a positive integer, got {out['sw_batch_size']!r}")
    if "mode" in out and out["mode"] not in ("constant", "gaussian"):
        raise ValueError(f"variant mode must be constant or gaussian, got {out['mode']!r}")
    if "roi_size" in out:
        try:
            roi = tuple(int(v) for v in str(out["roi_size"]).split("x"))
        except ValueError:
            roi = ()
        if not roi or min(roi) < 1:
            raise ValueError(f"variant roi_size must be N or NxNxN (positive integers), got {out['roi_size']!r}")
        out["roi_size"] = "x".join(map(str, roi))
    return out


def variant_label(variant: dict[str, Any]) -> str:
    """``"overlap=0.25,precision=bf16"`` (keys sorted); ``"recipe"`` for no overrides."""
    return ",".join(f"{k}={variant[k]}" for k in sorted(variant)) or "recipe"


def apply_variant(cfg: Any, variant: dict[str, Any]) -> None:
    """Put `variant` into a segmenter config: precision into the wrapper, the rest into ``segmenter.inference``."""
    from visionzoo.engine import set_inference_precision
    from visionzoo.engine.models import SlidingWindow
    from visionzoo.engine.runner import task_wrapper

    key, _ = task_wrapper(cfg)
    if key != "segmenter":
        raise ValueError(f"the whole-case benchmark runs volume segmenters; this config's task wrapper is {key!r}")
    set_inference_precision(cfg, variant.get("precision"))
    overrides = {k: v for k, v in variant.items() if k != "precision"}
    if overrides:
        wrapper = dict(cfg.get("segmenter") or {})
        inference = dict(wrapper.get("inference") or {})
        if "roi_size" in overrides:
            roi = tuple(int(v) for v in overrides["roi_size"].split("x"))
            dims = len(SlidingWindow(**inference).roi_size)
            overrides["roi_size"] = roi * dims if len(roi) == 1 else roi
        wrapper["inference"] = {**inference, **overrides}
        cfg["segmenter"] = wrapper


def _settings(cfg: Any, device: str = "cpu") -> dict[str, Any]:
    """The effective precision (``auto`` resolved for `device`) / overlap / sw_batch_size / mode / roi_size of a
    segmenter config (defaults filled in)."""
    from visionzoo.engine.models import SlidingWindow
    from visionzoo.utils.precision import resolve_precision

    wrapper = cfg.get("segmenter") or {}
    window = SlidingWindow(**dict(wrapper.get("inference") or {}))
    precision = resolve_precision(wrapper.get("precision", "fp32"), device.split(":")[0])
    return {"precision": precision, "overlap": window.overlap,
            "sw_batch_size": window.sw_batch_size, "mode": window.mode,
            "roi_size": "x".join(map(str, window.roi_size))}


# --- the child process --------------------------------------------------------------------------
def _child(spec_path: str) -> int:
    """Predict every case of the spec with `run_inference`, one call per case; write the timings and peak RSS."""
    import resource

    import torch

    from visionzoo.cli._configs import load_config
    from visionzoo.engine.inference import run_inference

    spec = json.loads(Path(spec_path).read_text())
    times = []
    for i, case in enumerate(spec["cases"]):
        start = time.perf_counter()
        cfg = load_config(spec["config"], spec["cfg_options"] or None)
        apply_variant(cfg, spec["variant"])
        run_inference(cfg, spec["checkpoint"], [case], spec["out"], device=spec["device"], progress=False)
        times.append(time.perf_counter() - start)
        print(_MARK + json.dumps({"case": i + 1, "of": len(spec["cases"]), "case_s": times[-1]}), flush=True)
    result = {"case_s": times, "threads": torch.get_num_threads(),
              "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}  # KiB on Linux
    Path(spec["result"]).write_text(json.dumps(result))
    return 0


# --- orchestration ------------------------------------------------------------------------------
def _case_marks(log_path: Path) -> list[dict]:
    try:
        text = log_path.read_text()
    except OSError:
        return []
    return [json.loads(line[len(_MARK):]) for line in text.splitlines() if line.startswith(_MARK)]


def _run_watched(cmd: list[str], threads: int, log_path: Path, timeout_s: float | None, poll_s: float,
                 progress: Callable[[list[dict], float], None]) -> dict:
    """`_run_child` in a thread; every `poll_s` seconds `progress(case marks so far, elapsed s)`."""
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(_run_child, cmd, threads, log_path, timeout_s)
        while not concurrent.futures.wait([future], timeout=poll_s).done:
            progress(_case_marks(log_path), time.monotonic() - start)
        _, usage = future.result()
    return usage


def _eta(done: list[float], n_cases: int, left_variants: int, history: list[dict], elapsed: float = 0.0) -> str:
    """Remaining seconds of this variant and of the whole run, from the cases and variants timed so far."""
    past = [r["median_case_s"] for r in history]
    per_case = statistics.mean(done) if done else (statistics.mean(past) if past else None)
    if per_case is None:
        return "ETA after the first case"
    startup = statistics.mean([r["startup_s"] for r in history]) if history else 0.0
    this = per_case * (n_cases - len(done)) + (0.0 if done else max(0.0, startup - elapsed))
    typical = statistics.mean(past) if past else per_case
    rest = left_variants * (startup + n_cases * typical)
    return f"ETA variant ~{this:.0f} s, all ~{this + rest:.0f} s"


def _dice(pred: Any, target: Any) -> list[float]:
    """Per-region Dice of two (3, *S) masks, MONAI's with ``ignore_empty=False`` (both empty -> 1)."""
    from monai.metrics import compute_dice

    return [float(d) for d in compute_dice(pred[None], target[None], include_background=True, ignore_empty=False)[0]]


def _regions(path: Path, fmt: str) -> Any:
    """A label NIfTI as TC/WT/ET masks (3, *S) in the file's own voxel order (as predictions are saved)."""
    import nibabel as nib
    import numpy as np
    import torch

    from visionzoo.data import labels_to_regions

    labels = np.rint(np.asarray(nib.load(str(path)).dataobj, dtype=np.float32)).astype(np.int16)
    return torch.from_numpy(labels_to_regions(labels, fmt))


def _mean_dice(pairs: list[tuple[Path, Path, str]]) -> tuple[float, dict[str, float]]:
    """Mean Dice over cases and regions, and per region, of (prediction, target, format) label files."""
    per_case = [_dice(_regions(p, fmt), _regions(t, fmt)) for p, t, fmt in pairs]
    regions = {r: statistics.mean(c[i] for c in per_case) for i, r in enumerate(_REGIONS)}
    return statistics.mean(regions.values()), regions


def _random_init_checkpoint(cfg: Any, path: Path, seed: int = 0) -> Path:
    """The config's network as built with `seed`, saved as a plain state dict (what ``visionzoo convert`` writes)."""
    import torch

    from visionzoo import create_model

    torch.manual_seed(seed)
    model_cfg = dict(cfg.model.to_dict() if hasattr(cfg.model, "to_dict") else cfg.model)
    torch.save(create_model(**model_cfg).state_dict(), path)
    return path


def _synthetic_cases(root: Path, n: int, shape: tuple[int, int], seed: int = 0) -> Path:
    from visionzoo.data import write_synthetic_brats

    write_synthetic_brats(root, n, size=shape[0], depth=shape[1], seed=seed, n_folds=0)
    return root


@contextlib.contextmanager
def _work_dir(keep_dir: str | os.PathLike | None) -> Iterator[Path]:
    """`keep_dir` (created if needed), else a temporary folder that is removed afterwards."""
    if keep_dir is not None:
        Path(keep_dir).mkdir(parents=True, exist_ok=True)
        yield Path(keep_dir)
        return
    with tempfile.TemporaryDirectory(prefix="vz_whole_case_", ignore_cleanup_errors=True) as tmp:
        yield Path(tmp)


def run_whole_case(
    config: str | os.PathLike,
    checkpoint: str | os.PathLike | None,
    cases: str | os.PathLike | Sequence[str | os.PathLike] | None,
    variants: Sequence[dict[str, Any]],
    *,
    reference: dict[str, Any] | None = None,
    threads: int | None = None,
    cfg_options: dict | None = None,
    device: str = "cpu",
    synthetic_cases: int = 2,
    synthetic_shape: tuple[int, int] = (240, 155),
    keep_dir: str | os.PathLike | None = None,
    run_timeout_s: float | None = None,
    poll_s: float = 30.0,
    verbose: bool = True,
) -> list[dict]:
    """One row per distinct setting (the reference first): seconds per case, peak RSS, Dice; see the module doc.

    `cases`: case folders, folders of cases or 4D NIfTI files (as ``tools/infer.py`` takes them); None generates
    `synthetic_cases` synthetic BraTS cases of ``(size, size, depth)`` = `synthetic_shape`. `reference` defaults to
    ``dict(precision="fp32", overlap=0.5)``. Variants whose effective settings are equal run once.
    `threads`: ``OMP_NUM_THREADS`` of every variant process (default: all cores). `keep_dir` keeps the
    predictions, logs and specs. Progress lines with an ETA go to stderr every `poll_s` seconds.
    """
    from visionzoo.cli._configs import load_config, resolve_config
    from visionzoo.engine.inference import collect_cases

    reference = check_variant(dict(precision="fp32", overlap=0.5) if reference is None else reference)
    variants = [check_variant(dict(v)) for v in variants]
    threads = int(threads or os.cpu_count() or 1)
    config_path = resolve_config(config)
    cfg = load_config(config_path, cfg_options)
    log = functools.partial(_log, verbose)
    with _work_dir(keep_dir) as tmp:
        weights = "checkpoint"
        if checkpoint is None and not (cfg.model.get("pretrained") or cfg.model.get("checkpoint_path")):
            checkpoint = _random_init_checkpoint(cfg, tmp / "random_init.pth")
            weights = "random init (seed 0)"
            log(f"no checkpoint: the config's random initialisation (seed 0) saved as {checkpoint}")
        elif checkpoint is None:
            weights = "named in the config"
        if cases is None:
            log(f"generating {synthetic_cases} synthetic cases of {synthetic_shape[0]}x{synthetic_shape[0]}x"
                f"{synthetic_shape[1]} in {tmp / 'cases'}")
            cases = _synthetic_cases(tmp / "cases", synthetic_cases, synthetic_shape)
        inputs = [str(cases)] if isinstance(cases, (str, os.PathLike)) else [str(c) for c in cases]
        found = collect_cases(inputs)
        # one case per run_inference call: a case's first image stands for its case (4D files are the case)
        case_inputs = [str(c.images[0]) for c in found]

        # distinct effective settings, the reference first
        runs: list[tuple[dict, dict]] = []
        for variant in [reference, *variants]:
            resolved = load_config(config_path, cfg_options)
            apply_variant(resolved, variant)
            settings = _settings(resolved, device)
            if all(s != settings for _, s in runs):
                runs.append((variant, settings))
        log(f"{len(runs)} setting(s) x {len(found)} case(s), {threads} thread(s); one process per setting")

        rows: list[dict] = []
        for k, (variant, settings) in enumerate(runs):
            label = variant_label(variant)
            out, result_path = tmp / f"variant{k}", tmp / f"variant{k}.result.json"
            spec = {"config": str(config_path), "cfg_options": cfg_options or {}, "checkpoint": str(checkpoint)
                    if checkpoint is not None else None, "variant": variant, "cases": case_inputs, "out": str(out),
                    "result": str(result_path), "device": device}
            spec_path = tmp / f"variant{k}.spec.json"
            spec_path.write_text(json.dumps(spec, indent=1))
            log(f"variant {k + 1}/{len(runs)} {label}: starting ({_eta([], len(found), len(runs) - k - 1, rows)})")
            printed = [0]

            def progress(marks: list[dict], elapsed: float, k: int = k, label: str = label) -> None:
                for m in marks[printed[0]:]:
                    log(f"variant {k + 1}/{len(runs)} {label}: case {m['case']}/{m['of']} in {m['case_s']:.1f} s")
                printed[0] = len(marks)
                eta = _eta([m["case_s"] for m in marks], len(found), len(runs) - k - 1, rows, elapsed)
                log(f"variant {k + 1}/{len(runs)} {label}: {elapsed:.0f} s elapsed, {len(marks)}/{len(found)} "
                    f"case(s) done; {eta}")

            cmd = [sys.executable, "-m", "visionzoo.cli.benchmarking.whole_case", str(spec_path)]
            usage = _run_watched(cmd, threads, tmp / f"variant{k}.log", run_timeout_s, poll_s, progress)
            child = json.loads(result_path.read_text())
            row = {"label": label, "variant": variant, "settings": settings, "is_reference": k == 0,
                   "case_s": child["case_s"], "median_case_s": statistics.median(child["case_s"]),
                   "startup_s": usage["wall_s"] - sum(child["case_s"]), "process_s": usage["wall_s"],
                   "peak_rss_gib": child["peak_rss_gib"], "threads": child["threads"],
                   "other_cores": usage["other_cores"], "out_dir": str(out)}
            row["end_to_end_s"] = row["startup_s"] + row["median_case_s"]
            rows.append(row)
            log(f"variant {k + 1}/{len(runs)} {label}: {row['median_case_s']:.1f} s/case (median), peak RSS "
                f"{row['peak_rss_gib']:.2f} GiB")

        ref_dir = Path(rows[0]["out_dir"])
        labelled = [c for c in found if c.label is not None]
        shapes = sorted({"x".join(map(str, _nifti_shape(ref_dir / f"{c.case_id}.nii.gz"))) for c in found})
        for row in rows:
            out = Path(row["out_dir"])
            row["dice_vs_ref"], row["dice_vs_ref_regions"] = _mean_dice(
                [(out / f"{c.case_id}.nii.gz", ref_dir / f"{c.case_id}.nii.gz", c.format) for c in found])
            row["dice_vs_label"], row["dice_vs_label_regions"] = _mean_dice(
                [(out / f"{c.case_id}.nii.gz", c.label, c.format) for c in labelled]) if labelled else (None, None)
            kept = checkpoint is not None and (weights == "checkpoint" or keep_dir is not None)
            row.update(config=str(config_path), checkpoint=str(checkpoint) if kept else None, weights=weights,
                       cases=len(found), case_shapes=shapes, device=device, cpu=_cpu_name())
            if keep_dir is None:
                row["out_dir"] = None  # removed with the temporary folder
        for row in rows:
            row["dice_vs_label_delta"] = row["dice_vs_label"] - rows[0]["dice_vs_label"] if labelled else None
    if verbose:
        print(format_whole_case_table(rows), flush=True)
    return rows


def _nifti_shape(path: Path) -> tuple[int, ...]:
    import nibabel as nib

    return tuple(int(s) for s in nib.load(str(path)).shape)


# --- report -------------------------------------------------------------------------------------
def _f(fmt: str, value: float | None) -> str:
    return "-" if value is None else fmt.format(value)


def format_whole_case_table(rows: list[dict]) -> str:
    """One line per setting: precision, ROI, overlap, sw_batch, mode, s/case, end to end, peak RSS, Dice vs ref/labels."""
    import torch

    first = rows[0]
    head = (f"whole-case inference | {first['config']} ({first['weights']}) | {first['cases']} case(s) "
            f"{', '.join(first['case_shapes'] or [])} | {first['threads']} threads, {first['device']}, "
            f"{first['cpu']} | torch {torch.__version__}")
    cols = ["variant", "precision", "roi", "overlap", "sw_batch", "mode", "s/case (median)", "end to end s",
            "peak RSS GiB", "Dice vs ref", "Dice vs labels", "delta vs ref", "other CPU"]
    lines = []
    for r in rows:
        s = r["settings"]
        lines.append([r["label"] + (" (ref)" if r["is_reference"] else ""), s["precision"], s.get("roi_size", "-"),
                      f"{s['overlap']:g}",
                      str(s["sw_batch_size"]), s["mode"], f"{r['median_case_s']:.1f}", f"{r['end_to_end_s']:.1f}",
                      f"{r['peak_rss_gib']:.2f}", f"{r['dice_vs_ref']:.4f}", _f("{:.4f}", r["dice_vs_label"]),
                      _f("{:+.4f}", r["dice_vs_label_delta"]), _f("{:.2f}", r["other_cores"])])
    widths = [max(len(x[i]) for x in [cols, *lines]) for i in range(len(cols))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i < 5 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    rule = "-" * len(line(cols))
    notes = ["s/case: one run_inference call per case (config, model build, checkpoint load, NIfTI in, sliding "
             "window, label NIfTI + PNG out); end to end: + the process's start-up and imports, as tools/infer.py "
             "on one case",
             "peak RSS: ru_maxrss of the setting's own process; Dice: mean over cases and TC/WT/ET (MONAI, "
             "ignore_empty=False); delta vs ref: Dice vs labels minus the reference's; other CPU: cores the rest of "
             "the machine kept busy meanwhile"]
    return "\n".join([head, rule, line(cols), rule, *(line(x) for x in lines), rule, *notes])


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m visionzoo.cli.benchmarking.whole_case SPEC.json", file=sys.stderr)
        sys.exit(2)
    sys.exit(_child(sys.argv[1]))
