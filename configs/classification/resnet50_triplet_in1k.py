# ResNet-50 + triplet attention (kernel 7) on ImageNet-1k, the published recipe (Misra et al. 2021). Published top-1:
# 77.48 (README: top-1 / top-5 error 22.52% / 6.326%).
# Source, verified: landskape-ai/triplet-attention scripts/train_imagenet_resnet50_triplet_attention.sh (`--ngpu 1
# --epochs 100 --batch-size 256 --lr 0.1 --att-type TripletAttention`) and train_imagenet.py:
#   SGD momentum 0.9 (no Nesterov), lr 0.1 for the total batch 256 (one GPU in the script: BatchNorm over 256),
#   weight decay 1e-4 on every parameter (model.parameters(), BatchNorm and biases included: mmengine's default
#   optimizer constructor, not the timm one); 100 epochs with lr x 0.1 every 30 epochs (args.lr * 0.1 ** (epoch // 30):
#   at 30, 60 and 90), no warm-up; plain cross-entropy (no label smoothing, no Mixup / CutMix); training
#   augmentation: RandomResizedCrop(224) (scale 0.08-1, bilinear) + horizontal flip, nothing else (no RandAugment,
#   colour jitter or random erasing); ImageNet mean/std; evaluation: Resize(256) (bilinear), CenterCrop(224).
# configs/_base_/schedules/imagenet_sgd_step_90e.py trains 90 epochs (decays at 30, 60); the official script trains
# 100, as here. On 8 GPUs use batch_size=32 (same total batch and lr; BatchNorm then sees 32 images per GPU).
#   python tools/train.py configs/classification/resnet50_triplet_in1k.py --cfg-options data_root=/data/imagenet
_base_ = ["../_base_/recipes/resnet_sgd_100e.py"]

model = dict(name="resnet50_triplet", num_classes=1000)
# the official script's single GPU holds the whole batch of 256 (lr 0.1 is for 256 in total)
train_dataloader = dict(batch_size=256)
