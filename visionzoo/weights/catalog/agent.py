"""Agent Attention weights: the official LeapLabTHU/Agent-Attention ImageNet-1k releases.

Top-1 is the publisher's figure (``agent_transformer/README.md``, "Pretrained Models", 224^2). Evaluation in
the official code: resize 256/224 x size, centre crop, bicubic, ImageNet mean/std. The files are TsinghuaCloud
links with ``?dl=1`` (direct downloads); no sha256 is published. The repository has no licence file at its
root, so the licence is not stated. The checkpoints fix the input size to 224^2 (row/column agent biases,
DeiT/PVT position embeddings): visionzoo loads them exactly and resamples those tables at other sizes.
Released but not registered (no matching architecture here): Agent-DeiT-S 448^2 (83.1), Agent-PVT-M/L
(83.4/83.8 at 256^2, 83.7), Agent-Swin-S 288^2 (84.1), Agent-Swin-B 384^2 (84.9), Agent-CSwin-T/S/B.
"""
from ._leaplab import register_leaplab

PAPER = "Agent Attention: On the Integration of Softmax and Linear Attention (Han et al., ECCV 2024), https://arxiv.org/abs/2312.08874"
CODE = "https://github.com/LeapLabTHU/Agent-Attention"
NOTES = "official release (agent_transformer/README.md 'Pretrained Models'); 'model' key, official names"


def _agent(arch: str, top1: float, file_id: str) -> None:
    register_leaplab(arch, top1, file_id, PAPER, CODE, NOTES)


_agent("agent_deit_tiny", 74.9, "57e0904221824ee7b7af")
_agent("agent_deit_small", 80.5, "fdd43304372541db8ea7")
_agent("agent_deit_base", 82.0, "5115f15fdd7e4ab58fbc")
_agent("agent_pvt_tiny", 78.4, "13fdf0e0a7c5498c934f")
_agent("agent_pvt_small", 82.2, "36b8be9a8863456685a3")
_agent("agent_swin_tiny", 82.6, "a2ddc1190c224f768a41")
_agent("agent_swin_small", 83.7, "f607172c9fea4d6e99bb")
_agent("agent_swin_base", 84.0, "4fcd2d0114bb490483c3")
