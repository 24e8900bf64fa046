# The DeiT-style ImageNet-1k recipe (facebookresearch/deit main.py) that DeiT, BiFormer, PVTv2 and Twins train with:
# total batch 1024 (128 per GPU x 8), AdamW lr 1e-3 (5e-4 per 512), weight decay 0.05 (not on 1-D params or
# no_weight_decay() names), 5 warm-up epochs from 1e-6 then cosine to 1e-5, stepped per epoch as timm's scheduler
# does; DeiT's augmentation (the ImageNet base), Mixup 0.8 / CutMix 1.0 / label smoothing 0.1; evaluation crop 0.875.
# mmengine's LinearLR reaches its end factor at its last epoch, so end=6 gives timm's warm-up exactly (1e-3 at epoch
# 5); the cosine then runs over epochs 6-300, where timm's spans 0-300 under the warm-up: at most 1.8% of the peak lr.
# The official runs also use repeated augmentation (3 repeats), which visionzoo has no sampler for.
_base_ = ["../datasets/imagenet.py", "../schedules/imagenet_adamw_cosine_300e.py", "../classification_runtime.py"]

classifier = dict(mixup=dict(mixup_alpha=0.8, cutmix_alpha=1.0, prob=1.0, switch_prob=0.5, mode="batch",
                             label_smoothing=0.1))
train_dataloader = dict(batch_size=128)  # per GPU; 8 GPUs = 1024, the batch lr 1e-3 is set for
val_dataloader = dict(dataset=dict(pipeline=dict(crop_pct=0.875)))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=0.05))
param_scheduler = [  # per epoch: 1e-6 + e x (1e-3 - 1e-6) / 5 for epochs e = 0-5, then cosine to 1e-5
    dict(type="LinearLR", start_factor=1e-3, end_factor=1.0, begin=0, end=6, by_epoch=True),
    dict(type="CosineAnnealingLR", T_max=294, eta_min=1e-5, begin=6, end=300, by_epoch=True),
]
train_cfg = dict(max_epochs=300)
