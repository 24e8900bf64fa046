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
_base_ = ["../_base_/datasets/imagenet.py", "../_base_/schedules/imagenet_adamw_cosine_300e.py",
          "../_base_/classification_runtime.py"]

model = dict(name="agent_swin_tiny", num_classes=1000, drop_path_rate=0.2)
classifier = dict(mixup=dict(mixup_alpha=0.8, cutmix_alpha=1.0, prob=1.0, switch_prob=0.5, mode="batch",
                             label_smoothing=0.1))

train_dataloader = dict(batch_size=128)  # per GPU; 8 GPUs = 1024, the batch lr 1e-3 is set for
val_dataloader = dict(dataset=dict(pipeline=dict(crop_pct=0.875, crop_mode="squash")))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=0.05), clip_grad=dict(max_norm=5.0))
param_scheduler = [  # per iteration: 1e-6 -> 1e-3 over 20 epochs, cosine to 1e-5 at epoch 300
    dict(type="LinearLR", start_factor=1e-3, end_factor=1.0, begin=0, end=20, by_epoch=True, convert_to_iter_based=True),
    dict(type="CosineAnnealingLR", T_max=280, eta_min=1e-5, begin=20, end=300, by_epoch=True,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=300)
