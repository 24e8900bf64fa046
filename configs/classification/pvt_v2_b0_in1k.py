# PVTv2-B0 on ImageNet-1k, the published PVTv2 recipe (Wang et al. 2022). Published top-1: 70.5 (224^2).
# Source, verified: whai362/PVT classification/configs/pvt_v2/pvt_v2_b0.py (drop_path 0.1, clip_grad None) over the
# classification/main.py argument defaults (DeiT's training code), run with classification/dist_train.sh on 8 GPUs
# (README: "a single node with 8 gpus for 300 epochs"):
#   per-GPU batch 128 (main.py default) x 8 GPUs = 1024; AdamW (opt_eps 1e-8, timm default betas 0.9/0.999),
#   weight decay 0.05 (none on 1-D params and biases); lr 5e-4 x 1024/512 = 1e-3 (main.py scales --lr by total
#   batch / 512); 5 warm-up epochs from 1e-6, cosine to 1e-5 (neither scaled), stepped once per epoch (timm
#   scheduler); 300 epochs (the scheduler's 10 cooldown epochs are never reached: main.py loops over `epochs`);
#   no gradient clipping; stochastic depth 0.1; label smoothing 0.1 through Mixup 0.8 / CutMix 1.0 (prob 1.0,
#   switch prob 0.5, per batch); RandAugment rand-m9-mstd0.5-inc1, colour jitter 0.4 (inactive: timm, then and now,
#   skips it when RandAugment is on), bicubic random-resized crop,
#   flip, random erasing 0.25 (pixel, 1 box); no EMA (commented out in main.py); evaluation: shorter side 256
#   (bicubic), centre crop 224 (crop_pct 0.875; the timm weights' pretrained_cfg says 0.9).
# Deviations from the official run:
#   - repeated augmentation (main.py: repeated_aug defaults to True, 3 repeats per image per epoch): visionzoo has
#     no repeated-aug sampler, so each image is sampled once per epoch here.
#   - the schedule: mmengine's LinearLR reaches its end factor at its last epoch, so end=6 gives timm's warm-up
#     exactly (1e-3 at epoch 5); the cosine then runs over epochs 6-300, where timm's spans 0-300 with the first 5
#     overwritten by the warm-up: the two differ by at most 1.8% of the peak lr.
#   python tools/train.py configs/classification/pvt_v2_b0_in1k.py --launcher pytorch --cfg-options data_root=/data/imagenet
_base_ = ["../_base_/recipes/deit_300e.py"]

model = dict(name="pvt_v2_b0", num_classes=1000, drop_path_rate=0.1)
