"""Read one BraTS case into tensors (checked) and write a predicted label map back as NIfTI.

Volumes keep MONAI's axis convention: channel first, then the NIfTI's own voxel axes (i, j, k), so a
real BraTS case loads as ``(4, 240, 240, 155)`` and its affine maps those indices to scanner mm.
Nothing is resampled or reoriented, which is why a prediction can be saved with the original affine.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from monai.data import MetaTensor, NibabelReader
from monai.transforms import LoadImage

from .cases import BratsCase
from .formats import CHANNELS, DataFormatError, get_format
from .labels import regions_to_labels, unexpected_labels

__all__ = ["load_case", "save_prediction_nifti"]

_logger = logging.getLogger(__name__)
_warned_2024 = False


def _shape(path: Path) -> tuple[int, ...]:
    shape = tuple(int(s) for s in nib.load(str(path)).shape)
    return shape[:3] if len(shape) == 4 and shape[3] == 1 else shape


def _check_shapes(case: BratsCase) -> tuple[int, ...]:
    shapes = {p: _shape(p) for p in (*case.images, *([case.label] if case.label else []))}
    if case.channels is not None:  # one 4D file
        image_shape = shapes[case.images[0]]
        if len(image_shape) != 4 or image_shape[3] <= max(case.channels):
            raise DataFormatError(
                f"case {case.case_id}: {case.images[0]} has shape {image_shape}; a {case.format} image must be 4D "
                f"(X, Y, Z, 4) with channels FLAIR, T1w, T1gd, T2w. Fix or remove the file."
            )
        spatial = image_shape[:3]
        if case.label is not None and shapes[case.label] != spatial:
            raise DataFormatError(
                f"case {case.case_id}: shapes differ: image {case.images[0].name} {image_shape}, label "
                f"{case.label.name} {shapes[case.label]}; they must share (X, Y, Z). Re-export or remove the case."
            )
        return spatial
    distinct = set(shapes.values())
    if len(distinct) != 1 or len(next(iter(distinct))) != 3:
        listing = ", ".join(f"{p.name} {s}" for p, s in shapes.items())
        raise DataFormatError(
            f"case {case.case_id}: its files must be 3D volumes of one shape, got {listing}. "
            f"Re-export or remove the case folder {str(case.images[0].parent)!r}."
        )
    return distinct.pop()


def _check_finite(case: BratsCase, data: torch.Tensor, what: list[str], files: list[Path]) -> None:
    bad = ~torch.isfinite(data.reshape(data.shape[0], -1))
    for c in torch.nonzero(bad.any(1)).flatten().tolist():
        raise DataFormatError(
            f"case {case.case_id}: {int(bad[c].sum())} NaN/Inf voxel(s) in {what[c]} ({files[c]}). "
            f"Repair the file (e.g. replace them with 0) or remove the case."
        )


def load_case(case: BratsCase, reader: NibabelReader | None = None) -> dict:
    """Load and check one case: ``image`` (4, X, Y, Z) in CHANNELS order, integer ``label`` (1, X, Y, Z).

    Also returns ``case_id``, ``format`` (a 2023-named case read under "auto" becomes ``brats2024`` if it
    holds label 4), ``affine`` (4x4 float64, the NIfTI's) and ``spatial_shape``. Raises `DataFormatError`
    naming the case and file for mismatched shapes, NaN/Inf voxels and labels outside the format.
    """
    load = LoadImage(reader=reader or NibabelReader(), image_only=True, dtype=np.float32)
    spatial = _check_shapes(case)
    if case.channels is None:
        volumes = [load(str(p)) for p in case.images]
        first = volumes[0]
        data = torch.stack([v.as_tensor().reshape(spatial) for v in volumes])
        files = list(case.images)
    else:
        first = load(str(case.images[0]))
        data = torch.movedim(first.as_tensor(), -1, 0)[list(case.channels)]
        files = [case.images[0]] * len(CHANNELS)
    names = [f"{c.upper()}" for c in CHANNELS]
    _check_finite(case, data, names, files)
    affine = torch.as_tensor(np.asarray(first.meta["original_affine"]), dtype=torch.float64)
    meta = {k: v for k, v in first.meta.items() if k not in ("dim", "original_channel_dim")}
    sample = {
        "image": MetaTensor(data.contiguous(), meta=meta),
        "case_id": case.case_id,
        "format": case.format,
        "affine": affine,
        "spatial_shape": torch.tensor(spatial, dtype=torch.long),
    }
    if case.label is not None:
        label = load(str(case.label))
        sample["label"] = MetaTensor(label.as_tensor().reshape(1, *spatial), meta=dict(label.meta))
        _check_finite(case, sample["label"].as_tensor(), ["the segmentation"], [case.label])
        sample["format"] = _check_labels(case, sample["label"].as_tensor())
    return sample


def _check_labels(case: BratsCase, label: torch.Tensor) -> str:
    global _warned_2024
    bad = unexpected_labels(label, case.format)
    if case.format_guessed and case.format == "brats2023" and bad == [4.0]:
        log = _logger.debug if _warned_2024 else _logger.warning
        log(
            "case %s has label 4, which BraTS 2023 does not use: reading it as BraTS 2024 post-treatment "
            "(4 = resection cavity, excluded from TC/WT/ET). Pass format='brats2024' or 'brats2023' to decide "
            "explicitly (warned once).", case.case_id,
        )
        _warned_2024 = True
        return "brats2024"
    if bad:
        fmt = get_format(case.format)
        shown = ", ".join(f"{v:g}" for v in bad)
        raise DataFormatError(
            f"case {case.case_id}: label value(s) {shown} in {case.label} are not labels of format {fmt.name} "
            f"(allowed {sorted(fmt.allowed_labels)}). Pass the right format= or repair the segmentation."
        )
    return case.format


def _reference(affine) -> tuple[np.ndarray, nib.Nifti1Header | None]:
    if isinstance(affine, (str, Path)):
        ref = nib.load(str(affine))
        return ref.affine, ref.header
    if isinstance(affine, Mapping):
        for key in ("original_affine", "affine"):
            if key in affine:
                return _reference(affine[key])
        raise KeyError(f"save_prediction_nifti: meta has no 'affine' or 'original_affine' (keys: {sorted(affine)}).")
    if isinstance(affine, torch.Tensor):
        affine = affine.detach().cpu().numpy()
    affine = np.asarray(affine, dtype=np.float64)
    if affine.shape != (4, 4):
        raise ValueError(f"save_prediction_nifti: expected a 4x4 affine, got shape {affine.shape} (one sample, not a batch).")
    return affine, None


def save_prediction_nifti(
    labels: np.ndarray | torch.Tensor,
    affine: np.ndarray | torch.Tensor | Mapping | str | Path,
    path: str | Path,
    format: str | None = None,
) -> Path:
    """Write a label map ``(X, Y, Z)`` (or regions ``(3, X, Y, Z)`` with `format`) as uint8 NIfTI.

    `affine` is the 4x4 affine, a sample/meta dict holding ``affine``, or the path of the case's original
    NIfTI (its header is then copied too), so the file overlays the input in any viewer.
    """
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    labels = np.asarray(labels)
    if labels.ndim == 4 and labels.shape[0] == 3:
        if format is None:
            raise ValueError("save_prediction_nifti got 3 region channels (TC, WT, ET); pass format= to map them to labels.")
        labels = regions_to_labels(labels, format)
    elif labels.ndim == 4 and labels.shape[0] == 1:
        labels = labels[0]
    if labels.ndim != 3:
        raise ValueError(f"save_prediction_nifti expects (X, Y, Z) labels or (3, X, Y, Z) regions, got {labels.shape}.")
    matrix, header = _reference(affine)
    img = nib.Nifti1Image(np.rint(labels).astype(np.uint8), matrix, header=header.copy() if header is not None else None)
    img.set_data_dtype(np.uint8)
    img.set_qform(matrix, code=1)
    img.set_sform(matrix, code=1)
    img.header.set_xyzt_units("mm")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, str(path))
    return path
