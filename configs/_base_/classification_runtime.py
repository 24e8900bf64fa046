# Runtime of the classification recipes: the shared runtime, keeping the checkpoint with the best top-1.
_base_ = ["default_runtime.py"]

default_hooks = dict(
    logger=dict(interval=100),
    checkpoint=dict(by_epoch=False, interval=5000, max_keep_ckpts=3, save_best="accuracy/top1", rule="greater"),
)
# The task wrapper: ImageClassifier(net=<model>, mixup=..., label_smoothing=...); set per recipe.
classifier = dict(type="ImageClassifier")
