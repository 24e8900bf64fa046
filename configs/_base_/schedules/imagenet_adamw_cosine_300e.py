# AdamW with linear warm-up then cosine decay over 300 epochs, stepped per iteration (DeiT / Swin and the
# recipes derived from them). Parameter groups come from timm: no weight decay on norms, biases and the
# model's no_weight_decay() names (position embeddings, class token, relative-position tables).
# Recipes set lr (for the total batch 1024), the warm-up length and, where published, clip_grad.
optim_wrapper = dict(
    type="OptimWrapper",
    optimizer=dict(type="AdamW", lr=1e-3, weight_decay=0.05, betas=(0.9, 0.999), eps=1e-8),
    constructor="TimmOptimWrapperConstructor",
)
param_scheduler = [
    dict(type="LinearLR", start_factor=1e-3, end_factor=1.0, begin=0, end=5, by_epoch=True, convert_to_iter_based=True),
    dict(type="CosineAnnealingLR", T_max=295, eta_min=1e-5, begin=5, end=300, by_epoch=True, convert_to_iter_based=True),
]
train_cfg = dict(type="ResumableEpochBasedTrainLoop", max_epochs=300, val_interval=1)
val_cfg = dict(type="ValLoop")
test_cfg = dict(type="TestLoop")
