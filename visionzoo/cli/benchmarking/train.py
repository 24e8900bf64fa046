"""Classification training throughput of the whole pipeline: ours (a recipe through `build_runner`) vs timm's train.py.

A training step here is everything one iteration costs: reading and decoding the JPEGs, timm's augmentation,
collation, Mixup / CutMix, forward, loss, backward and the optimizer step, plus the per-iteration bookkeeping
of the trainer (hooks and logging for ours, meters and logging for timm's script). Both sides load data in
the main process (``num_workers=0`` / ``-j 0``), run with the same torch thread count (``OMP_NUM_THREADS``),
batch, model, input size, augmentation, optimizer and gradient clipping, each in its own fresh process,
alternating (ours, timm, ours, timm, ...) so machine drift hits both alike.

    run_train_comparison("vit_small_patch16_224", timm_script="/tmp/timm_train/train.py", batch_size=8, threads=2)

``ours``: `visionzoo.engine.build_runner` on the recipe (``configs/classification/*.py``), with only what a
timing run needs changed (`benchmark_overrides`): data root, batch, ``num_workers=0``, one epoch, no
validation or checkpoints, a log line every iteration. Per-iteration times come from mmengine's
`IterTimerHook` (``train/time``, ``train/data_time`` in the message hub). ``timm``: timm's own ``train.py``
(never vendored: its path is an argument) started through `timm_launcher_main`, which first registers our
model as ``visionzoo_<name>`` in timm's registry (``--model-impl visionzoo``, the same network on both sides)
or leaves timm's own class (``--model-impl timm``), with the flags `timm_train_args` derives from the same
resolved config; its per-iteration times are read from its ``--log-interval 1`` lines. Both timers measure the
period between the ends of consecutive optimizer updates, so their sum over the timed iterations is wall time.

One epoch covers exactly ``warmup + iters`` iterations: the training split is a folder of links to
``(warmup + iters) * batch`` images of the source folder (`prepare_train_split`). The first ``warmup``
iterations of every run are dropped. Nothing here asserts on timings; the numbers are reported, not judged.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._configs import configs_root

__all__ = [
    "write_texture_folder", "prepare_train_split", "find_config", "benchmark_overrides", "timm_train_args",
    "timm_train_command", "ours_command", "parse_timm_log", "run_ours", "run_train_comparison",
    "format_train_table", "wait_for_load", "TIMM_MODEL_PREFIX",
]

REPO = Path(__file__).resolve().parents[3]  # the folder holding the visionzoo package (a checkout, or site-packages)
CONFIGS_DIR = configs_root() / "classification"
TIMM_MODEL_PREFIX = "visionzoo_"
_MARK = "VZBENCH "  # lines the child processes print for the parent (one JSON object each)
_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


# --- data ---------------------------------------------------------------------------------------
def write_texture_folder(root: str | os.PathLike, num_classes: int = 10, per_class: int = 16,
                         size: tuple[int, int] = (256, 320), val_per_class: int = 0, seed: int = 0,
                         quality: int = 90) -> Path:
    """``root/train/class_XX/NNN.jpg`` (and ``root/val/...`` when `val_per_class`): random-texture JPEGs of
    `size` (H, W): smooth colour fields with fine grain, so they decode like photos rather than flat colour."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    root = Path(root)
    h, w = size
    for split, n in (("train", per_class), ("val", val_per_class)):
        for c in range(num_classes if n else 0):
            folder = root / split / f"class_{c:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                coarse = Image.fromarray(rng.integers(0, 256, (h // 32 + 2, w // 32 + 2, 3), dtype=np.uint8))
                smooth = np.asarray(coarse.resize((w, h), Image.BICUBIC), dtype=np.float32)
                grain = rng.normal(0, 24, (h, w, 3)).astype(np.float32)
                img = np.clip(smooth + grain, 0, 255).astype(np.uint8)
                Image.fromarray(img).save(folder / f"{i:03d}.jpg", quality=quality)
    return root


def _split_folder(data: Path) -> Path:
    """The training split of `data`: ``data/train`` when it exists, else `data` itself (``<class>/<image>``)."""
    train = data / "train"
    return train if train.is_dir() else data


def prepare_train_split(data: str | os.PathLike, dst: str | os.PathLike, num_images: int) -> tuple[Path, int]:
    """``dst/train/<class>/`` with `num_images` links to the images of `data`'s training split, taken round-robin
    over the classes (and cycled if the folder has fewer); returns (dst, number of classes used).

    Only classes that receive an image get a folder, so timm's reader (classes from files) and ours (classes
    from folders) count the same classes.
    """
    src = _split_folder(Path(data))
    classes = sorted(d.name for d in src.iterdir() if d.is_dir() and not d.name.startswith("."))
    per_class = {c: sorted(p for p in (src / c).rglob("*") if p.suffix.lower() in _IMAGE_EXTENSIONS
                           and not p.name.startswith(".")) for c in classes}
    per_class = {c: v for c, v in per_class.items() if v}
    if not per_class:
        raise FileNotFoundError(f"no images under {src} (expected <class>/<image> folders, e.g. train/cat/1.jpg)")
    order: list[tuple[str, Path]] = []
    depth = max(len(v) for v in per_class.values())
    for i in range(depth):
        order += [(c, v[i]) for c, v in per_class.items() if i < len(v)]
    dst = Path(dst)
    if (dst / "train").exists():
        shutil.rmtree(dst / "train")
    used = set()
    for k in range(num_images):
        c, path = order[k % len(order)]
        folder = dst / "train" / c
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{k:05d}_{path.name}").symlink_to(path.resolve())
        used.add(c)
    return dst, len(used)


# --- configs and command lines ------------------------------------------------------------------
def find_config(model: str, configs_dir: Path = CONFIGS_DIR) -> Path | None:
    """The from-scratch recipe in `configs_dir` whose ``model = dict(name=...)`` is `model` (tags ignored), if any.

    Recipes that start from pretrained weights (``pretrained=True`` in the model dict: fine-tuning) are skipped.
    """
    arch = model.split(".", 1)[0]
    pattern = re.compile(r"""^model\s*=\s*dict\(\s*name\s*=\s*["']([^"']+)["'](.*)$""", re.M)
    for path in sorted(configs_dir.glob("*.py")):
        m = pattern.search(path.read_text())
        if m and m.group(1).split(".", 1)[0] == arch and not re.search(r"pretrained\s*=\s*True", m.group(2)):
            return path
    return None


def benchmark_overrides(cfg: Any, data_root: str | os.PathLike, batch_size: int, model: str | None = None) -> Any:
    """`cfg` (an mmengine Config of a classification recipe) changed for a timing run, in place; returns it.

    The data root, batch and ``num_workers=0`` (no persistent workers); ``num_classes`` from the data; one
    epoch; no validation, test loop or checkpoints; a log line every iteration (timm's side logs every
    iteration too). Everything else (augmentation, Mixup, optimizer, clipping, hooks) stays the recipe's.
    """
    cfg.data_root = str(data_root)
    if model is not None:
        cfg.model["name"] = model
    cfg.model["num_classes"] = None
    cfg.model.pop("pretrained", None)
    loader = cfg.train_dataloader
    loader["batch_size"] = int(batch_size)
    loader["num_workers"] = 0
    loader["persistent_workers"] = False
    for key in ("val_dataloader", "val_cfg", "val_evaluator", "test_dataloader", "test_cfg", "test_evaluator"):
        cfg[key] = None
    cfg.train_cfg["max_epochs"] = 1
    cfg.train_cfg.pop("val_interval", None)
    cfg.train_cfg.pop("val_begin", None)
    hooks = cfg.default_hooks
    hooks["checkpoint"] = None
    if hooks.get("logger") is not None:
        hooks["logger"]["interval"] = 1
    return cfg


_PIPELINE_FLAGS = {  # ClsTransforms (timm create_transform) key -> timm train.py flag
    "auto_augment": "--aa", "re_prob": "--reprob", "re_mode": "--remode", "re_count": "--recount",
    "hflip": "--hflip", "vflip": "--vflip", "color_jitter_prob": "--color-jitter-prob",
    "grayscale_prob": "--grayscale-prob", "gaussian_blur_prob": "--gaussian-blur-prob",
    "train_crop_mode": "--train-crop-mode",
}
_PIPELINE_EVAL_ONLY = ("type", "mode", "crop_pct", "crop_mode")


def _num(v: Any) -> str:
    return repr(float(v)) if isinstance(v, float) else str(v)


def timm_train_args(cfg: Any, model_name: str, *, batch_size: int, data_root: str | os.PathLike, output: str,
                    num_classes: int) -> list[str]:
    """timm ``train.py`` flags that train like the resolved recipe `cfg` (after `resolve_cls_data`), on CPU, with
    data loading in the main process, one epoch, a log line per iteration and no validation.

    A recipe setting the flags cannot express (an unknown pipeline key, another optimizer, layer decay with
    mmengine's constructor) is an error naming it, never a silently different run.
    """
    net = dict(cfg.model)
    pipe = dict(cfg.train_dataloader["dataset"]["pipeline"])
    if pipe.get("mode") != "train" or pipe.get("type") != "ClsTransforms":
        raise ValueError(f"the recipe's training pipeline must be ClsTransforms(mode='train'), got {pipe}")
    args = [
        "--data-dir", str(data_root), "--train-split", "train", "--val-split", "",
        "--model", model_name, "--num-classes", str(num_classes),
        "--device", "cpu", "--no-prefetcher", "-j", "0", "-b", str(batch_size),
        "--epochs", "1", "--log-interval", "1", "--output", str(output),
    ]
    for key, flag in (("drop_path_rate", "--drop-path"), ("drop_rate", "--drop")):
        if net.get(key) is not None:
            args += [flag, _num(net[key])]
    extra = {k: v for k, v in net.items() if k not in ("name", "num_classes", "drop_path_rate", "drop_rate", "type")}
    if extra:
        args += ["--model-kwargs", *(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in extra.items())]

    # augmentation: timm's create_transform on both sides, same keywords
    c, h, w = (tuple(pipe["input_size"]) if not isinstance(pipe["input_size"], int)
               else (3, pipe["input_size"], pipe["input_size"]))[-3:]
    args += ["--input-size", str(c), str(h), str(w)]
    args += ["--mean", *map(_num, pipe["mean"]), "--std", *map(_num, pipe["std"])]
    args += ["--train-interpolation", str(pipe.get("interpolation") or "bilinear")]
    # color_jitter=None in create_transform adds no jitter; train.py's default is 0.4, and 0 makes it a no-op
    jitter = pipe.get("color_jitter", 0.4)
    args += ["--color-jitter", _num(float(jitter) if jitter is not None else 0.0)]
    for key in ("scale", "ratio"):
        if pipe.get(key) is not None:
            args += [f"--{key}", *map(_num, pipe[key])]
    args += ["--reprob", _num(float(pipe.get("re_prob", 0.0)))]
    for key, flag in _PIPELINE_FLAGS.items():
        if key != "re_prob" and pipe.get(key) is not None:
            args += [flag, _num(pipe[key])]
    known = {"input_size", "mean", "std", "interpolation", "color_jitter", "scale", "ratio", *_PIPELINE_FLAGS,
             *_PIPELINE_EVAL_ONLY}
    unknown = sorted(k for k, v in pipe.items() if k not in known and v is not None)
    if unknown:
        raise ValueError(f"training pipeline keys without a timm train.py flag here: {unknown}")

    # Mixup / CutMix / label smoothing (the classifier wrapper's)
    clf = dict(cfg.get("classifier") or {})
    mixup = clf.get("mixup")
    if mixup:
        args += ["--mixup", _num(float(mixup.get("mixup_alpha", 1.0))),
                 "--cutmix", _num(float(mixup.get("cutmix_alpha", 0.0))),
                 "--mixup-prob", _num(float(mixup.get("prob", 1.0))),
                 "--mixup-switch-prob", _num(float(mixup.get("switch_prob", 0.5))),
                 "--mixup-mode", str(mixup.get("mode", "batch")),
                 "--smoothing", _num(float(mixup.get("label_smoothing", 0.1)))]
        if mixup.get("cutmix_minmax") is not None:
            args += ["--cutmix-minmax", *map(_num, mixup["cutmix_minmax"])]
    else:
        args += ["--smoothing", _num(float(clf.get("label_smoothing", 0.0)))]

    # optimizer and clipping
    wrapper = dict(cfg.optim_wrapper)
    opt = dict(wrapper["optimizer"])
    kind = str(opt.pop("type")).lower()
    if kind == "adamw":
        args += ["--opt", "adamw"]
    elif kind == "sgd":
        args += ["--opt", "sgd" if opt.pop("nesterov", False) else "momentum",  # timm's "sgd" is Nesterov SGD
                 "--momentum", _num(float(opt.pop("momentum", 0.0)))]
    else:
        raise ValueError(f"optimizer {kind!r}: only AdamW and SGD are mapped to timm train.py flags")
    args += ["--lr", _num(float(opt.pop("lr"))), "--weight-decay", _num(float(opt.pop("weight_decay", 0.0)))]
    if "betas" in opt:
        args += ["--opt-betas", *map(_num, opt.pop("betas"))]
    if "eps" in opt:
        args += ["--opt-eps", _num(float(opt.pop("eps")))]
    if not opt.get("dampening"):
        opt.pop("dampening", None)
    if opt:
        raise ValueError(f"optimizer arguments without a timm train.py flag here: {sorted(opt)}")
    layer_decay = (wrapper.get("paramwise_cfg") or {}).get("layer_decay")
    if layer_decay is not None:
        args += ["--layer-decay", _num(float(layer_decay))]
    clip = wrapper.get("clip_grad")
    if clip:
        if clip.get("type", "norm") != "norm" or clip.get("norm_type", 2) != 2:
            raise ValueError(f"clip_grad {clip}: only the L2 norm is mapped to timm's --clip-grad")
        args += ["--clip-grad", _num(float(clip["max_norm"])), "--clip-mode", "norm"]
    return args


def timm_train_command(script: str | os.PathLike, timm_args: Sequence[str], visionzoo_model: str | None = None,
                       python: str = sys.executable) -> list[str]:
    """The command that runs timm's `script` with `timm_args`, our `visionzoo_model` registered first when given."""
    cmd = [python, "-m", "visionzoo.cli.benchmarking.train", "timm", "--script", str(script)]
    if visionzoo_model:
        cmd += ["--register", visionzoo_model]
    return [*cmd, "--", *timm_args]


def ours_command(config: str | os.PathLike, data_root: str | os.PathLike, batch_size: int, work_dir: str | os.PathLike,
                 model: str | None = None, python: str = sys.executable) -> list[str]:
    cmd = [python, "-m", "visionzoo.cli.benchmarking.train", "ours", "--config", str(config), "--data", str(data_root),
           "--batch-size", str(batch_size), "--work-dir", str(work_dir)]
    return cmd + (["--model", model] if model else [])


# --- the two sides, in their own processes ------------------------------------------------------
def run_ours(config: str | os.PathLike, data_root: str | os.PathLike, batch_size: int, work_dir: str | os.PathLike,
             model: str | None = None) -> dict:
    """Train one epoch of `config` on `data_root` through `build_runner` (as tools/train.py does) in this process;
    returns per-iteration ``times`` / ``data_times`` (s), the threads, parameter count and training transform."""
    import torch

    from visionzoo.engine import build_runner, load_config

    cfg = benchmark_overrides(load_config(config), data_root, batch_size, model)
    runner = build_runner(cfg, work_dir=str(work_dir))
    runner.train()
    hub = runner.message_hub
    net = runner.model.net
    return {
        "side": "ours", "times": hub.get_scalar("train/time").data[0].tolist(),
        "data_times": hub.get_scalar("train/data_time").data[0].tolist(), "threads": torch.get_num_threads(),
        "params": sum(p.numel() for p in net.parameters()),
        "model_class": f"{type(net).__module__}.{type(net).__name__}",
        "transform": repr(runner.train_loop.dataloader.dataset.transform),
    }


def _register_visionzoo_in_timm(name: str) -> str:
    """Register our `name` in timm's model registry as ``visionzoo_<name>``; returns that name."""
    from timm.models._registry import register_model

    import visionzoo

    arch = name.split(".", 1)[0]

    def entrypoint(pretrained: bool = False, pretrained_cfg: Any = None, pretrained_cfg_overlay: Any = None,
                   cache_dir: Any = None, **kwargs: Any):
        if pretrained:
            raise ValueError("the benchmark trains from scratch: no pretrained weights through timm")
        if not kwargs.get("drop_rate"):  # train.py always passes drop_rate (0.0); the recipes leave it at its default
            kwargs.pop("drop_rate", None)
        return visionzoo.create_model(arch, **kwargs)

    entrypoint.__name__ = entrypoint.__qualname__ = TIMM_MODEL_PREFIX + arch
    entrypoint.__module__ = __name__
    register_model(entrypoint)
    return entrypoint.__name__


def _report(obj: dict) -> None:
    print(_MARK + json.dumps(obj), file=sys.stderr, flush=True)


def timm_launcher_main(argv: Sequence[str]) -> None:
    """``--script PATH [--register NAME] -- ARGS``: run timm's train.py as ``__main__`` with ARGS, our model
    registered first; reports threads, the model class, its parameter count and the training transform.

    The training transform's posterize ops get the fix ours has (`fix_timm_posterize`: with Pillow 13, timm's
    RandAugment ``inc1`` raises on about 1 image in 1,700), so both sides run the same pipeline to the end.
    """
    import runpy

    import timm.data
    import timm.models
    import torch

    p = argparse.ArgumentParser(prog="visionzoo.cli.benchmarking.train timm")
    p.add_argument("--script", required=True)
    p.add_argument("--register", default=None)
    args, rest = p.parse_known_args(argv)
    rest = rest[1:] if rest[:1] == ["--"] else rest
    if args.register:
        _register_visionzoo_in_timm(args.register)

    create_model, create_loader = timm.models.create_model, timm.data.create_loader

    def reporting_create_model(*a: Any, **kw: Any):
        model = create_model(*a, **kw)
        _report({"params": sum(q.numel() for q in model.parameters()),
                 "model_class": f"{type(model).__module__}.{type(model).__name__}"})
        return model

    def reporting_create_loader(dataset: Any, *a: Any, **kw: Any):
        loader = create_loader(dataset, *a, **kw)
        if kw.get("is_training"):
            # the same Pillow 13 fix as ours (posterize keeping 0 bits raises there): both sides can finish a run
            from visionzoo.engine.classification_data import fix_timm_posterize

            fix_timm_posterize(getattr(dataset, "transform", None))
            _report({"transform": repr(getattr(dataset, "transform", None)), "threads": torch.get_num_threads()})
        return loader

    timm.models.create_model = reporting_create_model  # train.py imports both names from these modules as it starts
    timm.data.create_loader = reporting_create_loader
    sys.argv = [args.script, *rest]
    sys.path.insert(0, str(Path(args.script).resolve().parent))
    runpy.run_path(args.script, run_name="__main__")


_TIMM_LINE = re.compile(r"Train: (\d+) \[\s*(\d+)/(\d+).*?Time: ([\d.]+)s.*?Data: ([\d.]+)")
_TIMM_PARAMS = re.compile(r"Model \S+ created, param count:\s*(\d+)")


def parse_timm_log(text: str) -> dict:
    """Per-iteration ``times`` and ``data_times`` from timm train.py's ``--log-interval 1`` lines, plus what the
    launcher reported (``VZBENCH {...}`` lines)."""
    out: dict[str, Any] = {"side": "timm", "times": [], "data_times": []}
    for line in text.splitlines():
        if line.startswith(_MARK):
            out.update(json.loads(line[len(_MARK):]))
            continue
        m = _TIMM_PARAMS.search(line)
        if m and "params" not in out:
            out["params"] = int(m.group(1))
        m = _TIMM_LINE.search(line)
        if m:
            out["times"].append(float(m.group(4)))
            out["data_times"].append(float(m.group(5)))
    return out


# --- orchestration ------------------------------------------------------------------------------
def load_1min() -> float:
    return os.getloadavg()[0]


def busy_cores(sample_s: float = 5.0) -> float | None:
    """Cores the whole machine keeps busy over the next `sample_s` seconds (/proc/stat; None where there is none)."""
    before = _cpu_seconds()
    time.sleep(sample_s)
    after = _cpu_seconds()
    return None if before is None or after is None else (after[0] - before[0]) / sample_s


def wait_for_quiet(max_load: float | None, max_busy: float | None = None, timeout_s: float = 600.0,
                   poll_s: float = 15.0, verbose: bool = True) -> tuple[float, float | None]:
    """Wait (at most `timeout_s`) until the 1-minute load average is below `max_load` and, with `max_busy`, the
    machine keeps fewer than `max_busy` cores busy over a 5-s sample; returns (load, busy cores) then."""
    start = time.monotonic()
    while True:
        load = load_1min()
        busy = busy_cores() if max_busy is not None else None
        quiet = (max_load is None or load < max_load) and (busy is None or busy < max_busy)
        if quiet or time.monotonic() - start >= timeout_s:
            return load, busy
        if verbose:
            extra = f", {busy:.2f} cores busy" if busy is not None else ""
            print(f"[train-benchmark] 1-minute load {load:.2f}{extra}: waiting for a quiet machine", file=sys.stderr,
                  flush=True)
        time.sleep(poll_s)


def _child_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[key] = str(threads)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    return env


def _cpu_seconds() -> tuple[float, float] | None:
    """(busy, steal) CPU seconds of the whole machine so far, from /proc/stat (None where there is none)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq) / tick, steal / tick


def _run_child(cmd: list[str], threads: int, log_path: Path, timeout_s: float | None) -> tuple[str, dict]:
    """Run `cmd`; returns its output and how busy the machine was meanwhile: ``other_cores`` (CPU the rest of the
    machine used, in cores: busy time not spent by this child, over wall time), ``steal_cores`` (hypervisor steal)."""
    import resource

    before, child0, t0 = _cpu_seconds(), resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    with open(log_path, "w") as log:
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=_child_env(threads), cwd=str(REPO),
                              timeout=timeout_s)
    after, child1, wall = _cpu_seconds(), resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic() - t0
    text = log_path.read_text()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])} ... failed (exit {proc.returncode}); last lines of {log_path}:\n"
                           + "\n".join(text.splitlines()[-25:]))
    usage: dict[str, float | None] = {"wall_s": wall, "other_cores": None, "steal_cores": None}
    if before and after and wall > 0:
        mine = (child1.ru_utime + child1.ru_stime) - (child0.ru_utime + child0.ru_stime)
        usage["other_cores"] = max(0.0, (after[0] - before[0] - mine) / wall)
        usage["steal_cores"] = (after[1] - before[1]) / wall
    return text, usage


def _summary(runs: list[dict], batch_size: int, warmup: int) -> dict:
    times = [t for r in runs for t in r["times"][warmup:]]
    data = [t for r in runs for t in r["data_times"][warmup:]]
    total = sum(times)
    per_round = [batch_size * len(r["times"][warmup:]) / sum(r["times"][warmup:]) for r in runs if r["times"][warmup:]]
    return {
        "images_per_s": batch_size * len(times) / total if total else None,
        "ms_per_iter": 1e3 * total / len(times) if times else None,
        "median_ms_per_iter": 1e3 * float(np.median(times)) if times else None,
        "data_share": sum(data) / total if total else None,
        "iters_timed": len(times), "per_round_images_per_s": per_round,
        "loads": [r.get("load") for r in runs], "threads": sorted({r.get("threads") for r in runs} - {None}),
        "other_cores": [r.get("other_cores") for r in runs], "steal_cores": [r.get("steal_cores") for r in runs],
        "params": runs[0].get("params"), "model_class": runs[0].get("model_class"),
    }


def run_train_comparison(
    model: str,
    *,
    timm_script: str | os.PathLike | None = None,
    config: str | os.PathLike | None = None,
    data: str | os.PathLike | None = None,
    batch_size: int = 8,
    threads: int = 2,
    iters: int = 10,
    warmup: int = 3,
    rounds: int = 2,
    model_impls: Sequence[str] = ("visionzoo",),
    max_load: float | None = None,
    max_other_cores: float | None = None,
    max_repeats: int = 3,
    load_timeout_s: float = 600.0,
    run_timeout_s: float | None = 1800.0,
    keep_dir: str | os.PathLike | None = None,
    verbose: bool = True,
) -> dict:
    """Time `rounds` x (ours, then timm's train.py for each of `model_impls`) on the same folder; see the module doc.

    `model_impls`: ``"visionzoo"`` runs our model through timm's train.py (the like-for-like pipeline comparison),
    ``"timm"`` timm's own class of the same name. Without `timm_script` only ours runs. Without `data` a
    texture ImageFolder (10 classes x 16 JPEGs of 256x320) is generated. `max_load`: before each run, wait until
    the 1-minute load is below it (`load_timeout_s` is the waiting budget of the whole comparison; once spent,
    runs start at once); each run records the load it started under and the CPU the rest of the machine used.
    `max_other_cores`: also wait until the machine keeps fewer cores busy than this (5-s sample) and run a side
    again (at most `max_repeats` times per side) when the rest of the machine used more meanwhile: with 2 OpenMP
    threads on 2 cores, one foreign busy core slows every parallel region several-fold.
    """

    if iters < 1 or warmup < 0 or rounds < 1:
        raise ValueError(f"need iters >= 1, warmup >= 0, rounds >= 1; got {iters}, {warmup}, {rounds}")
    config = Path(config) if config else find_config(model)
    if config is None:
        raise FileNotFoundError(f"no recipe in {CONFIGS_DIR} trains {model!r}: pass --config CONFIG")
    tmp = Path(keep_dir) if keep_dir else Path(tempfile.mkdtemp(prefix="vz_train_bench_"))
    tmp.mkdir(parents=True, exist_ok=True)

    def log(msg: str) -> None:
        if verbose:
            print(f"[train-benchmark] {msg}", file=sys.stderr, flush=True)

    try:
        if data is None:
            data = write_texture_folder(tmp / "source")
            log(f"generated a texture ImageFolder in {data} (10 classes x 16 JPEGs, 256x320)")
        split_root, num_classes = prepare_train_split(data, tmp / "data", (warmup + iters) * batch_size)
        log(f"training split: {(warmup + iters) * batch_size} images ({num_classes} classes) = {warmup} warm-up + "
            f"{iters} timed iterations of batch {batch_size}")

        # the recipe as the runner resolves it (pipeline filled from the model), for timm's flags
        from visionzoo.engine import load_config, resolve_cls_data

        cfg = benchmark_overrides(load_config(config), split_root, batch_size, model)
        cfg.work_dir = str(tmp / "resolve")
        resolve_cls_data(cfg)
        sides: list[tuple[str, list[str]]] = [("ours", [])]
        if timm_script is not None:
            for impl in model_impls:
                if impl not in ("visionzoo", "timm"):
                    raise ValueError(f"model_impls entries are 'visionzoo' or 'timm', got {impl!r}")
                name = TIMM_MODEL_PREFIX + model.split(".", 1)[0] if impl == "visionzoo" else model
                out = tmp / f"timm_out_{impl}"
                targs = timm_train_args(cfg, name, batch_size=batch_size, data_root=split_root, output=str(out),
                                        num_classes=num_classes)
                register = model if impl == "visionzoo" else None
                sides.append((f"timm:{impl}", timm_train_command(timm_script, targs, register)))

        runs: dict[str, list[dict]] = {s: [] for s, _ in sides}
        discarded: dict[str, list[dict]] = {s: [] for s, _ in sides}
        wait_until = time.monotonic() + load_timeout_s  # one waiting budget for the whole comparison
        jobs = [(r, side, cmd) for r in range(rounds) for side, cmd in sides]
        while jobs:
            r, side, cmd = jobs.pop(0)
            load, busy = wait_for_quiet(max_load, max_other_cores, max(0.0, wait_until - time.monotonic()),
                                        verbose=verbose)
            log(f"round {r + 1}/{rounds}: {side} (1-minute load {load:.2f}"
                + (f", {busy:.2f} cores busy)" if busy is not None else ")"))
            logfile = tmp / f"{side.replace(':', '_')}_round{r + 1}.log"
            if side == "ours":
                result_json = tmp / f"ours_round{r + 1}.json"
                work = tmp / f"work_ours_round{r + 1}"
                _, usage = _run_child([*ours_command(config, split_root, batch_size, work, model), "--out",
                                       str(result_json)], threads, logfile, run_timeout_s)
                result = json.loads(result_json.read_text())
                shutil.rmtree(work, ignore_errors=True)
            else:
                text, usage = _run_child(cmd, threads, logfile, run_timeout_s)
                result = parse_timm_log(text)
                shutil.rmtree(tmp / f"timm_out_{side.split(':')[1]}", ignore_errors=True)
            result.update(usage)
            n = len(result["times"])
            if n != warmup + iters:
                raise RuntimeError(f"{side} ran {n} iterations, expected {warmup + iters}; see {logfile}")
            result["load"], result["busy_before"] = load, busy
            rate = batch_size * iters / sum(result["times"][warmup:])
            other = result.get("other_cores")
            if (max_other_cores is not None and other is not None and other > max_other_cores
                    and len(discarded[side]) < max_repeats):
                discarded[side].append(result)
                log(f"  {side}: {rate:.2f} img/s, DISCARDED (the rest of the machine used {other:.2f} cores "
                    f"meanwhile > {max_other_cores}); running it again")
                jobs.insert(0, (r, side, cmd))
                continue
            runs[side].append(result)
            log(f"  {side}: {rate:.2f} img/s (other CPU {other if other is not None else float('nan'):.2f} cores)")

        summaries = {side: _summary(rs, batch_size, warmup) for side, rs in runs.items()}
        for side, rs in discarded.items():
            summaries[side]["discarded_runs"] = len(rs)
        transforms = {side: rs[0].get("transform") for side, rs in runs.items()}
        ours = summaries["ours"]
        for side, s in summaries.items():
            s["ratio_ours_over_this"] = (ours["images_per_s"] / s["images_per_s"]) if s["images_per_s"] else None
        import timm
        import torch

        resolved = Path(config).resolve()
        result = {
            "model": model, "config": str(resolved.relative_to(REPO)) if resolved.is_relative_to(REPO) else str(config),
            "batch_size": batch_size, "threads": threads, "iters": iters, "warmup": warmup, "rounds": rounds,
            "img_size": list(cfg.train_dataloader["dataset"]["pipeline"]["input_size"])[-2:],
            "num_classes": num_classes, "date": time.strftime("%Y-%m-%d"), "torch": torch.__version__,
            "timm": timm.__version__, "cpu": _cpu_name(), "cores": os.cpu_count(),
            "timm_script": str(timm_script) if timm_script else None, "sides": summaries,
            "same_transform": len({_effective_transform(t) for t in transforms.values()}) == 1,
            "transforms": transforms,
            "timm_args": sides[1][1][sides[1][1].index("--") + 1:] if len(sides) > 1 else None,
        }
        if verbose:
            print(format_train_table(result), flush=True)
        return result
    finally:
        if keep_dir is None:
            shutil.rmtree(tmp, ignore_errors=True)


_NOOP_JITTER = re.compile(r"\n\s*ColorJitter\(brightness=None, contrast=None, saturation=None, hue=None\)")


def _effective_transform(text: str | None) -> str | None:
    """A transform's repr without a no-op ``ColorJitter`` (timm's train.py always adds one when RandAugment is off:
    ``--color-jitter 0`` cannot say None)."""
    return _NOOP_JITTER.sub("", text) if text else text


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown CPU"


_SIDE_LABELS = {"ours": "ours (tools/train.py, mmengine)", "timm:visionzoo": "timm train.py, our model",
                "timm:timm": "timm train.py, timm's model"}


def format_train_table(result: dict) -> str:
    """One row per side: images/s, ms per iteration, data-time share, ratio ours / that side."""
    loads = [x for s in result["sides"].values() for x in s["loads"] if x is not None]
    head = (f"{result['model']} | training pipeline, {result['config']} | batch {result['batch_size']} "
            f"{'x'.join(map(str, result['img_size']))}, {result['threads']} threads, {result['iters']} timed iters "
            f"(after {result['warmup']} warm-up) x {result['rounds']} rounds, alternating | load "
            f"{min(loads):.2f}-{max(loads):.2f} | torch {result['torch']}, timm {result['timm']}")
    cols = ["", "img/s", "ms/iter", "median ms", "data share", "ratio ours/this", "img/s per round", "other CPU"]
    rows = []
    for side, s in result["sides"].items():
        other = [v for v in s.get("other_cores") or [] if v is not None]
        rows.append([_SIDE_LABELS.get(side, side), f"{s['images_per_s']:.2f}", f"{s['ms_per_iter']:.0f}",
                     f"{s['median_ms_per_iter']:.0f}", f"{100 * s['data_share']:.1f}%",
                     f"{s['ratio_ours_over_this']:.3f}", ", ".join(f"{v:.2f}" for v in s["per_round_images_per_s"]),
                     ", ".join(f"{v:.2f}" for v in other) or "-"])
    widths = [max(len(r[i]) for r in [cols, *rows]) for i in range(len(cols))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(cells))

    rule = "-" * len(line(cols))
    notes = ["data share: ours = mmengine data_time (sampler, decode, augmentation, collate, previous iteration's "
             "after-iter hooks); timm = its Data meter (loader + Mixup)",
             "load: 1-minute load average before each run; other CPU: cores the rest of the machine kept busy during "
             "each run (/proc/stat), per round",
             "same training transform on every side" if result.get("same_transform")
             else "WARNING: the training transforms differ between sides (see the JSON 'transforms')"]
    redone = {s: v["discarded_runs"] for s, v in result["sides"].items() if v.get("discarded_runs")}
    if redone:
        notes.append(f"runs discarded and repeated (the rest of the machine was busy meanwhile): {redone}")
    params = {s: v["params"] for s, v in result["sides"].items()}
    if len(set(params.values())) > 1:
        notes.append(f"parameter counts differ: {params}")
    return "\n".join([head, rule, line(cols), rule, *(line(r) for r in rows), rule, *notes])


# --- child-process entry points -----------------------------------------------------------------
def _main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["timm"]:
        timm_launcher_main(argv[1:])
        return 0
    if argv[:1] == ["ours"]:
        p = argparse.ArgumentParser(prog="visionzoo.cli.benchmarking.train ours")
        p.add_argument("--config", required=True)
        p.add_argument("--data", required=True)
        p.add_argument("--batch-size", type=int, required=True)
        p.add_argument("--work-dir", required=True)
        p.add_argument("--model", default=None)
        p.add_argument("--out", required=True)
        a = p.parse_args(argv[1:])
        result = run_ours(a.config, a.data, a.batch_size, a.work_dir, a.model)
        Path(a.out).write_text(json.dumps(result))
        return 0
    print("usage: python -m visionzoo.cli.benchmarking.train {ours|timm} ...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main())
