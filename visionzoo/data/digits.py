"""scikit-learn's bundled handwritten digits written as an ImageFolder: a real, offline classification set.

``sklearn.datasets.load_digits`` ships 1,797 real 8x8 scans of handwritten digits (10 classes, values
0..16) inside the package, so demos and tests get real images without a download. `write_digits_folder`
writes them as ``OUT/{train,val}/<digit>/<i>.png`` (``i`` = the index in scikit-learn's array): greyscale
uint8 PNGs (0..16 scaled to 0..255) upsampled with bicubic interpolation, which keeps the strokes smooth
and legible (nearest would give 4x4-pixel blocks at 32 px), split by a fixed stratified
``train_test_split``. The folder is written under a temporary name and renamed into place with a
``.complete`` marker, so a half-written folder is never taken for a finished one; a finished folder is
left as it is.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from ..utils.files import atomic_write

__all__ = ["DIGITS_MARKER", "write_digits_folder"]

DIGITS_MARKER = ".complete"
"""File written last into a finished digits folder: the parameters and counts, as JSON."""


def _counts(labels: np.ndarray) -> dict[str, int]:
    c = Counter(int(v) for v in labels)
    return {str(k): c[k] for k in range(10)}


def _check_args(size: int, val_fraction: float, seed: int) -> None:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive number of pixels (e.g. 32), got {size!r}.")
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)) or not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1 (exclusive), e.g. 0.2, got {val_fraction!r}.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")


def _read_marker(out: Path) -> dict[str, Any] | None:
    marker = out / DIGITS_MARKER
    if not marker.is_file():
        return None
    try:
        return json.loads(marker.read_text())
    except ValueError:
        return None


def _existing(out: Path, params: dict[str, Any]) -> dict[str, Any] | None:
    """The counts of a finished folder written with `params`; None where `out` is absent or an empty folder."""
    if out.is_file():
        raise FileExistsError(f"{str(out)!r} is a file, not a folder: choose another output folder.")
    if not out.is_dir() or not any(out.iterdir()):
        return None
    info = _read_marker(out)
    if info is None:
        raise FileExistsError(f"{str(out)!r} exists but is not a finished digits folder (no {DIGITS_MARKER} marker): "
                              "delete it or choose another output folder.")
    if info.get("params") != params:
        raise ValueError(f"{str(out)!r} holds digits written with {info.get('params')}, not {params}: delete it or "
                         "choose another output folder.")
    return {**info["counts"], "out": str(out), "written": False}


def write_digits_folder(out: str | os.PathLike, size: int = 32, val_fraction: float = 0.2,
                        seed: int = 0) -> dict[str, Any]:
    """Write the digits as ``out/{train,val}/<digit>/<i>.png`` unless already there; returns the counts.

    The result: ``{"out", "written" (False when a finished folder was found), "classes" (10), "train",
    "val" (image counts), "train_per_class", "val_per_class" ({"0": n, ...}), "size", "val_fraction", "seed"}``.
    """
    _check_args(size, val_fraction, seed)
    out = Path(out)
    params = {"size": int(size), "val_fraction": float(val_fraction), "seed": int(seed)}
    done = _existing(out, params)
    if done is not None:
        return done
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise ImportError("the digits folder needs scikit-learn: pip install scikit-learn") from None
    from PIL import Image

    digits = load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    target = digits.target.astype(np.int64)
    index = np.arange(len(target))
    try:
        train_idx, val_idx = train_test_split(index, test_size=float(val_fraction), stratify=target,
                                              random_state=int(seed))
    except ValueError as e:
        raise ValueError(f"val_fraction={val_fraction} cannot split {len(target)} images of 10 classes with every "
                         f"class in both splits ({e}).") from None
    counts = {
        "classes": 10, "train": len(train_idx), "val": len(val_idx),
        "train_per_class": _counts(target[train_idx]), "val_per_class": _counts(target[val_idx]), **params,
    }

    try:
        with atomic_write(out) as tmp:  # the whole folder appears at once, or not at all
            tmp.mkdir()  # (not mkdtemp: its 0700 mode would stick to the finished folder)
            for split, idx in (("train", train_idx), ("val", val_idx)):
                for k in range(10):
                    (tmp / split / str(k)).mkdir(parents=True)
                for i in sorted(int(v) for v in idx):
                    img = Image.fromarray(images[i])
                    if size != 8:
                        img = img.resize((int(size), int(size)), Image.Resampling.BICUBIC)
                    img.save(tmp / split / str(int(target[i])) / f"{i}.png")
            (tmp / DIGITS_MARKER).write_text(json.dumps({"params": params, "counts": counts}, indent=1))
            if out.is_dir():
                out.rmdir()  # an empty folder (checked above); a non-empty one means a concurrent writer finished
    except OSError:
        done = _existing(out, params) if out.exists() else None
        if done is not None:  # another process finished the same folder first
            return done
        raise
    return {**counts, "out": str(out), "written": True}
