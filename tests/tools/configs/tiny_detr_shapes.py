# A seconds-long DETR run for the tool tests: 8 synthetic 64x64 shape images, a 1+1-layer d=32 DETR, 2 epochs of 2 iterations.
_base_ = ["../../../configs/detr_shapes_synthetic.py"]

synthetic_shapes = dict(num_train=8, num_val=3, size=64, seed=0, max_objects=2, object_sizes=(0.3, 0.45))
model = dict(num_queries=4, hidden_dim=32, nheads=2, enc_layers=1, dec_layers=2, dim_feedforward=32)
train_dataloader = dict(batch_size=4)
val_dataloader = dict(batch_size=2)
test_dataloader = val_dataloader
param_scheduler = [dict(type="MultiStepLR", milestones=[1], gamma=0.1, by_epoch=True)]
train_cfg = dict(max_epochs=2, val_interval=1)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2, max_keep_ckpts=2))
randomness = dict(seed=0, deterministic=True)
