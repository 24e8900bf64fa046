# Swin UNETR on BraTS 2021, fold 0: the published recipe (Hatamizadeh et al. 2022; MONAI
# research-contributions SwinUNETR/BRATS21). Feature size 48 (62.2 M parameters), ROI 128^3, batch 1,
# AdamW 1e-4 / 1e-5, 50 warm-up epochs then cosine to 300, DiceLoss(sigmoid), sliding-window
# validation with overlap 0.5 and sigmoid > 0.5.
# Needs a GPU: one training step takes ~15.5 GiB and ~70 s on a 2-core CPU (use swin_unetr_brats_synthetic.py there).
#   python tools/train.py configs/swin_unetr_brats.py --cfg-options data_root=/data/BraTS2021_Training_Data
#   torchrun --nproc_per_node=8 tools/train.py configs/swin_unetr_brats.py --launcher pytorch
_base_ = [
    "_base_/datasets/brats.py",
    "_base_/schedules/adamw_warmup_cosine_300e.py",
    "_base_/default_runtime.py",
]

# the network: any visionzoo.create_model(**model) call
model = dict(name="swin_unetr_brats", feature_size=48)

# how it is trained and evaluated (visionzoo.engine.VolumeSegmenter)
# Inference (validation, tools/test.py, tools/infer.py) keeps the published overlap 0.5 and runs in bf16 where the
# hardware has native bf16 (AVX512-BF16/AMX CPUs, Ampere+ GPUs; fp32 elsewhere), one 128^3 tile at a time: a whole
# 240x240x155 case in 58.5 s and 3.8 GiB on 2 cores instead of 181 s and 13.7 GiB (fp32, 4 tiles per batch), with
# Dice within 0.0005 of fp32 (model card). The published setting exactly:
#   --precision fp32 --cfg-options segmenter.inference.sw_batch_size=4
segmenter = dict(
    type="VolumeSegmenter",
    loss=dict(type="DiceLoss", to_onehot_y=False, sigmoid=True),  # or dict(type="DiceBCELoss")
    precision="auto",
    # the published test script uses overlap 0.6: --cfg-options segmenter.inference.overlap=0.6
    inference=dict(roi_size=(128, 128, 128), sw_batch_size=1, overlap=0.5, mode="constant", threshold=0.5),
)
