"""One weight entry builder for the LeapLabTHU releases (FLatten, Agent Attention): TsinghuaCloud direct links."""
from ...registry import register_weights
from ..entry import WeightEntry

_CLOUD = "https://cloud.tsinghua.edu.cn/f/{}/?dl=1"


def register_leaplab(arch: str, top1: float, file_id: str, paper: str, code: str, notes: str) -> None:
    """Tag ``arch.in1k``: the official ImageNet-1k file (no sha256 or licence published; bicubic, crop 0.875)."""
    register_weights(
        arch,
        "in1k",
        WeightEntry(
            source="leaplab",
            url=_CLOUD.format(file_id),
            license=None,
            paper=paper,
            official_code=code,
            metrics={"imagenet_top1": top1},
            crop_pct=0.875,
            interpolation="bicubic",
            notes=notes,
        ),
    )
