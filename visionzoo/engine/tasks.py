"""Tasks whose libraries are optional extras: import them if installed, and explain a config needing one that is not.

Image classification needs only ``visionzoo[train]``; BraTS segmentation adds ``[medical]`` (MONAI, nibabel) and
COCO detection ``[detection]`` (albumentations, pycocotools). `import_tasks` registers every task it can;
`check_config_types` turns a config type that is unregistered because its task could not be imported into the
`MissingDependencyError` naming the extra, before mmengine would report an unknown type.
"""
from __future__ import annotations

import importlib
from typing import Any

from visionzoo.utils.extras import MissingDependencyError, missing_dependency

from . import registry
from .config import config_types

__all__ = ["TASK_MODULES", "UNAVAILABLE_TASKS", "import_tasks", "check_config_types"]

TASK_MODULES: dict[str, tuple[str, ...]] = {
    "medical": (".datasets", ".losses", ".metrics", ".models", ".predictions"),
    "detection": (".coco_metric", ".detection_data", ".detection"),
}
"""Task -> the `visionzoo.engine` modules that register its parts (and import its optional libraries)."""

_PURPOSES = {"medical": "BraTS segmentation (the medical task)", "detection": "COCO detection (the detection task)"}
_MODEL_TASKS = {"VolumeSegmenter": "medical", "Detector": "detection"}
"""Task wrapper type -> its task, to name the one extra a config needs."""

UNAVAILABLE_TASKS: dict[str, MissingDependencyError] = {}
"""Task -> why it could not be imported (filled by `import_tasks`)."""


def import_tasks() -> dict[str, MissingDependencyError]:
    """Import every task's modules; a task whose optional library is missing is recorded, anything else raises."""
    for task, modules in TASK_MODULES.items():
        try:
            for module in modules:
                importlib.import_module(module, __package__)
        except ModuleNotFoundError as e:
            error = missing_dependency(e, _PURPOSES[task])
            if error is None:
                raise
            UNAVAILABLE_TASKS[task] = error
    return UNAVAILABLE_TASKS


def _registered(name: str) -> bool:
    name = name.split("::")[-1]
    return any(getattr(registry, r).get(name) is not None for r in registry.__all__ if r != "SCOPE")


def check_config_types(cfg: Any, model_type: str | None = None) -> None:
    """Raise the `MissingDependencyError` of an unavailable task if the config's task wrapper (`model_type`) or
    any type `cfg` names belongs to it. Unknown types while every task is available are left to mmengine.
    """
    task = _MODEL_TASKS.get(model_type or "")
    if task in UNAVAILABLE_TASKS:
        raise UNAVAILABLE_TASKS[task]
    if not UNAVAILABLE_TASKS:
        return
    unknown = sorted(t for t in config_types(cfg) if not _registered(t))
    if unknown:
        reasons = "; ".join(str(e) for e in UNAVAILABLE_TASKS.values())
        raise MissingDependencyError(f"this config's {', '.join(unknown)} is not registered, maybe because: {reasons}")
