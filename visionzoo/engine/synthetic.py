"""The synthetic-data default of ``*_synthetic`` configs: generate once into the work dir, and say so loudly."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mmengine.dist import barrier
from mmengine.logging import print_log

__all__ = ["ensure_synthetic_brats", "synthetic_banner", "data_root_or_synthetic"]

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


def data_root_or_synthetic(cfg: Any, datasets: list[dict], *, spec_key: str, folder: str, what: str, real_hint: str,
                           tool: str, generate: Callable[[Path, dict], bool],
                           banner: Callable[[Path, dict, bool], str], rank: int = 0) -> str | None:
    """Give `datasets` the config's ``data_root``; where it is None, generate the config's ``spec_key`` synthetic set.

    With no data_root and no synthetic default, a FileNotFoundError says what to pass (`real_hint`: the real data's
    layout) and which `tool` makes a synthetic set. The set goes to ``work_dir/folder``, made by rank 0 only
    (`generate(out, spec)` returns whether it wrote a new one). Returns the synthetic banner, or None for real data.
    """
    text = None
    if cfg.get("data_root") is None and any("data_root" not in d for d in datasets):
        spec = cfg.get(spec_key)
        if not spec:
            raise FileNotFoundError(
                f"the config sets no data_root: pass --cfg-options data_root={real_hint}, or make a synthetic set with "
                f"python tools/{tool} DIR and pass data_root=DIR."
            )
        out = Path(cfg.work_dir) / folder
        print_log(f"data_root is not set: preparing SYNTHETIC {what} data in {out}", logger="current")
        generated = generate(out, dict(spec)) if rank == 0 else False
        barrier()
        cfg.data_root = str(out)
        text = banner(out, dict(spec), generated)
    for d in datasets:
        d.setdefault("data_root", cfg.get("data_root"))
    return text


def ensure_synthetic_brats(out: str | Path, spec: dict[str, Any]) -> bool:
    """Make `out` hold the synthetic BraTS set described by `spec` (``write_synthetic_brats`` arguments).

    Reuses a set generated earlier with the same settings; returns True if it wrote a new one.
    """
    from visionzoo.data import write_synthetic_brats  # [medical]: nibabel, scipy

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
