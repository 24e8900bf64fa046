# Fine-tune the official DETR-R50 COCO detector on a small COCO-format dataset of your own (DETR #9, #125, #419):
#   DATA/annotations/instances_{train,val}.json (K categories), DATA/train/*.jpg, DATA/val/*.jpg
#   python tools/train.py configs/detr_r50_finetune.py --cfg-options data_root=DATA model.num_classes=K
#   python tools/test.py configs/detr_r50_finetune.py work_dirs/detr_r50_finetune/latest.pth --show-dir vis/
# Small datasets converge when the whole COCO detector is the starting point, not only its ImageNet backbone:
# create_model("detr_r50.fb_coco", pretrained=True, num_classes=K) loads every weight but the class head, which
# starts fresh with K + 1 outputs (the last is "no object"). Kept from the published recipe: AdamW 1e-4 with the
# backbone at a tenth (1e-5), weight decay 1e-4, gradient clipping 0.1, the matcher costs and loss weights.
# Shortened for small data: 50 epochs with the 10x drop after 40 (the published 500/400 scaled down), and labels
# mapped to 0..K-1 from the file's category ids (label_mode="contiguous"). Evaluation runs each image at its own
# size (Detector.per_image_predict), so its AP does not depend on the batch size.
_base_ = ["detr_r50_coco.py"]

model = dict(_delete_=True, name="detr_r50.fb_coco", pretrained=True, num_classes=None, num_queries=100,
             aux_loss=True)

train_dataloader = dict(dataset=dict(ann_file="annotations/instances_train.json", img_dir="train",
                                     label_mode="contiguous"))
val_dataloader = dict(dataset=dict(ann_file="annotations/instances_val.json", img_dir="val",
                                   label_mode="contiguous"))
test_dataloader = val_dataloader

param_scheduler = [dict(type="MultiStepLR", milestones=[40], gamma=0.1, by_epoch=True)]
train_cfg = dict(max_epochs=50, val_interval=5)
default_hooks = dict(checkpoint=dict(interval=5, save_best="bbox_mAP", rule="greater"))
