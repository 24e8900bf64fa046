"""Weight tags as data: one `WeightEntry` per published checkpoint, kept apart from the architectures."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

IMAGENET_DEFAULT_MEAN = (0.485, 0.456, 0.406)
IMAGENET_DEFAULT_STD = (0.229, 0.224, 0.225)
IMAGENET_INCEPTION_MEAN = (0.5, 0.5, 0.5)
IMAGENET_INCEPTION_STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class WeightEntry:
    """Where one published checkpoint lives, how it was trained and how to feed it.

    `source` names the checkpoint layout (and so the converter): e.g. "timm", "microsoft", "monai".
    Exactly one of `hf_hub_id`, `url` or `file` locates the bytes; `sha256` pins them where the
    publisher serves a stable file.
    """

    source: str
    hf_hub_id: str | None = None
    hf_filename: str | None = None
    url: str | None = None
    file: str | None = None
    sha256: str | None = None
    license: str | None = None
    paper: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    num_classes: int = 1000
    input_size: tuple[int, ...] = (3, 224, 224)
    mean: tuple[float, ...] = IMAGENET_DEFAULT_MEAN
    std: tuple[float, ...] = IMAGENET_DEFAULT_STD
    crop_pct: float = 0.9
    interpolation: str = "bicubic"
    notes: str = ""

    def pretrained_cfg(self) -> dict[str, Any]:
        """The timm-style `pretrained_cfg` fields this entry defines."""
        cfg = asdict(self)
        cfg["metrics"] = dict(self.metrics)
        return cfg
