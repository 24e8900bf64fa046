"""BiFormer weights: the official ImageNet-1k releases of rayleizhu/BiFormer.

Source: the official README, "ImageNet-1K trained models" (acc@1 at 224 x 224, MIT licence), whose
"model" links are the OneDrive API URLs that ``models/biformer.py`` (``model_urls``) also downloads.
The files wrap the weights in a ``model`` key and use the official names (converter
`visionzoo.weights.converters.biformer`); no sha256 is published. Evaluation in the official
``datasets.py``: resize to 256/224 of the crop (bicubic), centre crop 224, ImageNet mean/std.
"""
from ...registry import register_weights
from ..entry import WeightEntry

PAPER = "BiFormer: Vision Transformer with Bi-Level Routing Attention (Zhu et al., CVPR 2023), https://arxiv.org/abs/2303.08810"
_ONEDRIVE = "https://api.onedrive.com/v1.0/shares/{}/root/content"


def _biformer(arch: str, top1: float, share: str, params: str, gflops: str) -> None:
    register_weights(
        arch,
        "official_in1k",
        WeightEntry(
            source="official",
            url=_ONEDRIVE.format(share),
            sha256=None,
            license="mit",
            paper=PAPER,
            official_code="https://github.com/rayleizhu/BiFormer",
            metrics={"imagenet_top1": top1},
            crop_pct=0.875,
            interpolation="bicubic",
            notes=f"README: {params} params, {gflops} FLOPs at 224 x 224; trained with the legacy BRA (ops/bra_legacy.py).",
        ),
    )


_biformer("biformer_tiny", 81.4, "s!AkBbczdRlZvChHEOoGkgwgQzEDlM", "13.1 M", "2.2 G")
_biformer("biformer_small", 83.8, "s!AkBbczdRlZvChHDyM-x9KWRBZ832", "25.5 M", "4.5 G")
_biformer("biformer_base", 84.3, "s!AkBbczdRlZvChHI_XPhoadjaNxtO", "56.8 M", "9.8 G")
