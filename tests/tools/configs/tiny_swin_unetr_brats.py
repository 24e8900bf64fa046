# A seconds-long run for the tool tests: tiny Swin UNETR, 64x32x32 crops, 2 epochs of 4 iterations.
_base_ = ["../../../configs/swin_unetr_brats_synthetic.py"]

synthetic_data = dict(n_cases=5, size=40, depth=32, seed=0, n_folds=5)
model = dict(feature_size=12, depths=(1, 1, 1, 1))
segmenter = dict(inference=dict(roi_size=(64, 32, 32), sw_batch_size=1))
optim_wrapper = dict(optimizer=dict(lr=1e-3))
train_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                        dataset=dict(pipeline=dict(roi_size=(64, 32, 32))))
param_scheduler = [
    dict(type="LinearLR", start_factor=0.1, end_factor=1.0, begin=0, end=1, by_epoch=True, convert_to_iter_based=True),
    dict(type="CosineAnnealingLR", T_max=1, eta_min=1e-5, begin=1, end=2, by_epoch=True, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=2, val_interval=1)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=3, max_keep_ckpts=2))
randomness = dict(seed=0, deterministic=True)
