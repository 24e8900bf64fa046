"""mmengine integration: registries, BraTS / COCO / image-folder data, `VolumeSegmenter`, `Detector`, `ImageClassifier`, metrics, hooks, runners.

Needs ``visionzoo[train]``; the medical (BraTS) and detection (COCO) parts register only where ``[medical]``
/ ``[detection]`` are installed (`visionzoo.engine.tasks`), so image classification runs without MONAI or
albumentations.

The only package besides ``tools/`` that imports mmengine. Importing it registers every part under the
``visionzoo`` scope (configs set ``default_scope = "visionzoo"``) and installs the weights-only
checkpoint loader for local files.

    from visionzoo.engine import load_config, build_runner
    cfg = load_config("configs/swin_unetr_brats_synthetic.py", {"train_cfg.max_epochs": 2})
    build_runner(cfg, work_dir="work_dirs/demo").train()
"""
from visionzoo.data import DataFormatError
from visionzoo.utils.extras import MissingDependencyError, lazy_exports
from visionzoo.weights.checkpoint import CheckpointError

from .checkpoint import CheckpointSecurityError, atomic_write, atomic_write_text, load_checkpoint_file
from .classification import Accuracy, Bf16OptimWrapper, ImageClassifier, TimmOptimWrapperConstructor
from .classification_data import (ClsDataPreprocessor, ImageClsDataset, cls_collate, cls_transforms, eval_input_size,
                                  model_data_config, resolve_cls_data, trained_num_classes)
from .collate import BratsDataPreprocessor, brats_collate
from .config import CfgOptionsAction, UnknownConfigKeyError, check_cfg_options, config_keys, load_config
from .detection_visualize import SaveDetectionsHook, draw_detections, save_detections_png
from .distributed import SetupError, configure_threads, init_distributed
from .hooks import AtomicCheckpointHook, ResumeStateHook
from .loops import ResumableEpochBasedTrainLoop
from .report import format_metrics_table, metrics_table, save_metrics_table
from .rng import SeededTransform, capture_rng_state, preserved_rng, restore_rng_state
from .runner import VisionzooRunner, build_runner, resolve_data_root, set_inference_precision, task_wrapper
from .samplers import ResumableSampler
from .tasks import UNAVAILABLE_TASKS, check_config_types, import_tasks
from .testing import TestResult, run_test
from .visualize import overlay_montage, save_overlay_png

import_tasks()  # registers the medical and detection parts whose libraries are installed

# The tasks' names, from their modules (imported above when available; otherwise the error names the extra).
_TASK_EXPORTS: dict[str, str] = {
    **dict.fromkeys(["BRATS_CLASSES", "BratsSegDataset"], ".datasets"),
    **dict.fromkeys(["DiceBCELoss", "build_loss"], ".losses"),
    **dict.fromkeys(["BRATS_EMPTY_HD95", "BratsMetric"], ".metrics"),
    **dict.fromkeys(["SlidingWindow", "VolumeSegmenter"], ".models"),
    **dict.fromkeys(["SavePredictionsHook", "save_case_outputs"], ".predictions"),
    **dict.fromkeys(["COCO_METRIC_NAMES", "CocoMetric", "coco_evaluate"], ".coco_metric"),
    **dict.fromkeys(["CocoDetDataset", "DetectionDataPreprocessor", "detection_collate", "pad_images",
                     "resolve_coco_data_root"], ".detection_data"),
    **dict.fromkeys(["Detector"], ".detection"),
}
__getattr__, __dir__ = lazy_exports(__name__, _TASK_EXPORTS)

USER_ERRORS = (UnknownConfigKeyError, CheckpointSecurityError, CheckpointError, DataFormatError, SetupError,
               MissingDependencyError, FileNotFoundError, NotADirectoryError, FileExistsError)
"""Exceptions the tools report as one ``error:`` line (bad paths, config keys, data, checkpoints) instead of a traceback."""

__all__ = [
    "load_config", "check_cfg_options", "config_keys", "UnknownConfigKeyError", "CfgOptionsAction",
    "build_runner", "VisionzooRunner", "resolve_data_root", "run_test", "TestResult",
    "BratsSegDataset", "SeededTransform", "ResumableSampler", "brats_collate", "BratsDataPreprocessor", "BRATS_CLASSES",
    "VolumeSegmenter", "SlidingWindow", "DiceBCELoss", "build_loss",
    "BratsMetric", "BRATS_EMPTY_HD95", "metrics_table", "format_metrics_table", "save_metrics_table",
    "AtomicCheckpointHook", "ResumeStateHook", "SavePredictionsHook", "save_case_outputs",
    "ResumableEpochBasedTrainLoop", "capture_rng_state", "restore_rng_state", "preserved_rng",
    "atomic_write", "atomic_write_text", "load_checkpoint_file", "CheckpointSecurityError",
    "init_distributed", "configure_threads", "SetupError", "overlay_montage", "save_overlay_png", "USER_ERRORS",
    "Detector", "CocoDetDataset", "DetectionDataPreprocessor", "detection_collate", "pad_images", "resolve_coco_data_root",
    "ImageClassifier", "Accuracy", "TimmOptimWrapperConstructor", "Bf16OptimWrapper", "ImageClsDataset",
    "ClsDataPreprocessor", "cls_collate", "cls_transforms", "resolve_cls_data", "task_wrapper", "eval_input_size",
    "model_data_config", "trained_num_classes",
    "CocoMetric", "COCO_METRIC_NAMES", "coco_evaluate", "SaveDetectionsHook", "draw_detections", "save_detections_png",
    "UNAVAILABLE_TASKS", "check_config_types", "import_tasks", "set_inference_precision",
]
