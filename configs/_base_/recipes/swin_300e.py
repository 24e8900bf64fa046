# Swin's ImageNet-1k recipe (microsoft/Swin-Transformer config.py defaults + main.py), which the Swin-based FLatten
# and Agent models (and Agent-DeiT, trained with the same code base) follow: total batch 1024 (128 per GPU x 8),
# AdamW lr 1e-3 (BASE_LR 5e-4 per 512), weight decay 0.05 (not on 1-D params or no_weight_decay() names), 20 warm-up
# epochs from 1e-6 then cosine to 1e-5, stepped per iteration; gradient clipping 5.0; DeiT's augmentation (the
# ImageNet base) with Mixup 0.8 / CutMix 1.0 / label smoothing 0.1, no repeated augmentation, no EMA.
# mmengine's cosine runs over epochs 20-300, timm's spans 0-300 under the warm-up: at most 6.2% of the peak lr apart.
_base_ = ["../datasets/imagenet.py", "../schedules/imagenet_adamw_cosine_300e.py", "../classification_runtime.py"]

classifier = dict(mixup=dict(mixup_alpha=0.8, cutmix_alpha=1.0, prob=1.0, switch_prob=0.5, mode="batch",
                             label_smoothing=0.1))
train_dataloader = dict(batch_size=128)  # per GPU; 8 GPUs = 1024, the batch lr 1e-3 is set for

optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=0.05), clip_grad=dict(max_norm=5.0))
param_scheduler = [  # per iteration: 1e-6 -> 1e-3 over 20 epochs, cosine to 1e-5 at epoch 300
    dict(type="LinearLR", start_factor=1e-3, end_factor=1.0, begin=0, end=20, by_epoch=True, convert_to_iter_based=True),
    dict(type="CosineAnnealingLR", T_max=280, eta_min=1e-5, begin=20, end=300, by_epoch=True,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=300)
