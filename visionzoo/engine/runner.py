"""`VisionzooRunner` and `build_runner`: mmengine's Runner with atomic checkpoints, safe loading and exact resume.

`build_runner` turns a loaded config and the command-line choices into a runner, applying what was
measured on mmengine 0.10.7 / torch 2.14 (CPU): process groups are started here (see `distributed`),
each process gets ``cores // processes`` torch threads, DDP on CPU is wrapped with ``device_ids=None``,
the config's ``data_root`` (or a synthetic set) reaches every BraTS dataset, and the checkpoints it writes
load with ``weights_only=True`` (see `checkpoint`). The full Swin UNETR recipe (feature 48, ROI 128^3)
needs about 15.5 GiB and 70 s per training step on a 2-core CPU: use the ``*_synthetic`` configs there.
"""
from __future__ import annotations

import os
import os.path as osp
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from mmengine.config import Config
from mmengine.dist import master_only
from mmengine.runner import Runner

from visionzoo.utils.memory import keep_freed_memory
from visionzoo.utils.precision import check_precision

from .checkpoint import atomic_write
from .classification_data import resolve_cls_data
from .distributed import SetupError, configure_threads, init_distributed, local_world_size
from .hooks import ResumeStateHook
from .registry import RUNNERS
from .synthetic import data_root_or_synthetic, ensure_synthetic_brats, synthetic_banner
from .tasks import check_config_types

__all__ = ["VisionzooRunner", "build_runner", "BRATS_DATASET_TYPES", "DATA_ROOT_RESOLVERS", "resolve_data_root",
           "task_wrapper", "set_inference_precision"]

DATA_ROOT_RESOLVERS: list[Callable[[Config, int], str | None]] = []
"""``fn(cfg, rank)`` per task that fills its datasets' ``data_root`` (generating synthetic data where the config
asks) and returns the banner to log; task modules append theirs (COCO: `visionzoo.engine.detection_data`)."""

BRATS_DATASET_TYPES = ("BratsSegDataset",)
"""Dataset types that receive the config's top-level ``data_root`` and ``fold`` when their dict omits them."""

_LOADERS = ("train_dataloader", "val_dataloader", "test_dataloader")
_STRIP_DDP = [(r"^module\.", "")]  # DDP's prefix, stripped from checkpoint keys as mmengine does by default


@RUNNERS.register_module()
class VisionzooRunner(Runner):
    """mmengine ``Runner`` that writes checkpoints atomically and always carries `ResumeStateHook`.

    A config's ``model`` may be a `visionzoo.create_model` dict (``dict(name="swin_unetr", ...)``, no
    ``type``): it then becomes the ``net`` of the config's task wrapper: ``classifier`` (default type
    ``ImageClassifier``), ``detector`` (``Detector``) or, by default, ``segmenter`` (``VolumeSegmenter``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not any(isinstance(h, ResumeStateHook) for h in self.hooks):
            self.register_hook(ResumeStateHook())

    def build_model(self, model: Any):
        if isinstance(model, dict) and "type" not in model:
            key, default = task_wrapper(self.cfg)
            wrapper = dict(self.cfg.get(key) or {})
            wrapper.setdefault("type", default)
            model = dict(wrapper, net=dict(model))
        return super().build_model(model)

    def load_checkpoint(self, filename: str, map_location: Any = "cpu", strict: bool = True,
                        revise_keys: list | None = None) -> dict:
        """Load a local file without executing pickled code, strictly by default (mismatches list the keys).

        Training checkpoints (ours) go through mmengine's hooks and key revision as in ``Runner.load_checkpoint``;
        any other file (a bare network state dict, safetensors, an official release in its publisher's layout)
        goes through visionzoo's converters into the wrapped network, as ``create_model(checkpoint_path=)`` does.
        The weights-only loading is scoped to this runner: mmengine's global loader stays as it is for every
        other OpenMMLab model in the process. Remote URLs keep mmengine's own loaders.
        """
        if "://" in str(filename):
            return super().load_checkpoint(filename, map_location=map_location, strict=strict,
                                           revise_keys=_STRIP_DDP if revise_keys is None else revise_keys)
        from mmengine.model import is_model_wrapper
        from mmengine.runner.checkpoint import _load_checkpoint_to_model

        from visionzoo.weights.checkpoint import is_training_checkpoint, load_checkpoint, read_checkpoint

        checkpoint, _ = read_checkpoint(filename)  # weights_only (or safetensors): never runs code
        model = self.model.module if is_model_wrapper(self.model) else self.model
        if not is_training_checkpoint(checkpoint) and isinstance(getattr(model, "net", None), torch.nn.Module):
            load_checkpoint(model.net, filename)
            self.logger.info(f"loaded the network weights of {filename} (converted to {type(model.net).__name__})")
            checkpoint = {"meta": {}, "state_dict": model.state_dict()}
            self.call_hook("after_load_checkpoint", checkpoint=checkpoint)  # e.g. EMAHook copies the weights
            return checkpoint
        if map_location not in (None, "cpu"):
            checkpoint = _map_tensors(checkpoint, map_location)
        self.call_hook("after_load_checkpoint", checkpoint=checkpoint)
        checkpoint = _load_checkpoint_to_model(model, checkpoint, strict,
                                               revise_keys=_STRIP_DDP if revise_keys is None else revise_keys)
        self._has_loaded = True
        self.logger.info(f"Load checkpoint from {filename}")
        return checkpoint

    @master_only
    def save_checkpoint(self, out_dir: str, filename: str, *args: Any, **kwargs: Any) -> None:
        """mmengine's checkpoint, written to a temporary file and renamed over ``out_dir/filename`` (local paths)."""
        if "://" in str(out_dir):  # object stores have no rename; mmengine writes those directly
            return super().save_checkpoint(out_dir, filename, *args, **kwargs)
        with atomic_write(osp.join(out_dir, filename)) as tmp:
            super().save_checkpoint(str(tmp.parent), tmp.name, *args, **kwargs)


def _map_tensors(obj: Any, map_location: Any) -> Any:
    """`obj` with every tensor moved as ``torch.load(map_location=...)`` would (a device, string or callable)."""
    if isinstance(obj, torch.Tensor):
        return map_location(obj, "cpu") if callable(map_location) else obj.to(map_location)
    if isinstance(obj, dict):
        return type(obj)((k, _map_tensors(v, map_location)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)) and not hasattr(obj, "_fields"):
        return type(obj)(_map_tensors(v, map_location) for v in obj)
    return obj


_TASK_WRAPPERS = (("classifier", "ImageClassifier"), ("detector", "Detector"), ("segmenter", "VolumeSegmenter"))


def task_wrapper(cfg: Config) -> tuple[str, str]:
    """(config key, default mmengine model type) of the task a config trains: classifier, detector or segmenter."""
    return next(((k, t) for k, t in _TASK_WRAPPERS if cfg.get(k) is not None), _TASK_WRAPPERS[-1])


def set_inference_precision(cfg: Config, precision: str | None) -> None:
    """Put `precision` (``fp32``/``bf16``/``fp16``/``auto``; None keeps the config's) into the config's task wrapper."""
    if precision is not None:
        key, _ = task_wrapper(cfg)
        cfg[key] = {**(cfg.get(key) or {}), "precision": check_precision(precision)}


def _datasets(cfg: Config):
    for key in _LOADERS:
        loader = cfg.get(key)
        if isinstance(loader, dict) and isinstance(loader.get("dataset"), dict):
            yield loader["dataset"]


def resolve_data_root(cfg: Config, rank: int = 0) -> str | None:
    """Give BraTS datasets the config's ``data_root``/``fold``; generate the synthetic set if ``data_root`` is None.

    Returns the synthetic-data banner to log, or None for real data.
    """
    brats = [d for d in _datasets(cfg) if d.get("type") in BRATS_DATASET_TYPES]
    if not brats:
        return None
    banner = data_root_or_synthetic(
        cfg, brats, spec_key="synthetic_data", folder="synthetic_brats", what="BraTS",
        real_hint="/path/to/BraTS2021_Training_Data", tool="make_synthetic_brats.py", generate=ensure_synthetic_brats,
        banner=synthetic_banner, rank=rank)
    for d in brats:
        d.setdefault("fold", cfg.get("fold", 0))
    return banner


DATA_ROOT_RESOLVERS += [resolve_data_root, resolve_cls_data]


def _use_amp(cfg: Config) -> None:
    """fp16 autocast with dynamic loss scaling on CUDA (mmengine's AmpOptimWrapper); bf16 autocast on CPU."""
    wrapper = cfg.optim_wrapper
    if torch.cuda.is_available():
        wrapper.type = "AmpOptimWrapper"
        wrapper.setdefault("loss_scale", "dynamic")
    else:
        wrapper.type = "Bf16OptimWrapper"


def build_runner(
    cfg: Config,
    *,
    work_dir: str | None = None,
    resume: bool | str = False,
    amp: bool = False,
    launcher: str = "none",
    seed: int | None = None,
    deterministic: bool | None = None,
) -> VisionzooRunner:
    """A `VisionzooRunner` for `cfg` with the command-line choices applied (see the module docstring).

    `resume`: False, True/"auto" (the work dir's ``last_checkpoint``) or a checkpoint path.
    """
    check_config_types(cfg, task_wrapper(cfg)[1])  # a task whose extra is missing fails before any writing
    stem = Path(cfg.filename).stem if cfg.filename else "run"
    cfg.work_dir = str(work_dir or cfg.get("work_dir") or osp.join("work_dirs", stem))
    cfg.launcher = launcher
    randomness = dict(cfg.get("randomness") or {})
    if seed is not None:
        randomness["seed"] = int(seed)
    if deterministic is not None:
        randomness["deterministic"] = bool(deterministic)
    if randomness.get("deterministic"):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS determinism, required by torch on GPU
    cfg.randomness = randomness
    if resume:
        cfg.resume = True
        cfg.load_from = None if resume in (True, "auto") else str(resume)
    if amp:
        _use_amp(cfg)

    env_cfg = cfg.get("env_cfg") or {}
    dist_cfg = dict(env_cfg.get("dist_cfg") or {})
    rank, world_size = init_distributed(launcher, dist_cfg.get("backend"), dist_cfg.get("timeout"))
    threads, why = configure_threads(env_cfg.get("torch_threads"), local_world_size() if world_size > 1 else 1)
    malloc_tuned = keep_freed_memory() if env_cfg.get("keep_freed_memory", True) else False
    if world_size > 1 and not torch.cuda.is_available():
        wrapper_cfg = dict(cfg.get("model_wrapper_cfg") or {"type": "MMDistributedDataParallel", "broadcast_buffers": False})
        wrapper_cfg.setdefault("device_ids", None)  # mmengine would pass [LOCAL_RANK], a CUDA device
        cfg.model_wrapper_cfg = wrapper_cfg
    banner = next(filter(None, [resolve(cfg, rank) for resolve in DATA_ROOT_RESOLVERS]), None)

    runner = VisionzooRunner.from_cfg(cfg)
    runner.logger.info(f"torch threads per process: {threads} ({why}); rank {rank} of {world_size}; freed memory "
                       f"{'kept in the process (glibc malloc thresholds raised)' if malloc_tuned else 'left to malloc'}")
    if banner:
        runner.logger.warning(banner)
    return runner
