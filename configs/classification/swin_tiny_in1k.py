# Swin-T on ImageNet-1k, the published recipe (Liu et al. 2021; microsoft/Swin-Transformer
# configs/swin/swin_tiny_patch4_window7_224.yaml + config.py defaults): 300 epochs, total batch 1024,
# AdamW lr 1e-3, weight decay 0.05, 20 warm-up epochs from 1e-6 then cosine to 1e-5 (BASE_LR 5e-4,
# WARMUP_LR 5e-7, MIN_LR 5e-6 per 512 images, scaled linearly to 1024), gradient clipping 5.0, stochastic depth 0.2, DeiT augmentation without repeated
# augmentation, Mixup 0.8 / CutMix 1.0 / label smoothing 0.1, no EMA. Published top-1: 81.2 (224^2).
#   python tools/train.py configs/classification/swin_tiny_in1k.py --cfg-options data_root=/data/imagenet
#   python tools/test.py configs/classification/swin_tiny_in1k.py CKPT --cfg-options data_root=/data/imagenet
# Published weights: --cfg-options model.name=swin_tiny_patch4_window7_224.ms_in1k +model.pretrained=True
_base_ = ["../_base_/datasets/imagenet.py", "../_base_/schedules/imagenet_adamw_cosine_300e.py",
          "../_base_/classification_runtime.py"]

model = dict(name="swin_tiny_patch4_window7_224", num_classes=1000, drop_path_rate=0.2)
classifier = dict(mixup=dict(mixup_alpha=0.8, cutmix_alpha=1.0, prob=1.0, switch_prob=0.5, mode="batch",
                             label_smoothing=0.1))

optim_wrapper = dict(optimizer=dict(lr=1e-3), clip_grad=dict(max_norm=5.0))
param_scheduler = [
    dict(type="LinearLR", start_factor=1e-3, end_factor=1.0, begin=0, end=20, by_epoch=True, convert_to_iter_based=True),
    dict(type="CosineAnnealingLR", T_max=280, eta_min=1e-5, begin=20, end=300, by_epoch=True,
         convert_to_iter_based=True),
]
