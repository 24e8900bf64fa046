"""Agent-attention backbones (Han et al., ECCV 2024): the official Agent-DeiT, Agent-Swin and Agent-PVT configurations.

Each is the plain backbone with agent attention (`visionzoo.layers.attention.agent`) plugged into the
blocks that LeapLabTHU/Agent-Attention (``agent_transformer/cfgs/*.yaml``, ``models/*.py``) uses it in:

* DeiT-T/S: every block, 49 agents; DeiT-B: the first 4 blocks, 81 agents, softmax after. The class token
  is a key and a query of the agents (``ac_bias``/``ca_bias``).
* Swin-T ``AAAB``, Swin-S ``AABB``, Swin-B ``AAMB2`` (stage 3: agent attention in its first 2 blocks, window
  attention after); agents 9-16-49-49 per stage. The official window of 56 makes every agent block global
  (window = stage grid at 224^2): here agent blocks attend over the whole stage grid at any size, and the
  remaining blocks are Swin's window-7 attention.
* PVT-T/S ``AAAA``, agents 9-16-49-49, no spatial reduction (``PVT_LA_SR_RATIOS=1111``), no class token,
  mean-pooled head without a final norm (as the official forward).

Released checkpoints (``model`` key) load through the base backbone's converter (`visionzoo.backbones._leaplab`);
the published weights are registered at the end of this module. The official models fix the input size to 224^2 (row/column agent biases and PVT position embeddings sized for it); here they are
resampled, so other sizes run and 224^2 reproduces the official outputs.
"""
from __future__ import annotations

from typing import Any

import torch.nn as nn

from ..layers.attention import attention_stage_mask
from ..registry import image_classifier_cfg, register_model
from ._leaplab import register_leaplab_weights
from .pvt import PyramidVisionTransformer, pvt_small, pvt_tiny
from .swin import SwinTransformer
from .vit import VisionTransformer

__all__ = ["agent_stage_configs"]

_AGENT_CFG = image_classifier_cfg(
    "https://arxiv.org/abs/2312.08874",
    crop_pct=0.875,  # official eval: resize 256/224 * size, centre crop
    official_code="https://github.com/LeapLabTHU/Agent-Attention",
    tiny=dict(depths=(1, 1, 1, 1)),
)
_AGENT_DEIT_CFG = {**_AGENT_CFG, "tiny": dict(depth=2)}  # DeiT has blocks, not stages
_STAGE_AGENTS = (9, 16, 49, 49)


def agent_stage_configs(attn_type: str, depths: tuple[int, ...], agent_nums: tuple[int, ...] = _STAGE_AGENTS) -> list:
    """Per-stage mixer configs from an official attention-type string (``"AAAB"``, ``"AAMB2"``).

    ``A``: agent attention (the stage's `agent_nums` entry); ``B``: the backbone's own attention (``None``);
    ``M<k>`` (one per string, after the per-stage letters): agent attention in the stage's first k blocks, the
    backbone's after. The string is read by `visionzoo.layers.attention.attention_stage_mask`, as every ``attn_stages``.
    """
    configs: list = []
    for i, use in enumerate(attention_stage_mask(attn_type, depths, letters="A")):
        agent = dict(type="agent", agent_num=agent_nums[i])
        configs.append([agent if b else None for b in use] if isinstance(use, list) else agent if use else None)
    return configs


def _agent_deit(arch: dict[str, Any], agent_num: int, agent_blocks: int = 12, **kwargs: Any) -> VisionTransformer:
    cfg = dict(img_size=224, patch_size=16, depth=12, **arch)
    cfg.update(kwargs)
    if "attn" not in kwargs:
        cfg["attn"] = [dict(type="agent", agent_num=agent_num) if i < agent_blocks else None for i in range(cfg["depth"])]
    return VisionTransformer(**cfg)


@register_model(**_AGENT_DEIT_CFG)
def agent_deit_tiny(**kwargs: Any) -> VisionTransformer:
    """Agent-DeiT-T: DeiT-T (192 wide, 3 heads) with agent attention (49 agents) in all 12 blocks (6.0 M params)."""
    return _agent_deit(dict(embed_dim=192, num_heads=3), 49, **kwargs)


@register_model(**_AGENT_DEIT_CFG)
def agent_deit_small(**kwargs: Any) -> VisionTransformer:
    """Agent-DeiT-S: DeiT-S (384 wide, 6 heads), 49 agents in all blocks (22.7 M params)."""
    return _agent_deit(dict(embed_dim=384, num_heads=6), 49, **kwargs)


@register_model(**_AGENT_DEIT_CFG)
def agent_deit_base(**kwargs: Any) -> VisionTransformer:
    """Agent-DeiT-B: DeiT-B (768 wide, 12 heads), 81 agents in the first 4 blocks, softmax after (87.2 M params)."""
    return _agent_deit(dict(embed_dim=768, num_heads=12), 81, agent_blocks=4, **kwargs)


def _agent_swin(arch: dict[str, Any], attn_type: str, **kwargs: Any) -> SwinTransformer:
    cfg = dict(img_size=224, window_size=7, **arch)
    cfg.update(kwargs)
    if "attn" not in kwargs:
        cfg["attn"] = agent_stage_configs(attn_type, tuple(cfg["depths"]))
    return SwinTransformer(**cfg)


@register_model(**{**_AGENT_CFG, "classifier": "head.fc"})
def agent_swin_tiny(**kwargs: Any) -> SwinTransformer:
    """Agent-Swin-T: Swin-T with ``AAAB`` (agents 9-16-49-49; stage 4 window attention) (29 M params)."""
    arch = dict(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24))
    return _agent_swin(arch, "AAAB", **{"drop_path_rate": 0.2, **kwargs})


@register_model(**{**_AGENT_CFG, "classifier": "head.fc"})
def agent_swin_small(**kwargs: Any) -> SwinTransformer:
    """Agent-Swin-S: Swin-S with ``AABB`` (agent attention in stages 1-2) (50 M params)."""
    arch = dict(embed_dim=96, depths=(2, 2, 18, 2), num_heads=(3, 6, 12, 24))
    return _agent_swin(arch, "AABB", **{"drop_path_rate": 0.3, **kwargs})


@register_model(**{**_AGENT_CFG, "classifier": "head.fc"})
def agent_swin_base(**kwargs: Any) -> SwinTransformer:
    """Agent-Swin-B: Swin-B with ``AAMB2`` (agent attention in stages 1-2 and the first 2 blocks of stage 3) (88 M)."""
    arch = dict(embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32))
    return _agent_swin(arch, "AAMB2", **{"drop_path_rate": 0.5, **kwargs})


def _agent_pvt(builder: Any, **kwargs: Any) -> PyramidVisionTransformer:
    depths = kwargs.get("depths", (2, 2, 2, 2))
    if "attn" not in kwargs:
        kwargs["attn"] = [dict(type="agent", agent_num=a, sr_ratio=1) for a in _STAGE_AGENTS[: len(depths)]]
    model = builder(**{"class_token": False, "global_pool": "avg", "drop_path_rate": 0.1, **kwargs})
    model.norm = nn.Identity()  # the official Agent-PVT pools the last stage without a final norm
    return model


@register_model(**_AGENT_CFG)
def agent_pvt_tiny(**kwargs: Any) -> PyramidVisionTransformer:
    """Agent-PVT-T: PVT-T without class token, agent attention (9-16-49-49 agents, no reduction) (11.6 M params)."""
    return _agent_pvt(pvt_tiny, **kwargs)


@register_model(**_AGENT_CFG)
def agent_pvt_small(**kwargs: Any) -> PyramidVisionTransformer:
    """Agent-PVT-S: PVT-S (depths 3-4-6-3) with agent attention as Agent-PVT-T (20.6 M params)."""
    return _agent_pvt(pvt_small, **kwargs)


# --- published weights -----------------------------------------------------------------------------
# The official LeapLabTHU/Agent-Attention ImageNet-1k releases.
#
# Top-1 is the publisher's figure (``agent_transformer/README.md``, "Pretrained Models", 224^2). Evaluation in
# the official code: resize 256/224 x size, centre crop, bicubic, ImageNet mean/std. The files are TsinghuaCloud
# links with ``?dl=1`` (direct downloads); no sha256 is published. The repository has no licence file at its
# root, so the licence is not stated. The checkpoints fix the input size to 224^2 (row/column agent biases,
# DeiT/PVT position embeddings): visionzoo loads them exactly and resamples those tables at other sizes.
# Released but not registered (no matching architecture here): Agent-DeiT-S 448^2 (83.1), Agent-PVT-M/L
# (83.4/83.8 at 256^2, 83.7), Agent-Swin-S 288^2 (84.1), Agent-Swin-B 384^2 (84.9), Agent-CSwin-T/S/B.
register_leaplab_weights(
    paper="Agent Attention: On the Integration of Softmax and Linear Attention (Han et al., ECCV 2024), https://arxiv.org/abs/2312.08874",
    code="https://github.com/LeapLabTHU/Agent-Attention",
    notes="official release (agent_transformer/README.md 'Pretrained Models'); 'model' key, official names",
    releases=[  # (architecture, top-1, TsinghuaCloud file id)
        ("agent_deit_tiny", 74.9, "57e0904221824ee7b7af"),
        ("agent_deit_small", 80.5, "fdd43304372541db8ea7"),
        ("agent_deit_base", 82.0, "5115f15fdd7e4ab58fbc"),
        ("agent_pvt_tiny", 78.4, "13fdf0e0a7c5498c934f"),
        ("agent_pvt_small", 82.2, "36b8be9a8863456685a3"),
        ("agent_swin_tiny", 82.6, "a2ddc1190c224f768a41"),
        ("agent_swin_small", 83.7, "f607172c9fea4d6e99bb"),
        ("agent_swin_base", 84.0, "4fcd2d0114bb490483c3"),
    ],
)
