"""`SavePredictionsHook`: write test predictions as BraTS label NIfTI files (original affine) and PNG overlays."""
from __future__ import annotations

from pathlib import Path

from mmengine.hooks import Hook

from visionzoo.data import regions_to_labels, save_prediction_nifti

from .registry import HOOKS
from .visualize import save_overlay_png

__all__ = ["SavePredictionsHook", "save_case_outputs"]


def save_case_outputs(sample: dict, image=None, nifti_dir: str | Path | None = None,
                      png_dir: str | Path | None = None, n_slices: int = 4) -> list[Path]:
    """Write one predicted case: ``CASE.nii.gz`` (format's labels, e.g. 1/2/4) and/or ``CASE.png`` (FLAIR overlay).

    `sample` is a `VolumeSegmenter` prediction (``pred``, ``case_id``, ``format``, ``affine``, optional
    ``label``); `image` its (4, X, Y, Z) input, FLAIR first, for the overlay.
    """
    written = []
    case = str(sample.get("case_id", "case"))
    if nifti_dir is not None:
        labels = regions_to_labels(sample["pred"], sample["format"])
        written.append(save_prediction_nifti(labels, sample["affine"], Path(nifti_dir) / f"{case}.nii.gz"))
    if png_dir is not None:
        if image is None:
            raise ValueError(f"case {case}: an overlay PNG needs the input image (FLAIR channel).")
        written.append(save_overlay_png(Path(png_dir) / f"{case}.png", image[0], sample["pred"], sample.get("label"), n_slices))
    return written


@HOOKS.register_module()
class SavePredictionsHook(Hook):
    """After each test batch, save each case with `save_case_outputs` into `nifti_dir` and/or `png_dir`."""

    priority = "LOW"

    def __init__(self, nifti_dir: str | None = None, png_dir: str | None = None, n_slices: int = 4) -> None:
        if nifti_dir is None and png_dir is None:
            raise ValueError("SavePredictionsHook needs nifti_dir and/or png_dir.")
        self.nifti_dir = Path(nifti_dir) if nifti_dir else None
        self.png_dir = Path(png_dir) if png_dir else None
        self.n_slices = n_slices
        self.count = 0

    def before_test(self, runner) -> None:
        self.count = 0

    def after_test_iter(self, runner, batch_idx: int, data_batch: dict | None = None, outputs=None) -> None:
        inputs = (data_batch or {}).get("inputs")
        for i, sample in enumerate(outputs or []):
            image = inputs[i] if inputs is not None else None
            save_case_outputs(sample, image, self.nifti_dir, self.png_dir, self.n_slices)
            self.count += 1

    def after_test(self, runner) -> None:
        where = [f"NIfTI label maps in {self.nifti_dir}" if self.nifti_dir else "",
                 f"PNG overlays in {self.png_dir}" if self.png_dir else ""]
        runner.logger.info(f"saved {self.count} case(s): " + "; ".join(w for w in where if w))
