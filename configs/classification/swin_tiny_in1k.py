# Swin-T on ImageNet-1k, the published recipe (Liu et al. 2021; microsoft/Swin-Transformer
# configs/swin/swin_tiny_patch4_window7_224.yaml + config.py defaults): 300 epochs, total batch 1024,
# AdamW lr 1e-3, weight decay 0.05, 20 warm-up epochs from 1e-6 then cosine to 1e-5 (BASE_LR 5e-4,
# WARMUP_LR 5e-7, MIN_LR 5e-6 per 512 images, scaled linearly to 1024), gradient clipping 5.0, stochastic depth 0.2, DeiT augmentation without repeated
# augmentation, Mixup 0.8 / CutMix 1.0 / label smoothing 0.1, no EMA. Published top-1: 81.2 (224^2).
#   python tools/train.py configs/classification/swin_tiny_in1k.py --cfg-options data_root=/data/imagenet
#   python tools/test.py configs/classification/swin_tiny_in1k.py CKPT --cfg-options data_root=/data/imagenet
# Published weights: --cfg-options model.name=swin_tiny_patch4_window7_224.ms_in1k +model.pretrained=True
_base_ = ["../_base_/recipes/swin_300e.py"]

model = dict(name="swin_tiny_patch4_window7_224", num_classes=1000, drop_path_rate=0.2)
