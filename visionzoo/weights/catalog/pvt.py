"""PVT v1 and PVTv2 weights: the official whai362/PVT ImageNet-1k releases, and timm's Hub copies of PVTv2.

Top-1 is the publisher's figure (whai362/PVT ``classification/README.md``, "Model Zoo", 224^2). The v1 files
are served by GitHub release ``v2`` and load through the whai362 converter; PVTv2 resolves to timm's
``timm/pvt_v2_*.in1k`` safetensors (the same weights, timm's names), with the GitHub URL kept in ``notes``.
Evaluation follows DeiT's (resize 256, centre crop 224, bicubic) in the official code; timm evaluates PVTv2
at crop 0.9. Apache-2.0 licence. No sha256 is published for the release files.
"""
from ...registry import register_weights
from ..entry import WeightEntry

_V1_PAPER = (
    "Pyramid Vision Transformer: A Versatile Backbone for Dense Prediction without Convolutions "
    "(Wang et al., ICCV 2021), https://arxiv.org/abs/2102.12122"
)
_V2_PAPER = (
    "PVT v2: Improved Baselines with Pyramid Vision Transformer (Wang et al., CVMJ 2022), https://arxiv.org/abs/2106.13797"
)
_CODE = "https://github.com/whai362/PVT"
_RELEASE = "https://github.com/whai362/PVT/releases/download/v2/"


def _v1(arch: str, top1: float) -> None:
    register_weights(
        arch,
        "in1k",
        WeightEntry(
            source="whai362",
            url=f"{_RELEASE}{arch}.pth",
            license="apache-2.0",
            paper=_V1_PAPER,
            official_code=_CODE,
            metrics={"imagenet_top1": top1},
            crop_pct=0.875,
            notes="official release (whai362/PVT classification/README.md, PVTv1 on ImageNet-1K)",
        ),
    )


def _v2(arch: str, top1: float) -> None:
    register_weights(
        arch,
        "in1k",
        WeightEntry(
            source="timm",
            hf_hub_id=f"timm/{arch}.in1k",
            hf_filename="model.safetensors",
            license="apache-2.0",
            paper=_V2_PAPER,
            official_code=_CODE,
            metrics={"imagenet_top1": top1},
            crop_pct=0.9,
            notes=f"official release: {_RELEASE}{arch}.pth (loads with checkpoint_path=, whai362 layout)",
        ),
    )


_v1("pvt_tiny", 75.1)
_v1("pvt_small", 79.8)
_v1("pvt_medium", 81.2)
_v1("pvt_large", 81.7)

_v2("pvt_v2_b0", 70.5)
_v2("pvt_v2_b1", 78.7)
_v2("pvt_v2_b2", 82.0)
_v2("pvt_v2_b2_li", 82.1)
_v2("pvt_v2_b3", 83.1)
_v2("pvt_v2_b4", 83.6)
_v2("pvt_v2_b5", 83.8)
