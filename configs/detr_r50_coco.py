# DETR-R50 on COCO 2017: the published recipe (Carion et al. 2020; facebookresearch/detr main.py defaults).
# ResNet-50 (ImageNet weights, frozen BN, stem and layer1 frozen), 6+6 post-norm layers, d 256, 8 heads,
# FFN 2048, dropout 0.1, 100 queries, 91 classes (raw COCO ids), auxiliary losses at every decoder layer;
# matcher costs class 1 / L1 5 / GIoU 2, loss weights 1 / 5 / 2, no-object weight 0.1.
# AdamW 1e-4 (backbone 1e-5), weight decay 1e-4, gradient clip 0.1, 500 epochs with a 10x drop at 400;
# batch 2 per GPU on 8 GPUs (total 16). Reported: 42.0 AP on val2017.
# Needs GPUs (a 2-core CPU takes minutes per iteration); use detr_shapes_synthetic.py there.
#   torchrun --nproc_per_node=8 tools/train.py configs/detr_r50_coco.py --launcher pytorch --cfg-options data_root=/data/coco
#   python tools/test.py configs/detr_r50_coco.py work_dirs/detr_r50_coco/latest.pth --show-dir vis/
_base_ = [
    "_base_/datasets/coco_detection.py",
    "_base_/schedules/detr_adamw_500e.py",
    "_base_/default_runtime.py",
]

# the network: any visionzoo.create_model(**model) call (pretrained=True loads the ImageNet backbone
# only through the backbone's own weights; set it in backbone_kwargs)
model = dict(name="detr_r50", num_classes=91, num_queries=100, aux_loss=True,
             backbone_kwargs=dict(pretrained=True))

# how it is trained and evaluated (visionzoo.engine.Detector)
detector = dict(
    type="Detector",
    criterion=dict(
        matcher=dict(cost_class=1.0, cost_bbox=5.0, cost_giou=2.0),
        eos_coef=0.1,
        weight_dict=dict(loss_ce=1.0, loss_bbox=5.0, loss_giou=2.0),
    ),
)

default_hooks = dict(checkpoint=dict(interval=5000, save_best="bbox_mAP", rule="greater"))
