# ImageNet-1k in the ImageFolder layout (data_root/train/<wnid>/*.JPEG, data_root/val/<wnid>/*.JPEG) with timm's
# pipelines. Every ClsTransforms key left out (input_size, interpolation, mean, std, crop_pct) comes from the model's
# pretrained_cfg, so evaluation resizes to input_size / crop_pct, centre-crops, and normalises as the weights expect.
# The DeiT augmentation (Touvron et al. 2021, main.py defaults): RandAugment rand-m9-mstd0.5-inc1, colour jitter 0.4,
# bicubic random-resized crop, flip 0.5, random erasing 0.25 (pixel mode).
# ImageNet's flat validation folder with a label file works too:
#   val_dataloader.dataset = dict(type="ImageClsDataset", split="val", list_file="val_labels.txt", classes="classes.txt")
data_root = "data/imagenet"

train_dataloader = dict(
    batch_size=128,  # per GPU; the published runs use 8 GPUs (total batch 1024)
    num_workers=8,
    persistent_workers=True,
    drop_last=True,  # Mixup / CutMix mix pairs of images
    sampler=dict(type="ResumableSampler", shuffle=True),  # seeded per draw: exact mid-epoch resume
    # "visionzoo." scope prefix: mmengine looks collate functions up in its root registry
    collate_fn=dict(type="visionzoo.cls_collate"),
    dataset=dict(
        type="ImageClsDataset",
        split="train",
        pipeline=dict(type="ClsTransforms", mode="train", interpolation="bicubic", auto_augment="rand-m9-mstd0.5-inc1",
                      color_jitter=0.4, re_prob=0.25, re_mode="pixel", re_count=1),
    ),
)
val_dataloader = dict(
    batch_size=128,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type="DefaultSampler", shuffle=False),
    collate_fn=dict(type="visionzoo.cls_collate"),
    dataset=dict(type="ImageClsDataset", split="val", pipeline=dict(type="ClsTransforms", mode="val")),
)
test_dataloader = val_dataloader

val_evaluator = dict(type="Accuracy", topk=(1, 5))  # accuracy/top1, accuracy/top5 in percent (mmpretrain's keys)
test_evaluator = val_evaluator
