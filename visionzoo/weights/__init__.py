"""Weights machinery: tag entries (data), the converter registry, safe checkpoint reading, download + cache.

No model family lives here: each family module (`visionzoo/backbones/<family>.py`, `visionzoo/models/<family>.py`)
registers its own weight tags and converters; this package never imports backbones, heads or models.
"""
from .checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_state_dict_strict,
    prepare_state_dict,
    read_checkpoint,
    unwrap_state_dict,
)
from .converters import convert_state_dict, converters_for, detect_source, register_converter, register_detector
from .entry import WeightEntry, timm_hub_entry
from .hub import (
    WeightsNotFoundError,
    cache_dir,
    cached_weight_path,
    download_url,
    extract_archive_member,
    hf_cache_dir,
    resolve_weight_file,
    sha256_file,
)

__all__ = [
    "CheckpointError",
    "WeightEntry",
    "WeightsNotFoundError",
    "cache_dir",
    "cached_weight_path",
    "convert_state_dict",
    "converters_for",
    "detect_source",
    "download_url",
    "extract_archive_member",
    "hf_cache_dir",
    "load_checkpoint",
    "load_state_dict_strict",
    "prepare_state_dict",
    "read_checkpoint",
    "register_converter",
    "register_detector",
    "resolve_weight_file",
    "sha256_file",
    "timm_hub_entry",
    "unwrap_state_dict",
]
