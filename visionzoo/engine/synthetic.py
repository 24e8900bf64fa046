"""The synthetic-data default of ``*_synthetic`` configs: generate once into the work dir, and say so loudly."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from visionzoo.data import write_synthetic_brats

__all__ = ["ensure_synthetic_brats", "synthetic_banner"]

_INFO = "synthetic_info.json"


def _expected(spec: dict[str, Any]) -> dict[str, Any]:
    size = int(spec.get("size", 96))
    depth = spec.get("depth")
    return {
        "n_cases": int(spec.get("n_cases", 12)), "size": size,
        "depth": int(round(0.65 * size)) if depth is None else int(depth), "seed": int(spec.get("seed", 0)),
        "format": str(spec.get("format", "brats2021")), "n_folds": int(spec.get("n_folds", 5)),
    }


def _matches(out: Path, want: dict[str, Any]) -> bool:
    try:
        info = json.loads((out / _INFO).read_text())
    except (OSError, ValueError):
        return False
    return (info.get("format") == want["format"] and info.get("seed") == want["seed"]
            and info.get("shape") == [want["size"], want["size"], want["depth"]]
            and info.get("n_folds") == want["n_folds"] and len(info.get("cases", [])) == want["n_cases"])


def ensure_synthetic_brats(out: str | Path, spec: dict[str, Any]) -> bool:
    """Make `out` hold the synthetic BraTS set described by `spec` (``write_synthetic_brats`` arguments).

    Reuses a set generated earlier with the same settings; returns True if it wrote a new one.
    """
    out = Path(out)
    want = _expected(spec)
    if _matches(out, want):
        return False
    write_synthetic_brats(out, want["n_cases"], want["size"], depth=want["depth"], seed=want["seed"],
                          format=want["format"], n_folds=want["n_folds"], overwrite=out.exists())
    return True


def synthetic_banner(out: str | Path, spec: dict[str, Any], generated: bool) -> str:
    """The unmissable log message of a run on synthetic data."""
    w = _expected(spec)
    rule = "!" * 100
    what = "GENERATED" if generated else "REUSED"
    return (
        f"\n{rule}\n!!! SYNTHETIC DATA: data_root is not set, so this run uses {w['n_cases']} synthetic BraTS cases "
        f"({w['size']}x{w['size']}x{w['depth']} voxels, {w['format']}, seed {w['seed']}),\n!!! {what} in {out}.\n"
        f"!!! Scores on synthetic data say nothing about real BraTS. Train on real data with "
        f"--cfg-options data_root=/path/to/BraTS2021_Training_Data\n{rule}"
    )
