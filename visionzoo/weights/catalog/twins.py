"""Twins weights: the official Meituan-AutoML/Twins ImageNet-1k releases, as republished by timm on the Hugging Face Hub.

Top-1 is the publisher's figure (Meituan-AutoML/Twins README, "Image Classification", 224^2). The original
files are Google Drive sharing pages (recorded in ``notes``; download by hand and pass ``checkpoint_path=``,
same names as timm). Apache-2.0 licence; no sha256 is published.
"""
from ...registry import register_weights
from ..entry import WeightEntry

_PAPER = (
    "Twins: Revisiting the Design of Spatial Attention in Vision Transformers (Chu et al., NeurIPS 2021), "
    "https://arxiv.org/abs/2104.13840"
)
_CODE = "https://github.com/Meituan-AutoML/Twins"
_DRIVE = "https://drive.google.com/file/d/{}/view?usp=sharing"


def _twins(arch: str, official_name: str, top1: float, drive_id: str) -> None:
    register_weights(
        arch,
        "in1k",
        WeightEntry(
            source="timm",
            hf_hub_id=f"timm/{arch}.in1k",
            hf_filename="model.safetensors",
            license="apache-2.0",
            paper=_PAPER,
            official_code=_CODE,
            metrics={"imagenet_top1": top1},
            crop_pct=0.9,
            notes=f"official release {official_name}.pth: {_DRIVE.format(drive_id)} (a sharing page)",
        ),
    )


_twins("twins_pcpvt_small", "pcpvt_small", 81.2, "1TWIx_8M-4y6UOKtbCgm1v-UVQ-_lYe6X")
_twins("twins_pcpvt_base", "pcpvt_base", 82.7, "1BsD3ZRivvPsHoZB1AX-tbirFLtCln8ky")
_twins("twins_pcpvt_large", "pcpvt_large", 83.1, "17xZXOWEcSGs0quBmMEkBYCxjPRYH-L45")
_twins("twins_svt_small", "alt_gvt_small", 81.7, "131SVOphM_-SaBytf4kWjo3ony5hpOt4S")
_twins("twins_svt_base", "alt_gvt_base", 83.2, "1s83To8xgDWY6Ad8VBP3Nx9gqY709rrGu")
_twins("twins_svt_large", "alt_gvt_large", 83.7, "1um39wxIaicmOquP2fr_SiZdxNCUou8w-")
