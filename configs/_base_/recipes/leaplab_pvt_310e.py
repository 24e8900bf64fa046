# The PVT recipe of the LeapLab repositories (FLatten-Transformer and Agent-Attention cfgs/*_pvt_*.yaml over their
# config.py / main.py): Swin's code base with 5 warm-up epochs from 2e-6, cosine to 2e-5 at epoch 300 per iteration,
# then 10 cool-down epochs at that lr; no gradient clipping; evaluation squashes to 256x256 and centre-crops 224.
_base_ = ["swin_300e.py"]

val_dataloader = dict(dataset=dict(pipeline=dict(crop_pct=0.875, crop_mode="squash")))
test_dataloader = val_dataloader
optim_wrapper = dict(clip_grad=None)  # CLIP_GRAD None
param_scheduler = [  # per iteration: 2e-6 -> 1e-3 over 5 epochs, cosine to 2e-5 at epoch 300, held to epoch 310
    dict(type="LinearLR", start_factor=2e-3, end_factor=1.0, begin=0, end=5, by_epoch=True, convert_to_iter_based=True),
    dict(type="CosineAnnealingLR", T_max=295, eta_min=2e-5, begin=5, end=300, by_epoch=True,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=310)  # 300 + 10 cool-down epochs (the lr stays where the cosine ended)
