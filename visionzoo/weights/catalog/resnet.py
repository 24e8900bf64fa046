"""ResNet weights: torchvision's ImageNet releases (republished by timm), official CBAM and triplet-attention releases.

Sources (the publishers' own figures):

* torchvision: ``torchvision/models/resnet.py`` weight metadata (``ResNet*_Weights.IMAGENET1K_V1/V2``:
  acc@1/acc@5 on ImageNet-1k val; V1 evaluated at resize 256 / crop 224, V2 at resize 232 / crop 224,
  bilinear). timm republishes the same tensors as ``timm/resnet*.tv_in1k`` / ``tv2_in1k`` safetensors on
  the Hugging Face Hub (BSD-3-Clause); the original ``.pth`` URLs are kept in ``notes``.
* CBAM: Jongchan/attention-module README: "ResNet50+CBAM (trained for 100 epochs) checkpoint ...
  ACC@1=77.622 ACC@5=93.948", a Dropbox link; evaluation in ``train_imagenet.py`` is Scale(256) +
  CenterCrop(224) with ImageNet mean/std. MIT licence.
* Triplet attention: landskape-ai/triplet-attention README, "Pretrained Models / ImageNet": top-1/top-5
  *error* per model (recorded here as 100 - error) with Google Drive links; ``train_imagenet.py``
  evaluates at Resize(256) + CenterCrop(224). MIT licence. Only the kernel-7 files fit the registered
  ``resnet*_triplet`` models; the kernel-3 files (R-18 70.33, R-50 76.12 top-1) load into a model built
  with ``block_attn=dict(type="triplet", kernel_size=3)`` through ``checkpoint_path=``.

The CBAM and triplet links are sharing pages (Dropbox ``?dl=0``, Google Drive viewer), recorded as the
publishers give them; no sha256 is published for any of these files.
"""
from ...registry import register_weights
from ..entry import WeightEntry

_TV_PAPER = "Deep Residual Learning for Image Recognition (He et al., CVPR 2016), https://arxiv.org/abs/1512.03385"
_CBAM_PAPER = "CBAM: Convolutional Block Attention Module (Woo et al., ECCV 2018), https://arxiv.org/abs/1807.06521"
_TRIPLET_PAPER = (
    "Rotate to Attend: Convolutional Triplet Attention Module (Misra et al., WACV 2021), https://arxiv.org/abs/2010.03045"
)
_TV = "https://download.pytorch.org/models/"
_MANUAL = (
    "The link is a sharing page, not the file: download the checkpoint by hand and pass it as "
    "checkpoint_path= (pretrained=True would fetch the HTML page)."
)


def _torchvision(name_tag: str, top1: float, top5: float, original: str, crop_pct: float, recipe: str) -> None:
    arch, tag = name_tag.split(".")
    register_weights(
        arch,
        tag,
        WeightEntry(
            source="timm",
            hf_hub_id=f"timm/{name_tag}",
            hf_filename="model.safetensors",
            license="bsd-3-clause",
            paper=_TV_PAPER,
            official_code="https://github.com/pytorch/vision",
            metrics={"imagenet_top1": top1, "imagenet_top5": top5},
            crop_pct=crop_pct,
            interpolation="bilinear",
            notes=f"torchvision {recipe}; original release: {_TV}{original}",
        ),
    )


_V1 = "IMAGENET1K_V1 (the paper's recipe; eval resize 256, crop 224)"
_V2 = "IMAGENET1K_V2 (torchvision's new recipe, pytorch/vision#3995; eval resize 232, crop 224)"
_torchvision("resnet18.tv_in1k", 69.758, 89.078, "resnet18-f37072fd.pth", 0.875, _V1)
_torchvision("resnet34.tv_in1k", 73.314, 91.420, "resnet34-b627a593.pth", 0.875, _V1)
_torchvision("resnet50.tv_in1k", 76.130, 92.862, "resnet50-0676ba61.pth", 0.875, _V1)
_torchvision("resnet50.tv2_in1k", 80.858, 95.434, "resnet50-11ad3fa6.pth", 0.965, _V2)
_torchvision("resnet101.tv_in1k", 77.374, 93.546, "resnet101-63fe2227.pth", 0.875, _V1)
_torchvision("resnet101.tv2_in1k", 81.886, 95.780, "resnet101-cd907fc2.pth", 0.965, _V2)

register_weights(
    "resnet50_cbam",
    "official_in1k",
    WeightEntry(
        source="cbam",
        url="https://www.dropbox.com/s/bt6zty02h9ibufi/RESNET50_CBAM_new_name_wrap.pth?dl=0",
        sha256=None,
        license="mit",
        paper=_CBAM_PAPER,
        official_code="https://github.com/Jongchan/attention-module",
        metrics={"imagenet_top1": 77.622, "imagenet_top5": 93.948},
        crop_pct=0.875,
        interpolation="bilinear",
        notes=(
            "ResNet-50 + CBAM trained 100 epochs (README, 'Resume with checkpoints'); the same README gives "
            f"ResNet-50 + BAM 76.860 (not a CBAM model, not registered). {_MANUAL}"
        ),
    ),
)


def _triplet(arch: str, top1_err: float, top5_err: float, url: str) -> None:
    register_weights(
        arch,
        "official_in1k",
        WeightEntry(
            source="triplet",
            url=url,
            sha256=None,
            license="mit",
            paper=_TRIPLET_PAPER,
            official_code="https://github.com/landskape-ai/triplet-attention",
            metrics={"imagenet_top1": round(100 - top1_err, 3), "imagenet_top5": round(100 - top5_err, 3)},
            crop_pct=0.875,
            interpolation="bilinear",
            notes=(
                f"Kernel 7; the README reports top-1/top-5 error {top1_err}% / {top5_err}%. Released key names "
                f"predate the module's renaming (see visionzoo/weights/converters/resnet.py). {_MANUAL}"
            ),
        ),
    )


_triplet("resnet18_triplet", 28.91, 10.01, "https://drive.google.com/file/d/1jIDfA0Psce10L06hU0Rtz8t7s2U1oqLH/view?usp=sharing")
_triplet("resnet50_triplet", 22.52, 6.326, "https://drive.google.com/open?id=1ptKswHzVmULGbE3DuX6vMCjEbqwUvGiG")
