# COCO 2017 detection with DETR's published pipelines (facebookresearch/detr make_coco_transforms).
# `data_root` (top level) is read by every split's CocoDetDataset unless its own dict sets it:
#   data/coco/annotations/instances_{train,val}2017.json, data/coco/{train,val}2017/*.jpg
data_root = "data/coco"

train_dataloader = dict(
    batch_size=2,  # per GPU; the published runs use 8 GPUs (total batch 16)
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type="ResumableSampler", shuffle=True),  # seeded per draw: exact mid-epoch resume
    # "visionzoo." scope prefix: mmengine looks collate functions up in its root registry
    collate_fn=dict(type="visionzoo.detection_collate"),
    dataset=dict(
        type="CocoDetDataset",
        ann_file="annotations/instances_train2017.json",
        img_dir="train2017",
        label_mode="category_id",  # raw COCO ids 1..90: the 91-class head of the official release
        # flip 0.5; multi-scale shorter side 480..800 (max 1333), or with p=0.5 resize 400/500/600,
        # random crop 384..600, then the multi-scale resize; ImageNet normalisation
        pipeline=dict(type="DetectionTransforms", mode="train", max_size=1333, crop=True,
                      crop_resize=(400, 500, 600), crop_size=(384, 600), flip_prob=0.5),
    ),
)
val_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type="DefaultSampler", shuffle=False),
    collate_fn=dict(type="visionzoo.detection_collate"),
    dataset=dict(
        type="CocoDetDataset",
        ann_file="annotations/instances_val2017.json",
        img_dir="val2017",
        label_mode="category_id",
        pipeline=dict(type="DetectionTransforms", mode="val", test_size=800, max_size=1333),
    ),
)
test_dataloader = val_dataloader  # test-dev labels are not public: report val2017 as the paper does

val_evaluator = dict(type="CocoMetric")  # pycocotools COCOeval against the split's annotation file
test_evaluator = val_evaluator

# tools/test.py --show-dir / --save-preds: PNGs with boxes, and the COCO results file detections.json
predictions_hook = dict(type="SaveDetectionsHook", score_thr=0.7)  # boxes drawn above 0.7, as DETR's demo
