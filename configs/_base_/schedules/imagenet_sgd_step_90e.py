# SGD momentum 0.9, lr 0.1 for batch 256, weight decay 1e-4, 90 epochs with lr x 0.1 at epochs 30 and 60
# (the ResNet schedule that CBAM and triplet attention report their ImageNet results with).
optim_wrapper = dict(
    type="OptimWrapper",
    optimizer=dict(type="SGD", lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=False),
)
param_scheduler = [dict(type="MultiStepLR", milestones=[30, 60], gamma=0.1, by_epoch=True)]
train_cfg = dict(type="ResumableEpochBasedTrainLoop", max_epochs=90, val_interval=1)
val_cfg = dict(type="ValLoop")
test_cfg = dict(type="TestLoop")
