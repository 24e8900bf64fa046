# BraTS 2021 (TC/WT/ET regions) with the published Swin UNETR pipeline.
# `data_root` and `fold` are read by every split's BratsSegDataset (they are filled in when a dataset
# dict omits them), so `--cfg-options data_root=DIR fold=1` moves all of them at once.
data_root = "data/BraTS2021_Training_Data"  # case folders BraTS2021_XXXXX/ and brats21_folds.json
fold = 0

train_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type="ResumableSampler", shuffle=True),  # seeded per draw: exact mid-epoch resume
    # "visionzoo." scope prefix: mmengine looks collate functions up in its root registry
    collate_fn=dict(type="visionzoo.brats_collate"),
    dataset=dict(
        type="BratsSegDataset",
        split="train",
        # regions, brain crop, random 128^3 crop, flips on 3 axes, non-zero channel-wise z-score,
        # intensity scale and shift 0.1
        pipeline=dict(type="BratsTransforms", mode="train", roi_size=(128, 128, 128), crop="random",
                      flip_prob=0.5, intensity_scale=0.1, intensity_shift=0.1),
    ),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type="DefaultSampler", shuffle=False),
    collate_fn=dict(type="visionzoo.brats_collate"),
    dataset=dict(type="BratsSegDataset", split="val", pipeline=dict(type="BratsTransforms", mode="val")),
)
test_dataloader = val_dataloader  # BraTS 2021 validation labels are not public: test on the held-out fold

val_evaluator = dict(type="BratsMetric")
test_evaluator = val_evaluator
