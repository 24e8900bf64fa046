# DETR's published schedule: AdamW lr 1e-4 (backbone 1e-5), weight decay 1e-4, gradient clipping at
# max-norm 0.1, 500 epochs with a 10x learning-rate drop after epoch 400.
optim_wrapper = dict(
    type="OptimWrapper",
    optimizer=dict(type="AdamW", lr=1e-4, weight_decay=1e-4),
    clip_grad=dict(max_norm=0.1, norm_type=2),
    # every parameter whose name contains "backbone" (DETR's lr_backbone)
    paramwise_cfg=dict(custom_keys={"backbone": dict(lr_mult=0.1)}),
)
param_scheduler = [dict(type="MultiStepLR", milestones=[400], gamma=0.1, by_epoch=True)]
train_cfg = dict(type="ResumableEpochBasedTrainLoop", max_epochs=500, val_interval=10)
val_cfg = dict(type="ValLoop")
test_cfg = dict(type="TestLoop")
