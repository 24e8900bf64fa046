"""Weight tags as data: one `WeightEntry` per published checkpoint, kept apart from the architectures."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from ..constants import (  # noqa: F401  (re-exported: visionzoo.weights.entry.IMAGENET_* keep working)
    IMAGENET_DEFAULT_MEAN,
    IMAGENET_DEFAULT_STD,
    IMAGENET_INCEPTION_MEAN,
    IMAGENET_INCEPTION_STD,
)


def unsafe_member_name(name: str) -> bool:
    """True for archive member names that could escape the extraction folder (absolute, drive, ``..``)."""
    if not name or "\x00" in name:
        return True
    posix, windows = PurePosixPath(name.replace("\\", "/")), PureWindowsPath(name)
    return posix.is_absolute() or bool(windows.drive) or windows.is_absolute() or ".." in posix.parts


@dataclass(frozen=True)
class WeightEntry:
    """Where one published checkpoint lives, how it was trained and how to feed it.

    Location: exactly one of `hf_hub_id` (+ `hf_filename`), `url` or `file` locates the bytes;
    `sha256` pins the published file (for a ``.zip`` URL: the archive) where the publisher serves a
    stable one, else None. A ``.zip`` URL is unpacked to `archive_member` (a path inside the archive,
    or its file name, matched at any depth).

    Conversion: `source` names the checkpoint layout and so the converter
    (`visionzoo.weights.converters`, registered by each model family for its model class), e.g. "timm",
    "microsoft", "monai", "monai_ssl".

    Provenance: `license`, `paper`, `official_code`, and `metrics` — the publisher's own figures
    (key names say the dataset/split and metric; `notes` says where they come from).

    Preprocessing: `input_size` (C, *spatial) the weights were trained at, `mean`/`std` for fixed
    normalisation (None where the statistics are per image, then `normalization` describes it),
    `crop_pct`/`interpolation` for 2D eval resizing (None for sliding-window 3D models),
    `channel_names` (input channel order) and `class_names` + `output_activation` (output channels).
    """

    source: str
    hf_hub_id: str | None = None
    hf_filename: str | None = None
    url: str | None = None
    file: str | None = None
    sha256: str | None = None
    archive_member: str | None = None
    license: str | None = None
    paper: str | None = None
    official_code: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    num_classes: int | None = 1000
    input_size: tuple[int, ...] = (3, 224, 224)
    mean: tuple[float, ...] | None = IMAGENET_DEFAULT_MEAN
    std: tuple[float, ...] | None = IMAGENET_DEFAULT_STD
    normalization: str | None = None
    crop_pct: float | None = 0.9
    interpolation: str | None = "bicubic"
    channel_names: tuple[str, ...] = ()
    class_names: tuple[str, ...] = ()
    output_activation: str | None = None
    notes: str = ""

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.hf_hub_id, self.url, self.file)) != 1:
            raise ValueError(f"a WeightEntry needs exactly one of hf_hub_id, url or file (got {self.hf_hub_id!r}, {self.url!r}, {self.file!r})")
        if self.is_archive and not self.archive_member:
            raise ValueError(f"{self.url} is a zip archive: set archive_member to the checkpoint's path (or file name) inside it")
        if self.archive_member is not None and unsafe_member_name(self.archive_member):
            raise ValueError(f"archive_member {self.archive_member!r} is an absolute path or contains '..'")
        if self.sha256 is not None and (len(self.sha256) != 64 or any(c not in "0123456789abcdefABCDEF" for c in self.sha256)):
            raise ValueError(f"sha256 must be 64 hex digits, got {self.sha256!r}")

    @property
    def is_archive(self) -> bool:
        """True when the published file is a zip archive holding the checkpoint."""
        return bool(self.url) and self.url.split("?", 1)[0].lower().endswith(".zip")

    def pretrained_cfg(self) -> dict[str, Any]:
        """The timm-style `pretrained_cfg` fields this entry defines."""
        cfg = asdict(self)
        cfg["metrics"] = dict(self.metrics)
        return cfg


def timm_hub_entry(name_tag: str, **fields: Any) -> WeightEntry:
    """A checkpoint that timm republishes on the Hugging Face Hub: ``timm/<name.tag>``, ``model.safetensors``,
    timm's layout (``source="timm"``); `fields` give the provenance and preprocessing."""
    return WeightEntry(source="timm", hf_hub_id=f"timm/{name_tag}", hf_filename="model.safetensors", **fields)
