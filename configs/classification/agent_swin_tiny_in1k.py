# Agent-Swin-T on ImageNet-1k, the published Agent Attention recipe (Han et al. 2024). Published top-1: 82.6 (224^2).
# Source, verified: LeapLabTHU/Agent-Attention agent_transformer/cfgs/agent_swin_t.yaml (DROP_PATH_RATE 0.2, embed 96,
# depths 2-2-6-2, heads 3-6-12-24, WINDOW_SIZE 56, ATTN_TYPE AAAB, agents 9-16-49-49) over the
# agent_transformer/config.py defaults, trained with agent_transformer/main.py on 8 GPUs (README), i.e. Swin's recipe:
#   per-GPU batch 128 x 8 GPUs = 1024; AdamW, betas (0.9, 0.999), eps 1e-8, weight decay 0.05 (none on 1-D params,
#   biases, absolute_pos_embed and *relative_position_bias_table*); BASE_LR 5e-4, WARMUP_LR 5e-7, MIN_LR 5e-6 per
#   512 images, scaled linearly by main.py to lr 1e-3, warm-up from 1e-6, min 1e-5 at batch 1024; 300 epochs,
#   20 warm-up epochs then cosine, stepped every iteration; gradient clipping at norm 5.0; stochastic depth 0.2;
#   label smoothing 0.1 through Mixup 0.8 / CutMix 1.0 (prob 1.0, switch prob 0.5, per batch); RandAugment
#   rand-m9-mstd0.5-inc1, colour jitter 0.4 (inactive: timm, then and now, skips it when RandAugment is on), bicubic
#   random-resized crop, flip, random erasing 0.25 (pixel, 1 box);
#   no repeated augmentation, no EMA; evaluation: resize to 256x256 (aspect not kept, bicubic), centre crop 224.
# Schedule: the cosine runs over epochs 20-300 here, while timm's (t_initial = 300 epochs, no warm-up prefix)
# spans 0-300 with the first 20 overwritten by the warm-up: at most 6.2% of the peak lr apart (near epoch 110).
#   python tools/train.py configs/classification/agent_swin_tiny_in1k.py --launcher pytorch --cfg-options data_root=/data/imagenet
_base_ = ["../_base_/recipes/swin_300e.py"]

model = dict(name="agent_swin_tiny", num_classes=1000, drop_path_rate=0.2)
val_dataloader = dict(dataset=dict(pipeline=dict(crop_pct=0.875, crop_mode="squash")))
test_dataloader = val_dataloader
