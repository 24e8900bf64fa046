"""Hand-built BraTS-family files for the data tests, named and ordered independently of visionzoo.data."""
from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np

SHAPE = (6, 5, 4)
AFFINE = np.array([[-1.5, 0, 0, 10.0], [0, -1.5, 0, 20.0], [0, 0, 2.0, -5.0], [0, 0, 0, 1]])
# Distinct constant per modality: the loaded channels must read FLAIR, T1ce, T1, T2 = 1, 2, 3, 4.
VALUES = {"FLAIR": 1.0, "T1ce": 2.0, "T1": 3.0, "T2": 4.0}
# File names of each modality, as the challenges name them.
NAMES = {
    "brats2021": {"FLAIR": "flair", "T1ce": "t1ce", "T1": "t1", "T2": "t2"},
    "brats2023": {"FLAIR": "t2f", "T1ce": "t1c", "T1": "t1n", "T2": "t2w"},
    "brats2024": {"FLAIR": "t2f", "T1ce": "t1c", "T1": "t1n", "T2": "t2w"},
}
DECATHLON_FILE_ORDER = ("FLAIR", "T1", "T1ce", "T2")  # Task01 channels: FLAIR, T1w, T1gd, T2w


def save(data: np.ndarray, path: Path, affine: np.ndarray = AFFINE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.asarray(data), affine), str(path))
    return path


def case_id(fmt: str, i: int) -> str:
    return {"brats2021": f"BraTS2021_{i:05d}", "brats2023": f"BraTS-GLI-{i:05d}-000",
            "brats2024": f"BraTS-GLI-{i:05d}-100", "decathlon": f"BRATS_{i:03d}"}[fmt]


def write_case(root: Path, fmt: str, i: int, seg: np.ndarray | None = None, images: dict | None = None,
               affine: np.ndarray = AFFINE) -> dict[str, Path]:
    """Write case i of `fmt` under root; images default to VALUES constants over the whole volume."""
    shape = seg.shape if seg is not None else SHAPE
    images = images or {m: np.full(shape, v, dtype=np.float32) for m, v in VALUES.items()}
    cid = case_id(fmt, i)
    if fmt == "decathlon":
        stack = np.stack([images[m] for m in DECATHLON_FILE_ORDER], axis=-1)
        paths = {"image": save(stack, root / "imagesTr" / f"{cid}.nii.gz", affine)}
        if seg is not None:
            paths["seg"] = save(seg.astype(np.uint8), root / "labelsTr" / f"{cid}.nii.gz", affine)
        return paths
    sep = "_" if fmt == "brats2021" else "-"
    paths = {m: save(images[m], root / cid / f"{cid}{sep}{NAMES[fmt][m]}.nii.gz", affine) for m in images}
    if seg is not None:
        paths["seg"] = save(seg.astype(np.uint8), root / cid / f"{cid}{sep}seg.nii.gz", affine)
    return paths


def write_dataset(root: Path, fmt: str, n: int = 3, seg: np.ndarray | None = None) -> Path:
    """n cases with the same segmentation (default: a few tumour voxels of every label of `fmt`)."""
    seg = known_seg(fmt)[0] if seg is None else seg
    for i in range(1, n + 1):
        write_case(root, fmt, i, seg)
    return root


def known_seg(fmt: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A segmentation with one or two voxels of each label of `fmt`, and the TC/WT/ET masks it must load as."""
    labels = {"brats2021": (1, 2, 4), "brats2023": (1, 2, 3), "brats2024": (1, 2, 3, 4), "decathlon": (1, 2, 3)}[fmt]
    seg = np.zeros(SHAPE, dtype=np.uint8)
    spots = {1: [(1, 1, 1)], 2: [(2, 1, 1), (2, 2, 2)], 3: [(3, 3, 1)], 4: [(4, 2, 3), (0, 4, 0)]}
    for lab in labels:
        for v in spots[lab]:
            seg[v] = lab
    def mask(*labs: int) -> np.ndarray:
        return np.isin(seg, labs)
    expected = {
        # Written out per format from the challenge definitions, not from visionzoo.data.
        "brats2021": {"TC": mask(1, 4), "WT": mask(1, 2, 4), "ET": mask(4)},
        "brats2023": {"TC": mask(1, 3), "WT": mask(1, 2, 3), "ET": mask(3)},
        "brats2024": {"TC": mask(1, 3), "WT": mask(1, 2, 3), "ET": mask(3)},  # 4 = resection cavity: no region
        "decathlon": {"TC": mask(2, 3), "WT": mask(1, 2, 3), "ET": mask(3)},
    }[fmt]
    return seg, expected


def write_dataset_json(root: Path, ids: list[str]) -> None:
    info = {"modality": {"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"},
            "labels": {"0": "background", "1": "edema", "2": "non-enhancing tumor", "3": "enhancing tumour"},
            "training": [{"image": f"./imagesTr/{c}.nii.gz", "label": f"./labelsTr/{c}.nii.gz"} for c in ids]}
    (root / "dataset.json").write_text(json.dumps(info))
