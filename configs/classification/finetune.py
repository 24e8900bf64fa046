# Fine-tuning any registered classifier from its published weights on your own ImageFolder (a generic recipe, not a
# published one): AdamW lr 1e-4, weight decay 0.05, layer-wise lr decay 0.65, 2 warm-up epochs then cosine to 1e-6
# over 30 epochs, label smoothing 0.1, lighter augmentation (RandAugment rand-m6-mstd0.5-inc1, no colour jitter,
# no random erasing, no Mixup / CutMix), gradient clipping at norm 1.0.
#   python tools/train.py configs/classification/finetune.py --cfg-options data_root=DIR
#   python tools/train.py configs/classification/finetune.py --cfg-options model.name=swin_tiny_patch4_window7_224.ms_in1k data_root=DIR
#   python tools/train.py configs/classification/finetune.py --cfg-options model.name=resnet50.tv_in1k data_root=DIR
# DIR holds DIR/train/<class>/* and DIR/val/<class>/* (ImageFolder). model.name is any classifier, with or without a
# weight tag (`python -c "import visionzoo as vz; print(vz.list_pretrained())"` lists them); its published weights
# are loaded (pretrained=True) and its classifier is rebuilt for the classes found in DIR/train (num_classes=None ->
# taken from the data; replace_head=True allows an explicit num_classes that differs from the weights' head).
# Input size, interpolation, crop_pct, mean and std come from the weight tag's pretrained_cfg (ViT AugReg weights
# normalise with 0.5/0.5, torchvision ResNets with ImageNet's mean/std), so each model sees what it was trained on.
# Layer-wise lr decay: TimmOptimWrapperConstructor groups parameters with the model's group_matcher() (every
# visionzoo classifier backbone has one) and gives the head the full lr and each earlier block/stage 0.65x the one
# after it (timm's param_groups_layer_decay). For a ResNet or a small dataset, 0.65 may freeze the stem in effect:
# raise it (optim_wrapper.paramwise_cfg.layer_decay=0.8) or turn it off with 1.0.
# Stochastic depth for transformers: add +model.drop_path_rate=0.1 (ResNets take no drop_path_rate).
# lr 1e-4 is for a total batch of 64 (one GPU below); scale it linearly for another total.
_base_ = ["../_base_/datasets/imagenet.py", "../_base_/schedules/imagenet_adamw_cosine_300e.py",
          "../_base_/classification_runtime.py"]

data_root = "data/my_dataset"  # placeholder: a real folder is required, pass --cfg-options data_root=DIR
model = dict(name="vit_small_patch16_224.augreg_in21k_ft_in1k", pretrained=True, num_classes=None)
classifier = dict(replace_head=True, mixup=None, label_smoothing=0.1)

train_dataloader = dict(
    batch_size=64,
    num_workers=4,
    # interpolation=None: the weights' own (the ImageNet base hard-codes bicubic for training)
    dataset=dict(pipeline=dict(interpolation=None, auto_augment="rand-m6-mstd0.5-inc1", color_jitter=None,
                               re_prob=0.0)),
)
val_dataloader = dict(batch_size=64, num_workers=4)
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(type="AdamW", lr=1e-4, weight_decay=0.05),
    constructor="TimmOptimWrapperConstructor",
    paramwise_cfg=dict(layer_decay=0.65),
    clip_grad=dict(max_norm=1.0),
)
param_scheduler = [  # per iteration: 1e-6 -> 1e-4 over 2 epochs, cosine to 1e-6 at epoch 30
    dict(type="LinearLR", start_factor=1e-2, end_factor=1.0, begin=0, end=2, by_epoch=True, convert_to_iter_based=True),
    dict(type="CosineAnnealingLR", T_max=28, eta_min=1e-6, begin=2, end=30, by_epoch=True, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=30, val_interval=1)
default_hooks = dict(logger=dict(interval=20))
