"""Swin Transformer weights: the official Microsoft releases, as republished by timm on the Hugging Face Hub.

Top-1: the publisher's figure (microsoft/Swin-Transformer README) and timm's re-evaluation
(huggingface/pytorch-image-models results/results-imagenet.csv). The original ``.pth`` files load
through ``checkpoint_path=`` with the Microsoft converter; their URLs are kept in ``notes``.
"""
from ...registry import register_weights
from ..entry import WeightEntry

PAPER = "Swin Transformer (Liu et al., ICCV 2021), https://arxiv.org/abs/2103.14030"
_MS = "https://github.com/SwinTransformer/storage/releases/download/"


def _swin(name_tag: str, published: float, timm_top1: float, original: str, size: int = 224) -> None:
    arch, tag = name_tag.split(".")
    register_weights(
        arch,
        tag,
        WeightEntry(
            source="timm",
            hf_hub_id=f"timm/{name_tag}",
            hf_filename="model.safetensors",
            license="mit",
            paper=PAPER,
            metrics={"imagenet_top1": published, "imagenet_top1_timm": timm_top1},
            input_size=(3, size, size),
            crop_pct=0.9 if size == 224 else 1.0,
            notes=f"original release: {_MS}{original}",
        ),
    )


_swin("swin_tiny_patch4_window7_224.ms_in1k", 81.2, 81.388, "v1.0.0/swin_tiny_patch4_window7_224.pth")
_swin("swin_tiny_patch4_window7_224.ms_in22k_ft_in1k", 80.9, 80.966, "v1.0.8/swin_tiny_patch4_window7_224_22kto1k_finetune.pth")
_swin("swin_small_patch4_window7_224.ms_in1k", 83.2, 83.228, "v1.0.0/swin_small_patch4_window7_224.pth")
_swin("swin_small_patch4_window7_224.ms_in22k_ft_in1k", 83.2, 83.330, "v1.0.8/swin_small_patch4_window7_224_22kto1k_finetune.pth")
_swin("swin_base_patch4_window7_224.ms_in1k", 83.5, 83.604, "v1.0.0/swin_base_patch4_window7_224.pth")
_swin("swin_base_patch4_window7_224.ms_in22k_ft_in1k", 85.2, 85.276, "v1.0.0/swin_base_patch4_window7_224_22kto1k.pth")
_swin("swin_base_patch4_window12_384.ms_in1k", 84.5, 84.478, "v1.0.0/swin_base_patch4_window12_384.pth", 384)
_swin("swin_base_patch4_window12_384.ms_in22k_ft_in1k", 86.4, 86.442, "v1.0.0/swin_base_patch4_window12_384_22kto1k.pth", 384)
