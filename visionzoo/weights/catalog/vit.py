"""ViT weights republished by timm on the Hugging Face Hub (AugReg, Steiner et al. 2022; original ViT release).

Top-1 figures: timm's ImageNet-1k evaluation (huggingface/pytorch-image-models, results/results-imagenet.csv).
"""
from ...registry import register_weights
from ..entry import IMAGENET_INCEPTION_MEAN, IMAGENET_INCEPTION_STD, WeightEntry

AUGREG_PAPER = "How to train your ViT? (Steiner et al., TMLR 2022), https://arxiv.org/abs/2106.10270"


def _timm(name_tag: str, top1: float, top5: float, size: int = 224, paper: str = AUGREG_PAPER) -> None:
    arch, tag = name_tag.split(".")
    register_weights(
        arch,
        tag,
        WeightEntry(
            source="timm",
            hf_hub_id=f"timm/{name_tag}",
            hf_filename="model.safetensors",
            license="apache-2.0",
            paper=paper,
            metrics={"imagenet_top1": top1, "imagenet_top5": top5},
            input_size=(3, size, size),
            mean=IMAGENET_INCEPTION_MEAN,
            std=IMAGENET_INCEPTION_STD,
            crop_pct=0.9 if size == 224 else 1.0,
        ),
    )


_timm("vit_tiny_patch16_224.augreg_in21k_ft_in1k", 75.452, 92.858)
_timm("vit_tiny_patch16_384.augreg_in21k_ft_in1k", 78.438, 94.542, 384)
_timm("vit_small_patch16_224.augreg_in21k_ft_in1k", 81.402, 96.150)
_timm("vit_small_patch16_224.augreg_in1k", 78.842, 94.280)
_timm("vit_small_patch16_384.augreg_in21k_ft_in1k", 83.814, 97.106, 384)
_timm("vit_base_patch16_224.augreg2_in21k_ft_in1k", 85.108, 97.530)
_timm("vit_base_patch16_224.augreg_in21k_ft_in1k", 84.534, 97.300)
_timm("vit_base_patch16_224.orig_in21k_ft_in1k", 81.782, 96.122, paper="An Image is Worth 16x16 Words (Dosovitskiy et al., ICLR 2021)")
_timm("vit_base_patch16_384.augreg_in21k_ft_in1k", 86.010, 97.998, 384)
