"""Optional dependencies: which ``pip install "visionzoo[EXTRA]"`` brings a module, the clear error when it is
missing, and lazy package exports so that a package imports a task's libraries only when that task is used.

    require("monai", "nibabel")                 # MissingDependencyError naming [medical] if either is absent
    __getattr__, __dir__ = lazy_exports(__name__, {"BratsDataset": ".brats", ...})
"""
from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["EXTRAS", "MissingDependencyError", "missing_dependency", "require", "lazy_exports"]

EXTRAS: dict[str, str] = {
    "mmengine": "train", "tensorboard": "train", "sklearn": "train", "cv2": "train", "matplotlib": "train",
    "monai": "medical", "nibabel": "medical", "scipy": "medical",
    "pycocotools": "detection", "albumentations": "detection", "albucore": "detection",
    "onnx": "export", "onnxscript": "export", "onnxruntime": "export", "onnx_ir": "export",
}
"""Top-level module -> the extra that installs it (scipy is in [medical] and [detection]; the first is named)."""

_DISTRIBUTIONS = {"sklearn": "scikit-learn", "cv2": "opencv-python-headless", "mmengine": "mmengine-lite"}
"""Top-level module -> its pip distribution where the names differ."""


class MissingDependencyError(ModuleNotFoundError):
    """An optional dependency is not installed; the message names the extra that brings it."""


def _missing_module(error: BaseException | None) -> ModuleNotFoundError | None:
    """The ``ModuleNotFoundError`` of an optional dependency behind `error`: itself or a cause (the ONNX exporter
    wraps onnxscript's into its own error)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, ModuleNotFoundError) and (error.name or "").split(".")[0] in EXTRAS:
            return error
        error = error.__cause__ or error.__context__
    return None


def missing_dependency(error: BaseException, purpose: str | None = None) -> MissingDependencyError | None:
    """The clear error for a missing optional dependency behind `error` (None for any other error).

    `purpose` starts the message (``"BraTS data"``; default ``"this"``); given for an error that is already a
    `MissingDependencyError`, it rewords that error for the caller's context.
    """
    if isinstance(error, MissingDependencyError) and (purpose is None or error.name not in EXTRAS):
        return error
    found = error if isinstance(error, MissingDependencyError) else _missing_module(error)
    if found is None:
        return None
    top = (found.name or "").split(".")[0]
    extra = EXTRAS[top]
    return MissingDependencyError(
        f"{purpose or 'this'} needs {_DISTRIBUTIONS.get(top, top)}, which is not installed: "
        f"pip install \"visionzoo[{extra}]\" (or \"visionzoo[all]\" for every optional dependency)", name=top)


def require(*modules: str, purpose: str | None = None) -> None:
    """Import `modules` now, or raise the `MissingDependencyError` naming the extra that installs them."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as e:
            raise (missing_dependency(e, purpose) or e) from e


def lazy_exports(package: str, exports: Mapping[str, str],
                 purposes: Mapping[str, str] | None = None) -> tuple[Callable[[str], Any], Callable[[], Iterable[str]]]:
    """``(__getattr__, __dir__)`` for `package` that import ``exports[name]`` (a relative module) on first access.

    A submodule whose optional dependency is missing raises `MissingDependencyError` naming the extra;
    `purposes` maps a submodule to the words that open that message (``".brats": "BraTS data"``).
    """
    purposes = dict(purposes or {})

    def __getattr__(name: str) -> Any:
        module_name = exports.get(name)
        if module_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        try:
            module = importlib.import_module(module_name, package)
        except ModuleNotFoundError as e:
            raise (missing_dependency(e, purposes.get(module_name, f"{package}.{name}")) or e) from e
        value = getattr(module, name)
        setattr(sys.modules[package], name, value)  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *exports})

    return __getattr__, __dir__
