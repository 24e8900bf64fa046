"""Synthetic BraTS-like cases, written in the real on-disk formats so the real loader is exercised.

Each case is a skull-stripped brain (a noise-deformed ellipsoid, zero background) with grey/white
matter, ventricles and sulcal CSF, and one glioma: oedema around a tumour core whose rim enhances and
whose centre is necrotic (BraTS 2024 adds a resection cavity inside the core). Contrasts follow real
MRI: oedema bright on FLAIR and T2, enhancing rim bright on T1ce, necrosis dark on T1/T1ce, CSF dark on
FLAIR/T1 and bright on T2. Tissue texture, a smooth multiplicative bias field per modality and Rician
noise make the task non-trivial while staying learnable by a small network in minutes at size 64-96.
"""
from __future__ import annotations

import json
import logging
import re
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from .cases import FOLD_FILE_NAME, BratsCase, find_cases
from .folds import assign_folds, make_folds, read_fold_file, save_folds
from .formats import CHANNELS, get_format

__all__ = ["SyntheticBratsConfig", "synthesize_case", "write_synthetic_brats", "TISSUE_CODES"]

_logger = logging.getLogger(__name__)

TISSUE_CODES = {
    "background": 0, "csf": 1, "grey": 2, "white": 3, "oedema": 4, "enhancing": 5, "necrosis": 6, "cavity": 7,
}
"""The integer codes of `synthesize_case`'s tissue map; 4-7 are the tumour sub-regions."""

# Mean intensity of each tissue code (columns, TISSUE_CODES order) per modality (rows, CHANNELS order),
# relative to white matter on T1.
_CONTRAST = np.array([
    # bg   CSF   GM    WM    ED    ET    NCR   RC
    [0.0, 0.20, 0.78, 0.62, 1.25, 0.95, 0.80, 0.15],  # FLAIR: oedema bright, CSF suppressed
    [0.0, 0.25, 0.70, 1.00, 0.62, 1.55, 0.30, 0.22],  # T1ce: enhancing rim bright, necrosis dark
    [0.0, 0.25, 0.70, 1.00, 0.60, 0.72, 0.35, 0.20],  # T1: necrosis dark, oedema hypointense
    [0.0, 1.35, 0.80, 0.55, 1.15, 0.85, 1.20, 1.40],  # T2: fluid and oedema bright
], dtype=np.float32)
_INTENSITY_SCALE = 500.0  # stored as int16 like the BraTS releases (Decathlon: float32)


@dataclass(frozen=True)
class SyntheticBratsConfig:
    """Generator parameters; each (low, high) range is sampled uniformly per case."""

    wt_fraction: tuple[float, float] = (0.03, 0.10)  # whole tumour, fraction of brain volume
    tc_fraction: tuple[float, float] = (0.30, 0.50)  # tumour core, fraction of whole tumour
    et_rim: tuple[int, int] = (2, 3)  # enhancing rim thickness in voxels (at most half the core's radius)
    rc_fraction: tuple[float, float] = (0.4, 0.8)  # brats2024 resection cavity, fraction of the necrotic core
    irregularity: float = 0.35  # amplitude of the smooth noise that deforms the tumour surfaces
    texture: float = 0.06  # tissue texture, relative s.d.
    bias: float = 0.15  # multiplicative bias field, s.d. of its log
    noise: float = 0.03  # Rician noise s.d., relative to white matter on T1
    partial_volume: float = 0.6  # Gaussian blur (voxels) of tissue boundaries

    def __post_init__(self) -> None:
        for name in ("wt_fraction", "tc_fraction", "rc_fraction"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi < 1:
                raise ValueError(f"SyntheticBratsConfig.{name} must satisfy 0 < low <= high < 1, got ({lo}, {hi}).")
        if not 1 <= self.et_rim[0] <= self.et_rim[1]:
            raise ValueError(f"SyntheticBratsConfig.et_rim must satisfy 1 <= low <= high voxels, got {self.et_rim}.")


def _linear_upsampler(n: int, step: int, size: int) -> np.ndarray:
    """The (size, n) matrix that linearly interpolates n coarse samples, `step` voxels apart, onto `size` voxels."""
    pos = np.arange(size, dtype=np.float32) / step
    low = np.minimum(pos.astype(int), n - 2)
    frac = pos - low
    m = np.zeros((size, n), dtype=np.float32)
    m[np.arange(size), low] = 1 - frac
    m[np.arange(size), low + 1] = frac
    return m


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Zero-mean, unit-s.d. noise smoothed with a Gaussian of s.d. `sigma` voxels (made coarse when sigma is large)."""
    step = max(1, int(sigma // 3))
    if step == 1:
        out = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma)
    else:  # separable linear upsampling: three small matrix products instead of a 3D zoom
        coarse = rng.standard_normal([s // step + 2 for s in shape], dtype=np.float32)
        out = ndimage.gaussian_filter(coarse, sigma / step, mode="wrap")
        for axis, size in enumerate(shape):
            up = _linear_upsampler(out.shape[axis], step, size)
            out = np.moveaxis(np.tensordot(up, out, axes=(1, axis)), 0, axis)
    out = out - out.mean()
    return out / max(float(out.std()), 1e-6)


def _grid(shape: tuple[int, int, int]) -> np.ndarray:
    return np.stack(np.meshgrid(*[np.arange(s, dtype=np.float32) for s in shape], indexing="ij"), axis=-1)


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    return (q * np.sign(np.diag(r))).astype(np.float32)


def _take_smallest(field_: np.ndarray, within: np.ndarray, n: int) -> np.ndarray:
    """The `n` voxels of `within` with the smallest `field_` values (a threshold, so the shape follows the field)."""
    values = field_[within]
    n = int(np.clip(n, 1, values.size))
    threshold = np.partition(values, n - 1)[n - 1]
    return within & (field_ <= threshold)


def _brain(rng: np.random.Generator, shape: tuple[int, int, int], grid: np.ndarray) -> tuple[np.ndarray, ...]:
    """Tissue codes of a healthy brain, its mask, centre and semi-axes."""
    size = np.asarray(shape, dtype=np.float32)
    centre = size / 2 + rng.uniform(-0.02, 0.02, 3).astype(np.float32) * size
    semi = np.array([0.33, 0.40, 0.40], dtype=np.float32) * size * rng.uniform(0.95, 1.05, 3).astype(np.float32)
    radius = np.sqrt((((grid - centre) / semi) ** 2).sum(-1))
    scale = float(min(shape))
    radius_brain = radius + 0.04 * _smooth_noise(rng, shape, 0.08 * scale)
    brain = radius_brain < 1.0
    brain[[0, -1]], brain[:, [0, -1]], brain[:, :, [0, -1]] = False, False, False
    codes = np.where(brain, TISSUE_CODES["grey"], 0).astype(np.uint8)
    white = brain & (radius_brain + 0.08 * _smooth_noise(rng, shape, 0.04 * scale) < 0.72)
    codes[white] = TISSUE_CODES["white"]
    sulci = brain & ~white & (_smooth_noise(rng, shape, 1.0) > 1.4)
    codes[sulci] = TISSUE_CODES["csf"]
    for side in (-1, 1):  # lateral ventricles
        c = centre + np.array([side * 0.06, -0.03, 0.05], dtype=np.float32) * size
        v_semi = np.array([0.04, 0.12, 0.08], dtype=np.float32) * size
        codes[brain & ((((grid - c) / v_semi) ** 2).sum(-1) < 1.0)] = TISSUE_CODES["csf"]
    return codes, brain, centre, semi


def synthesize_case(
    shape: tuple[int, int, int],
    rng: np.random.Generator,
    config: SyntheticBratsConfig | None = None,
    cavity: bool = False,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """One synthetic case: images ``(4, *shape)`` float32 in CHANNELS order, tissue codes (`TISSUE_CODES`), stats."""
    cfg = config or SyntheticBratsConfig()
    grid = _grid(shape)
    codes, brain, centre, semi = _brain(rng, shape, grid)
    n_brain = int(brain.sum())

    # Whole tumour: a rotated ellipsoid deformed by smooth noise, thresholded to the sampled volume.
    n_wt = int(round(rng.uniform(*cfg.wt_fraction) * n_brain))
    r_wt = (3 * n_wt / (4 * np.pi)) ** (1 / 3)
    room = max(0.0, 1.0 - 1.1 * r_wt / float(semi.min()))
    direction = rng.standard_normal(3)
    direction /= np.linalg.norm(direction)
    where = centre + semi * direction * room * rng.uniform(0, 1) ** (1 / 3)
    rotation = _random_rotation(rng)
    axes = rng.uniform(0.75, 1.3, 3).astype(np.float32)
    axes /= np.prod(axes) ** (1 / 3)

    def ellipsoid(at: np.ndarray, radius: float) -> np.ndarray:
        local = (grid - at.astype(np.float32)) @ rotation.T
        return np.sqrt(((local / axes) ** 2).sum(-1)) / max(radius, 1e-3)

    wt_field = ellipsoid(where, r_wt) + cfg.irregularity * _smooth_noise(rng, shape, max(1.0, 0.35 * r_wt))
    wt = _take_smallest(wt_field, brain, n_wt)

    # Tumour core: a second, off-centre deformed ellipsoid, restricted to the whole tumour.
    n_tc = int(round(rng.uniform(*cfg.tc_fraction) * wt.sum()))
    r_tc = (3 * n_tc / (4 * np.pi)) ** (1 / 3)
    tc_centre = where + rng.normal(0, 0.15 * r_wt, 3)
    tc_field = ellipsoid(tc_centre, r_tc) + cfg.irregularity * _smooth_noise(rng, shape, max(1.0, 0.35 * r_tc))
    tc = _take_smallest(tc_field, wt, n_tc)

    # Enhancing rim: the core voxels within `rim` voxels of its surface; the rest is necrosis.
    rim = min(int(rng.integers(cfg.et_rim[0], cfg.et_rim[1] + 1)), max(1, int(r_tc // 2)))
    box = tuple(slice(max(int(i.min()) - 1, 0), int(i.max()) + 2) for i in np.nonzero(tc))
    depth = np.zeros(shape, dtype=np.float32)
    depth[box] = ndimage.distance_transform_edt(tc[box])
    et = tc & (depth <= rim)
    necrosis = tc & ~et
    codes[wt] = TISSUE_CODES["oedema"]
    codes[et] = TISSUE_CODES["enhancing"]
    codes[necrosis] = TISSUE_CODES["necrosis"]
    if cavity and necrosis.any():
        n_rc = int(round(rng.uniform(*cfg.rc_fraction) * necrosis.sum()))
        codes[_take_smallest(tc_field, necrosis, n_rc)] = TISSUE_CODES["cavity"]

    # Intensities: tissue means, partial volume, texture shared by modalities, bias per modality, Rician noise.
    texture = 1 + cfg.texture * (0.7 * _smooth_noise(rng, shape, 1.0) + 0.7 * _smooth_noise(rng, shape, 3.0))
    images = np.empty((len(CHANNELS), *shape), dtype=np.float32)
    for m in range(len(CHANNELS)):
        img = _CONTRAST[m][codes]
        if cfg.partial_volume > 0:
            img = ndimage.gaussian_filter(img, cfg.partial_volume)
        img *= texture * np.exp(cfg.bias * _smooth_noise(rng, shape, 0.3 * float(max(shape))))
        real = img + cfg.noise * rng.standard_normal(shape, dtype=np.float32)
        imag = cfg.noise * rng.standard_normal(shape, dtype=np.float32)
        images[m] = np.where(brain, np.sqrt(real**2 + imag**2), 0.0)
    n_core = int(np.isin(codes, [TISSUE_CODES["enhancing"], TISSUE_CODES["necrosis"]]).sum())
    n_whole = n_core + int((codes == TISSUE_CODES["oedema"]).sum())  # the labelled regions (cavity excluded)
    stats = {
        "brain_voxels": n_brain,
        "wt_fraction_of_brain": round(n_whole / n_brain, 4),
        "tc_fraction_of_wt": round(n_core / max(n_whole, 1), 4),
        "et_voxels": int(et.sum()),
        "et_rim": rim,
        "cavity_voxels": int((codes == TISSUE_CODES["cavity"]).sum()),
    }
    return images, codes, stats


def _labels(codes: np.ndarray, format: str) -> np.ndarray:
    fmt = get_format(format)
    out = np.zeros(codes.shape, dtype=np.uint8)
    out[codes == TISSUE_CODES["oedema"]] = fmt.oedema_label
    out[codes == TISSUE_CODES["enhancing"]] = fmt.et_label
    out[codes == TISSUE_CODES["necrosis"]] = fmt.core_label
    out[codes == TISSUE_CODES["cavity"]] = 4 if fmt.name == "brats2024" else fmt.core_label
    return out


def _affine(size: int) -> np.ndarray:
    """An LPS-like affine as in the BraTS releases, at the spacing that spans their 240 mm field of view."""
    spacing = 240.0 / size
    return np.array([[-spacing, 0, 0, 0], [0, -spacing, 0, (size - 1) * spacing], [0, 0, spacing, 0], [0, 0, 0, 1]])


def _save(data: np.ndarray, affine: np.ndarray, path: Path) -> None:
    img = nib.Nifti1Image(data, affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    img.header.set_xyzt_units("mm")
    nib.save(img, str(path))


def _write_case(out: Path, i: int, images: np.ndarray, labels: np.ndarray, format: str, affine: np.ndarray) -> None:
    fmt = get_format(format)
    case_id = fmt.case_id_template.format(i)
    if fmt.name == "decathlon":
        order = [CHANNELS.index(c) for c in ("flair", "t1", "t1ce", "t2")]  # file order FLAIR, T1w, T1gd, T2w
        _save(np.moveaxis(images[order], 0, -1).astype(np.float32), affine, out / "imagesTr" / f"{case_id}.nii.gz")
        _save(labels, affine, out / "labelsTr" / f"{case_id}.nii.gz")
        return
    folder = out / case_id
    folder.mkdir(parents=True, exist_ok=True)
    sep = "_" if fmt.name == "brats2021" else "-"
    for m, suffix in enumerate(fmt.suffixes):
        _save(np.rint(images[m] * _INTENSITY_SCALE).astype(np.int16), affine, folder / f"{case_id}{sep}{suffix}.nii.gz")
    _save(labels, affine, folder / f"{case_id}{sep}{fmt.seg_suffix}.nii.gz")


def _dataset_json(out: Path, n_cases: int, format: str) -> None:
    ids = [get_format(format).case_id_template.format(i) for i in range(1, n_cases + 1)]
    info = {
        "name": "BRATS",
        "description": "Synthetic gliomas in the Decathlon Task01_BrainTumour layout (visionzoo.data.synthetic)",
        "reference": "synthetic; layout of the Medical Segmentation Decathlon",
        "licence": "CC0 (synthetic)",
        "tensorImageSize": "4D",
        "modality": {"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"},
        "labels": {"0": "background", "1": "edema", "2": "non-enhancing tumor", "3": "enhancing tumour"},
        "numTraining": n_cases,
        "numTest": 0,
        "training": [{"image": f"./imagesTr/{c}.nii.gz", "label": f"./labelsTr/{c}.nii.gz"} for c in ids],
        "test": [],
    }
    (out / "dataset.json").write_text(json.dumps(info, indent=2) + "\n")


_CASE_FOLDER = re.compile(r"^(BraTS20\d\d_\d+|BraTS-[A-Z]+-\d+-\d+)$")
_WRITTEN_JSON = ("dataset.json", FOLD_FILE_NAME, "synthetic_info.json")


def _clear_previous(out: Path) -> None:
    """Delete what an earlier run may have written here (case folders of NIfTI files, Decathlon cases, JSON)."""
    for child in out.iterdir():
        only_nifti = child.is_dir() and all(f.name.endswith((".nii", ".nii.gz")) for f in child.iterdir())
        if only_nifti and _CASE_FOLDER.match(child.name):
            shutil.rmtree(child)
        elif child.is_dir() and child.name in ("imagesTr", "labelsTr"):
            for f in child.glob("BRATS_*.nii*"):
                f.unlink()
        elif child.is_file() and child.name in _WRITTEN_JSON:
            child.unlink()


def write_synthetic_brats(
    out: str | Path,
    n_cases: int = 12,
    size: int = 96,
    *,
    depth: int | None = None,
    seed: int = 0,
    format: str = "brats2021",
    n_folds: int = 5,
    config: SyntheticBratsConfig | None = None,
    overwrite: bool = False,
) -> list[BratsCase]:
    """Write `n_cases` synthetic cases of ``(size, size, depth)`` voxels in `format`'s layout under `out`.

    `depth` defaults to ``round(0.65 * size)`` (the 240 x 240 x 155 proportions). With `n_folds` >= 2
    a research-contributions ``brats21_folds.json`` is written too (Decathlon: also ``dataset.json``).
    Case i is a function of (`seed`, i) alone. Returns the cases as the loader finds them.
    """
    fmt = get_format(format)
    out = Path(out)
    depth = int(round(0.65 * size)) if depth is None else int(depth)
    if size < 16 or depth < 8:
        raise ValueError(f"size {size} x depth {depth} is too small for a brain and a tumour; use size >= 16, depth >= 8.")
    if n_cases < 1:
        raise ValueError(f"n_cases must be at least 1, got {n_cases}.")
    if n_folds:
        assign_folds([str(i) for i in range(n_cases)], n_folds)  # fail before writing: n_folds <= n_cases
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{str(out)!r} is not empty; choose a new folder or pass overwrite=True (--overwrite)")
        _clear_previous(out)
    out.mkdir(parents=True, exist_ok=True)
    if fmt.name == "decathlon":
        (out / "imagesTr").mkdir(exist_ok=True)
        (out / "labelsTr").mkdir(exist_ok=True)
    shape = (size, size, depth)
    affine = _affine(size)
    first = 1 if fmt.name == "decathlon" else 0
    start, stats = time.perf_counter(), []
    for i in range(first, first + n_cases):
        rng = np.random.default_rng([seed, i])
        images, codes, case_stats = synthesize_case(shape, rng, config, cavity=fmt.name == "brats2024")
        _write_case(out, i, images, _labels(codes, fmt.name), fmt.name, affine)
        stats.append({"case_id": fmt.case_id_template.format(i), **case_stats})
        _logger.debug("synthetic case %s: %s", stats[-1]["case_id"], case_stats)
    if fmt.name == "decathlon":
        _dataset_json(out, n_cases, fmt.name)
    cases = find_cases(out, fmt.name)
    if n_folds:
        save_folds(make_folds(cases, n_folds=n_folds, seed=seed, data_root=out), out / FOLD_FILE_NAME)
        cases = read_fold_file(out / FOLD_FILE_NAME, out, fmt.name)
    info = {"generator": "visionzoo.data.synthetic", "format": fmt.name, "shape": list(shape), "seed": seed,
            "n_folds": n_folds, "config": asdict(config or SyntheticBratsConfig()), "cases": stats}
    (out / "synthetic_info.json").write_text(json.dumps(info, indent=2) + "\n")
    wt = [s["wt_fraction_of_brain"] for s in stats]
    tc = [s["tc_fraction_of_wt"] for s in stats]
    _logger.info(
        "SYNTHETIC BraTS data: wrote %d %s case(s) of %dx%dx%d voxels (seed %d) to %s in %.1f s; "
        "WT %.1f-%.1f%% of brain, TC %.0f-%.0f%% of WT%s", n_cases, fmt.name, *shape, seed, out, time.perf_counter() - start,
        100 * min(wt), 100 * max(wt), 100 * min(tc), 100 * max(tc),
        f"; folds in {out / FOLD_FILE_NAME}" if n_folds else "",
    )
    return cases
