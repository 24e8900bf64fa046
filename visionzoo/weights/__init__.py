"""Weights: tag entries (data), safe checkpoint reading, converters from publishers' layouts, download + cache."""
from .checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_state_dict_strict,
    prepare_state_dict,
    read_checkpoint,
    unwrap_state_dict,
)
from .entry import WeightEntry
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
    "download_url",
    "extract_archive_member",
    "hf_cache_dir",
    "load_checkpoint",
    "load_state_dict_strict",
    "prepare_state_dict",
    "read_checkpoint",
    "resolve_weight_file",
    "sha256_file",
    "unwrap_state_dict",
]
