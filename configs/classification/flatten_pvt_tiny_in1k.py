# FLatten-PVT-T on ImageNet-1k, the published FLatten Transformer recipe (Han et al. 2023). Published top-1: 77.8 (224^2).
# Source, verified: LeapLabTHU/FLatten-Transformer cfgs/flatten_pvt_t.yaml (BATCH_SIZE 128, WEIGHT_DECAY 0.05,
# EPOCHS 300, WARMUP_EPOCHS 5, COOLDOWN_EPOCHS 10, BASE_LR 5e-4, WARMUP_LR 1e-6, MIN_LR 1e-5, CLIP_GRAD None,
# DROP_PATH_RATE 0.1, ATTN_TYPE LLLL) over config.py, trained with main.py on 8 GPUs (README, with
# --find-unused-params: the official model carries a final norm its forward never uses; visionzoo's has no unused
# parameter, so DDP needs no find_unused_parameters):
#   per-GPU batch 128 x 8 GPUs = 1024; AdamW, betas (0.9, 0.999), eps 1e-8, weight decay 0.05; main.py scales the
#   per-512 rates linearly: lr 1e-3, warm-up from 2e-6, min 2e-5 at batch 1024; 5 warm-up epochs, cosine to
#   epoch 300, then 10 cool-down epochs at the min lr (main.py trains EPOCHS + COOLDOWN_EPOCHS = 310 epochs),
#   stepped every iteration; no gradient clipping; stochastic depth 0.1; label smoothing 0.1 through Mixup 0.8 /
#   CutMix 1.0 (prob 1.0, switch prob 0.5, per batch); RandAugment rand-m9-mstd0.5-inc1, colour jitter 0.4 (inactive:
#   timm, then and now, skips it when RandAugment is on),
#   bicubic random-resized crop, flip, random erasing 0.25 (pixel, 1 box); no repeated augmentation, no EMA;
#   evaluation: resize to 256x256 (aspect not kept, bicubic), centre crop 224.
# Deviation: the official FLatten-PVT no_weight_decay() is {'cls_token'} only, so its per-stage position embeddings
# are decayed; visionzoo's flatten_pvt_tiny.no_weight_decay() lists them, so TimmOptimWrapperConstructor exempts them
# (not configurable there).
# Schedule: the cosine runs over epochs 5-300 here, while timm's (t_initial = 300 epochs, no warm-up prefix)
# spans 0-300 with the first 5 overwritten by the warm-up: at most 1.5% of the peak lr apart (near epoch 110).
#   python tools/train.py configs/classification/flatten_pvt_tiny_in1k.py --launcher pytorch --cfg-options data_root=/data/imagenet
_base_ = ["../_base_/recipes/leaplab_pvt_310e.py"]

model = dict(name="flatten_pvt_tiny", num_classes=1000, drop_path_rate=0.1)
