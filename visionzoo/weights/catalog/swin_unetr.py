"""Swin UNETR weights: MONAI research-contributions releases (BraTS 2021 folds, self-supervised CT encoder).

Sources (checked against the publisher's files):

* BraTS 2021: ``Project-MONAI/research-contributions/SwinUNETR/BRATS21/README.md`` — the five
  ``fold{k}_f48_ep300_4gpu_dice0_XXXX.zip`` downloads, "Mean Dice" per fold (the average of the TC, WT
  and ET Dice on that fold's validation split of ``brats21_folds.json``), feature size 48, 62.1 M
  parameters, ROI 128^3, 4 input channels, 3 output channels. The zips hold ``model.pt``: ``test.py``
  loads ``os.path.join(pretrained_dir, "model.pt")`` with ``pretrained_dir`` defaulting to
  ``./pretrained_models/fold1_f48_ep300_4gpu_dice0_9059/``, so the member is matched by file name at
  any depth. ``trainer.save_checkpoint`` writes ``{"epoch", "best_acc", "state_dict": MONAI SwinUNETR
  keys}`` (optionally ``optimizer``/``scheduler``). Inputs: ``utils/data_utils.py`` normalises with
  ``NormalizeIntensityd(nonzero=True, channel_wise=True)``; outputs are sigmoid channels TC, WT, ET
  (``ConvertToMultiChannelBasedOnBratsClassesd``; ``test.py`` thresholds at 0.5). The modality order
  is the fold json's ``image`` list: FLAIR, T1ce, T1, T2.
* Self-supervised encoder: ``SwinUNETR/Pretrain/README.md`` links ``model_swinvit.pt``, pre-trained
  on ~5050 CT volumes (HNSCC, LUNA16, TCIA Colonography, TCIA Covid-19, LIDC) with ``main.py``'s
  defaults: 1 channel, feature size 48, ROI 96^3, ``ScaleIntensityRanged(a_min=-1000, a_max=1000,
  b_min=0, b_max=1, clip=True)``, spacing 1.5 x 1.5 x 2.0 mm, RAS. Its key layout is the one
  MONAI's ``SwinUNETR.load_from`` reads (``state_dict`` key, ``module.``-prefixed Swin ViT keys, no
  decoder); the tag loads the encoder strictly and leaves the decoder freshly initialised.

No sha256 is published for any of these files (GitHub release assets, no checksum list), so the
entries pin none; a truncated download is still caught (length check, zip CRC, safe unpickling).
Licence: research-contributions' sources carry the Apache-2.0 header and the release assets state no
other licence, so the entries record apache-2.0.
"""
from ...registry import register_weights
from ..entry import WeightEntry

_RELEASE = "https://github.com/Project-MONAI/MONAI-extra-test-data/releases/download/0.8.1/"
_CODE = "https://github.com/Project-MONAI/research-contributions/tree/main/SwinUNETR/"
BRATS_PAPER = (
    "Swin UNETR: Swin Transformers for Semantic Segmentation of Brain Tumors in MRI Images "
    "(Hatamizadeh et al., BrainLes 2021), https://arxiv.org/abs/2201.01266"
)
SSL_PAPER = (
    "Self-Supervised Pre-Training of Swin Transformers for 3D Medical Image Analysis "
    "(Tang et al., CVPR 2022), https://arxiv.org/abs/2111.14791"
)
BRATS_NORMALIZATION = (
    "per volume and channel: z-score over the nonzero (brain) voxels, background left at 0 "
    "(MONAI NormalizeIntensityd(nonzero=True, channel_wise=True))"
)

# (fold, file-name suffix, reported mean validation Dice) from SwinUNETR/BRATS21/README.md
_BRATS21_FOLDS = ((0, "8854", 0.8854), (1, "9059", 0.9059), (2, "8981", 0.8981), (3, "8924", 0.8924), (4, "9035", 0.9035))

for _fold, _suffix, _dice in _BRATS21_FOLDS:
    register_weights(
        "swin_unetr_brats",
        f"brats21_fold{_fold}",
        WeightEntry(
            source="monai",
            url=f"{_RELEASE}fold{_fold}_f48_ep300_4gpu_dice0_{_suffix}.zip",
            archive_member="model.pt",
            sha256=None,
            license="apache-2.0",
            paper=BRATS_PAPER,
            official_code=_CODE + "BRATS21",
            metrics={"brats21_val_mean_dice": _dice},
            num_classes=3,
            input_size=(4, 128, 128, 128),
            mean=None,
            std=None,
            normalization=BRATS_NORMALIZATION,
            crop_pct=None,
            interpolation=None,
            channel_names=("flair", "t1ce", "t1", "t2"),
            class_names=("TC", "WT", "ET"),
            output_activation="sigmoid",
            notes=(
                f"BraTS 2021 fold {_fold} of brats21_folds.json (trained on the other four folds, 300 epochs, 4 GPUs). "
                "brats21_val_mean_dice: the publisher's mean of TC/WT/ET Dice on this fold's validation split "
                "(sliding-window inference, ROI 128^3); folds are different splits, so their figures are not a "
                "ranking. fold0 is the default tag only by order. Feature size 48, MONAI 'merging' patch-merge "
                "order. No sha256 published."
            ),
        ),
    )

register_weights(
    "swin_unetr",
    "ssl_swinvit",
    WeightEntry(
        source="monai_ssl",
        url=f"{_RELEASE}model_swinvit.pt",
        sha256=None,
        license="apache-2.0",
        paper=SSL_PAPER,
        official_code=_CODE + "Pretrain",
        metrics={},
        num_classes=None,
        input_size=(1, 96, 96, 96),
        mean=None,
        std=None,
        normalization="CT: clip to [-1000, 1000] HU and scale to [0, 1] (MONAI ScaleIntensityRanged); 1.5x1.5x2.0 mm, RAS",
        crop_pct=None,
        interpolation=None,
        channel_names=("ct",),
        notes=(
            "Self-supervised Swin ViT encoder only (inpainting + rotation + contrastive pre-training on ~5050 CT "
            "volumes): pretrained=True loads encoder.* strictly and leaves the decoder (any num_classes) freshly "
            "initialised, for fine-tuning. Architecture as pre-trained: in_chans 1, feature size 48, depths 2-2-2-2, "
            "heads 3-6-12-24, window 7, use_v2=False, 'merging' order. The publisher reports no metric for the "
            "encoder itself. No sha256 published."
        ),
    ),
)
