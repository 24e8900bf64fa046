# The ResNet recipe the CBAM and triplet-attention releases were trained with (Jongchan/attention-module and
# LandskapeAI/triplet-attention train_imagenet.py + scripts): SGD momentum 0.9, lr 0.1 for a total batch of 256,
# weight decay 1e-4 on every parameter (mmengine's default constructor), 100 epochs with lr x 0.1 at 30, 60 and 90
# (the scripts' 100 epochs; the paper's table uses the 90-epoch ResNet schedule of imagenet_sgd_step_90e.py);
# RandomResizedCrop 224 (bilinear) + flip only, no label smoothing, no Mixup.
_base_ = ["../datasets/imagenet.py", "../schedules/imagenet_sgd_step_90e.py", "../classification_runtime.py"]

train_dataloader = dict(
    batch_size=32,  # per GPU; 8 GPUs = 256, the batch lr 0.1 is set for
    drop_last=False,  # torch's default in train_imagenet.py; no Mixup pairs needed
    # exactly RandomResizedCrop(224, bilinear) + flip 0.5 + ToTensor + Normalize (color_jitter=None adds no ColorJitter;
    # input_size, mean and std come from the model's pretrained_cfg)
    dataset=dict(pipeline=dict(_delete_=True, type="ClsTransforms", mode="train", interpolation="bilinear",
                               auto_augment=None, color_jitter=None, re_prob=0.0)),
)
param_scheduler = [dict(type="MultiStepLR", milestones=[30, 60, 90], gamma=0.1, by_epoch=True)]
train_cfg = dict(max_epochs=100)
