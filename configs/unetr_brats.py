# UNETR (Hatamizadeh et al. 2022) on BraTS 2021 fold 0, with the Swin UNETR BRATS21 training recipe
# (same data pipeline, AdamW schedule, DiceLoss and sliding-window evaluation) for a like-for-like comparison.
_base_ = [
    "_base_/datasets/brats.py",
    "_base_/schedules/adamw_warmup_cosine_300e.py",
    "_base_/default_runtime.py",
]

model = dict(name="unetr", in_chans=4, num_classes=3, img_size=(128, 128, 128))

segmenter = dict(
    type="VolumeSegmenter",
    loss=dict(type="DiceLoss", to_onehot_y=False, sigmoid=True),
    inference=dict(roi_size=(128, 128, 128), sw_batch_size=4, overlap=0.5, mode="constant", threshold=0.5),
)
