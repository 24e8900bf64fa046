"""FLatten Transformer weights: the official LeapLabTHU/FLatten-Transformer ImageNet-1k releases.

Top-1 is the publisher's figure (README, "Pretrained Models", 224^2; the T/B0 figures also appear in its
evaluation logs: PVT-T 77.758, PVTv2-B0 71.098, Swin-T 82.106). Evaluation in the official code: resize
256/224 x size, centre crop, bicubic, ImageNet mean/std. The files are TsinghuaCloud links with ``?dl=1``
(direct downloads); no sha256 is published. The repository has no licence file, so the licence is not
stated. The checkpoints fix the input size to 224^2 through their positional encodings (1, N, C):
visionzoo loads them exactly and resamples the encodings at other sizes. Released but not registered
(no matching architecture here): FLatten-Swin-B at 384^2 (85.0) and FLatten-CSwin-T (83.1).
"""
from ._leaplab import register_leaplab

PAPER = "FLatten Transformer: Vision Transformer using Focused Linear Attention (Han et al., ICCV 2023), https://arxiv.org/abs/2308.00442"
CODE = "https://github.com/LeapLabTHU/FLatten-Transformer"
NOTES = "official release (README 'Pretrained Models'); 'model' key, official parameter names"


def _flatten(arch: str, top1: float, file_id: str) -> None:
    register_leaplab(arch, top1, file_id, PAPER, CODE, NOTES)


_flatten("flatten_pvt_tiny", 77.8, "3ab1d773f19d45648690")
_flatten("flatten_pvt_v2_b0", 71.1, "5d1f01532b104da28e7b")
_flatten("flatten_swin_tiny", 82.1, "e1518e76703e4e57a7f2")
_flatten("flatten_swin_small", 83.5, "94188e52af354bf4a88b")
_flatten("flatten_swin_base", 83.8, "7a9e5186bad04e7fb3a9")
