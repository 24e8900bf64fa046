"""MONAI dictionary transforms for BraTS, composed by `brats_transforms` so configs can pick a recipe.

``train`` follows the published Swin UNETR BraTS recipe: labels -> TC/WT/ET, crop to the brain,
random ROI crop (zero-padded first when the ROI exceeds the volume), random flips on the 3 axes,
per-channel z-score over non-zero voxels, random intensity scale and shift of 0.1.
``crop="foreground"`` centres crops on tumour with probability pos/(pos+neg), since small sub-regions
(ET, TC) are otherwise rare in crops of small volumes. ``val``/``test``: label conversion + normalisation.
"""
from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping, Sequence

import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import (
    Compose,
    CropForegroundd,
    MapTransform,
    NormalizeIntensityd,
    RandCropByPosNegLabeld,
    RandFlipd,
    RandScaleIntensityd,
    RandShiftIntensityd,
    RandSpatialCropd,
    SpatialPadd,
)

from .formats import get_format
from .labels import labels_to_regions

__all__ = ["ConvertToBratsRegionsd", "PadToRoid", "brats_transforms"]

_logger = logging.getLogger(__name__)
_MODES = ("train", "val", "test")
_CROPS = ("random", "foreground")


class ConvertToBratsRegionsd(MapTransform):
    """Integer label map (1, *S) -> float32 regions (3, *S) = TC, WT, ET, using the sample's own format.

    The format comes from `format` or else from ``data[format_key]`` (set by `BratsDataset`), so one
    pipeline serves datasets whose format is only known once the files are read.
    """

    def __init__(self, keys: KeysCollection = "label", format: str | None = None, format_key: str = "format",
                 allow_missing_keys: bool = True) -> None:
        super().__init__(keys, allow_missing_keys)
        self.format = get_format(format).name if format is not None else None
        self.format_key = format_key

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        d = dict(data)
        fmt = self.format or d.get(self.format_key)
        if fmt is None:
            raise KeyError(
                f"ConvertToBratsRegionsd: no format given and the sample has no {self.format_key!r} key; "
                f"pass format= (one of visionzoo.data.FORMATS)."
            )
        for key in self.key_iterator(d):
            label = d[key]
            if label.shape[0] != 1:
                raise ValueError(
                    f"ConvertToBratsRegionsd expects an integer label map with 1 channel under {key!r}, got shape "
                    f"{tuple(label.shape)}; is the label converted twice?"
                )
            if isinstance(label, MetaTensor):
                regions = labels_to_regions(label.as_tensor(), fmt)
                d[key] = MetaTensor(regions, meta=label.meta, applied_operations=label.applied_operations)
            else:
                d[key] = labels_to_regions(torch.as_tensor(label), fmt)
        return d


class PadToRoid(SpatialPadd):
    """Zero-pad (symmetrically) any spatial dim smaller than the ROI, so a fixed-size crop always fits; logged once."""

    _logged = False

    def __init__(self, keys: KeysCollection, roi_size: Sequence[int], allow_missing_keys: bool = True) -> None:
        super().__init__(keys, spatial_size=roi_size, allow_missing_keys=allow_missing_keys)
        self.roi_size = tuple(int(r) for r in roi_size)

    def __call__(self, data: Mapping[Hashable, torch.Tensor], lazy: bool | None = None) -> dict:
        key = next(iter(self.key_iterator(dict(data))), None)
        if key is not None and not PadToRoid._logged:
            shape = tuple(data[key].shape[1:])
            if any(s < r for s, r in zip(shape, self.roi_size)):
                _logger.info(
                    "ROI %s is larger than a (foreground-cropped) volume %s: zero-padding it to the ROI "
                    "(logged once).", self.roi_size, shape,
                )
                PadToRoid._logged = True
        return super().__call__(data, lazy=lazy)


def brats_transforms(
    mode: str = "train",
    roi_size: Sequence[int] | int = (128, 128, 128),
    *,
    crop: str = "random",
    pos: float = 1.0,
    neg: float = 1.0,
    num_samples: int = 1,
    flip_prob: float = 0.5,
    intensity_scale: float = 0.1,
    intensity_shift: float = 0.1,
    format: str | None = None,
    keys: tuple[str, str] = ("image", "label"),
    seed: int | None = None,
) -> Compose:
    """The BraTS pipeline for `mode` (``train``, ``val`` or ``test``); see the module docstring.

    `crop` is ``"random"`` (uniform ROI crops, the published recipe) or ``"foreground"`` (tumour-centred
    with probability pos/(pos+neg)). With ``num_samples > 1`` (foreground crops) a sample becomes a list
    of crops: collate with `monai.data.list_data_collate`. `format` overrides the sample's own.
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}.")
    image, label = keys
    convert = ConvertToBratsRegionsd(label, format=format)
    normalize = NormalizeIntensityd(image, nonzero=True, channel_wise=True)
    if mode != "train":
        return Compose([convert, normalize])
    if crop not in _CROPS:
        raise ValueError(f"crop must be one of {_CROPS}, got {crop!r}.")
    roi = (int(roi_size),) * 3 if isinstance(roi_size, int) else tuple(int(r) for r in roi_size)
    both = [image, label]
    if crop == "random":
        if num_samples != 1:
            raise ValueError("num_samples > 1 needs crop='foreground' (random crops give one sample each).")
        cropper = RandSpatialCropd(both, roi_size=roi, random_size=False, allow_missing_keys=True)
    else:
        if pos < 0 or neg < 0 or pos + neg == 0:
            raise ValueError(f"pos and neg must be non-negative and not both 0, got pos={pos}, neg={neg}.")
        cropper = RandCropByPosNegLabeld(
            both, label_key=label, spatial_size=roi, pos=pos, neg=neg, num_samples=num_samples,
            image_key=image, image_threshold=0.0,
        )
    pipeline = Compose([
        convert,
        CropForegroundd(both, source_key=image, start_coord_key=None, end_coord_key=None, allow_missing_keys=True),
        PadToRoid(both, roi),
        cropper,
        RandFlipd(both, prob=flip_prob, spatial_axis=0, allow_missing_keys=True),
        RandFlipd(both, prob=flip_prob, spatial_axis=1, allow_missing_keys=True),
        RandFlipd(both, prob=flip_prob, spatial_axis=2, allow_missing_keys=True),
        normalize,
        RandScaleIntensityd(image, factors=intensity_scale, prob=1.0),
        RandShiftIntensityd(image, offsets=intensity_shift, prob=1.0),
    ])
    if seed is not None:
        pipeline.set_random_state(seed=seed)
    return pipeline
