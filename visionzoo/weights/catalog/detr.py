"""DETR weights: the official facebookresearch/detr COCO releases (``model`` key, official layout).

Box AP: the publisher's figures on COCO 2017 val5k (README "Model Zoo", 500-epoch schedule). Files are
served at ``https://dl.fbaipublicfiles.com/detr/detr-<arch>-<hash8>.pth``; the 8 hex digits are the
start of the file's sha256 (torch.hub's ``check_hash`` convention). The full digest is not published,
so `sha256` stays None and the prefix is recorded in ``notes``. Preprocessing: ImageNet mean/std,
shorter side resized to 800 with the longer side at most 1333 (``datasets/coco.py``); boxes are
predicted as normalised cx, cy, w, h over the 91 COCO category ids (+ no object). Apache-2.0.
"""
from ...registry import register_weights
from ..entry import WeightEntry

_PAPER = "End-to-End Object Detection with Transformers (Carion et al., ECCV 2020), https://arxiv.org/abs/2005.12872"
_URL = "https://dl.fbaipublicfiles.com/detr/"


def _detr(arch: str, filename: str, box_ap: float, notes: str) -> None:
    sha_prefix = filename.rsplit("-", 1)[1].split(".")[0]
    register_weights(
        arch,
        "fb_coco",
        WeightEntry(
            source="facebookresearch",
            url=_URL + filename,
            sha256=None,
            license="apache-2.0",
            paper=_PAPER,
            official_code="https://github.com/facebookresearch/detr",
            metrics={"coco_val2017_box_ap": box_ap},
            num_classes=91,
            input_size=(3, 800, 1333),
            crop_pct=None,
            interpolation="bilinear",
            notes=(
                f"{notes}; resize shorter side 800, longer side <= 1333; sha256 starts with {sha_prefix} "
                "(torch.hub file-name convention; the full digest is not published)."
            ),
        ),
    )


_detr("detr_r50", "detr-r50-e632da11.pth", 42.0, "DETR R50, 500 epochs, batch 2 per GPU on 8 V100 (159 MB)")
_detr("detr_r101", "detr-r101-2c7b67e5.pth", 43.5, "DETR R101, 500 epochs (232 MB)")
