# AdamW lr 1e-4, weight decay 1e-5; linear warm-up for 50 epochs, then cosine to 0 at epoch 300
# (the Swin UNETR BRATS21 recipe; stepped per iteration rather than per epoch).
optim_wrapper = dict(type="OptimWrapper", optimizer=dict(type="AdamW", lr=1e-4, weight_decay=1e-5))
param_scheduler = [
    dict(type="LinearLR", start_factor=1e-3, end_factor=1.0, begin=0, end=50, by_epoch=True,
         convert_to_iter_based=True),
    dict(type="CosineAnnealingLR", T_max=250, eta_min=0.0, begin=50, end=300, by_epoch=True,
         convert_to_iter_based=True),
]
train_cfg = dict(type="ResumableEpochBasedTrainLoop", max_epochs=300, val_interval=10)
val_cfg = dict(type="ValLoop")
test_cfg = dict(type="TestLoop")
