"""PNG overlay montages of BraTS predictions: axial FLAIR slices with WT / TC / ET contours."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

__all__ = ["overlay_montage", "save_overlay_png", "REGION_COLOURS"]

REGION_COLOURS = {"WT": (0, 200, 0), "TC": (230, 40, 40), "ET": (255, 220, 0)}
"""RGB contour colour per region (drawn WT, then TC, then ET on top); channel order of masks is TC, WT, ET."""
_CHANNEL = {"TC": 0, "WT": 1, "ET": 2}


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    """Scale intensities to 0-255 between the 1st and 99th percentile of the non-zero voxels; background stays black."""
    nz = image[image != 0]
    lo, hi = (np.percentile(nz, (1, 99)) if nz.size else (0.0, 1.0))
    out = (np.clip((image - lo) / max(hi - lo, 1e-6), 0, 1) * 255).astype(np.uint8)
    out[image == 0] = 0
    return out


def _pick_slices(masks: list[np.ndarray], depth: int, n: int) -> list[int]:
    """`n` axial slices spread over where any mask is non-empty (over the whole depth if all are empty)."""
    occupied = np.zeros(depth, dtype=bool)
    for m in masks:
        occupied |= m.reshape(-1, depth).any(0)
    z = np.flatnonzero(occupied)
    lo, hi = (z[0], z[-1]) if z.size else (0, depth - 1)
    return sorted({int(round(v)) for v in np.linspace(lo, hi, n + 2)[1:-1]}) or [depth // 2]


def _panel(flair: np.ndarray, regions: np.ndarray | None, z: int, scale: int, title: str) -> np.ndarray:
    plane = np.ascontiguousarray(flair[:, :, z].T)  # rows = second array axis, columns = first
    rgb = cv2.cvtColor(_to_uint8(plane), cv2.COLOR_GRAY2RGB)
    rgb = cv2.resize(rgb, (rgb.shape[1] * scale, rgb.shape[0] * scale), interpolation=cv2.INTER_NEAREST)
    if regions is not None:
        for name in ("WT", "TC", "ET"):
            mask = np.ascontiguousarray(regions[_CHANNEL[name], :, :, z].T).astype(np.uint8)
            mask = cv2.resize(mask, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_NEAREST)
            contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            cv2.drawContours(rgb, contours, -1, REGION_COLOURS[name], max(1, scale // 2))
    cv2.putText(rgb, title, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return rgb


def overlay_montage(flair, pred, label=None, n_slices: int = 4, min_size: int = 160) -> np.ndarray:
    """RGB uint8 montage: a row of axial FLAIR slices with predicted contours, and one with the label's if given.

    `flair` is (X, Y, Z); `pred`/`label` are (3, X, Y, Z) TC/WT/ET masks. Slices are in array order (not
    reoriented), upscaled so the short side is at least `min_size` pixels.
    """
    flair, pred = _np(flair).astype(np.float32), _np(pred) > 0.5
    label = None if label is None else _np(label) > 0.5
    if flair.ndim != 3 or pred.shape != (3, *flair.shape):
        raise ValueError(f"overlay_montage expects flair (X, Y, Z) and masks (3, X, Y, Z), got {flair.shape}, {pred.shape}.")
    scale = max(1, -(-min_size // min(flair.shape[:2])))
    masks = [pred[1]] + ([label[1]] if label is not None else [])
    slices = _pick_slices(masks, flair.shape[2], n_slices)
    rows = [np.hstack([_panel(flair, pred, z, scale, f"pred z={z}") for z in slices])]
    if label is not None:
        rows.append(np.hstack([_panel(flair, label, z, scale, f"label z={z}") for z in slices]))
    return np.vstack(rows)


def save_overlay_png(path: str | Path, flair, pred, label=None, n_slices: int = 4) -> Path:
    """Write `overlay_montage` as a PNG at `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    montage = overlay_montage(flair, pred, label, n_slices)
    if not cv2.imwrite(str(path), cv2.cvtColor(montage, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path} (is the folder writable?)")
    return path
