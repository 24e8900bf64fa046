"""Neutral helpers at the bottom of the layering (importable from everywhere, importing nothing of visionzoo above)."""
from .files import (
    SAFE_GLOBALS,
    UnsafeCheckpointError,
    atomic_symlink,
    atomic_write,
    atomic_write_bytes,
    atomic_write_text,
    is_temp_path,
    publish_file,
    safe_torch_load,
    temp_path_for,
)
from .extras import EXTRAS, MissingDependencyError, lazy_exports, missing_dependency, require
from .memory import keep_freed_memory, trim_heap
from .precision import PRECISIONS, autocast, check_precision, outputs_to_fp32

__all__ = [
    "PRECISIONS",
    "autocast",
    "check_precision",
    "outputs_to_fp32",
    "EXTRAS",
    "MissingDependencyError",
    "lazy_exports",
    "missing_dependency",
    "require",
    "SAFE_GLOBALS",
    "UnsafeCheckpointError",
    "atomic_symlink",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "is_temp_path",
    "keep_freed_memory", "trim_heap",
    "publish_file",
    "safe_torch_load",
    "temp_path_for",
]
