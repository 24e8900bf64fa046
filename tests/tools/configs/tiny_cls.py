# A seconds-long classification run for the tool tests: a one-block-per-stage ResNet-18 with CBAM on 32 px images of
# a generated ImageFolder (data_root is set by the tests), Mixup/CutMix and label smoothing on, 2 epochs.
_base_ = ["../../../configs/_base_/datasets/imagenet.py", "../../../configs/_base_/schedules/imagenet_adamw_cosine_300e.py",
          "../../../configs/_base_/classification_runtime.py"]

data_root = None
model = dict(name="resnet18_cbam", layers=(1, 1, 1, 1), num_classes=None)
classifier = dict(mixup=dict(mixup_alpha=0.8, cutmix_alpha=1.0, label_smoothing=0.1))

_size = (3, 32, 32)
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(pipeline=dict(input_size=_size, auto_augment="rand-m9-mstd0.5-inc1")))
val_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                      dataset=dict(pipeline=dict(input_size=_size)))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=1e-3), clip_grad=dict(max_norm=5.0))
param_scheduler = [
    dict(type="LinearLR", start_factor=0.1, end_factor=1.0, begin=0, end=1, by_epoch=True, convert_to_iter_based=True),
    dict(type="CosineAnnealingLR", T_max=1, eta_min=1e-5, begin=1, end=2, by_epoch=True, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=2, val_interval=1)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=3, max_keep_ckpts=2))
custom_hooks = [dict(type="EMAHook", momentum=0.01, update_buffers=True)]
randomness = dict(seed=0, deterministic=True)
