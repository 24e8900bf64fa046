"""Datasets, transforms and synthetic generators: BraTS 2021/2023/2024, Decathlon Task01 and COCO detection.

Every BraTS-family format loads as image channels ``[FLAIR, T1ce, T1, T2]`` and label channels
``[TC, WT, ET]``, spatial axes as stored in the NIfTI (channel first: ``(C, X, Y, Z)``). No mmengine here:
`visionzoo.engine` registers these for configs.
"""
from .brats import BratsDataset
from .classification import (IMG_EXTENSIONS, ImageDecodeError, ImageFolderDataset, ImageListDataset, find_classes,
                             read_image)
from .coco import CocoDetection, read_coco_image
from .detection_transforms import DetectionTransform, detection_transforms
from .digits import write_digits_folder
from .cases import FOLD_FILE_NAME, BratsCase, detect_format, find_cases
from .folds import assign_folds, make_folds, read_fold_file, save_folds, split_cases
from .formats import CHANNELS, FORMATS, REGIONS, BratsFormat, DataFormatError, get_format
from .nifti import load_case, save_prediction_nifti
from .labels import labels_to_regions, regions_to_labels
from .synthetic import SyntheticBratsConfig, synthesize_case, write_synthetic_brats
from .synthetic_shapes import SHAPE_CATEGORIES, SyntheticShapesConfig, synthetic_coco_matches, write_synthetic_coco
from .transforms import ConvertToBratsRegionsd, PadToRoid, brats_transforms

__all__ = [
    "BratsDataset", "BratsCase", "BratsFormat", "DataFormatError", "FORMATS", "CHANNELS", "REGIONS", "FOLD_FILE_NAME",
    "get_format", "detect_format", "find_cases", "load_case", "save_prediction_nifti",
    "labels_to_regions", "regions_to_labels",
    "assign_folds", "make_folds", "save_folds", "read_fold_file", "split_cases",
    "brats_transforms", "ConvertToBratsRegionsd", "PadToRoid",
    "SyntheticBratsConfig", "synthesize_case", "write_synthetic_brats",
    "CocoDetection", "read_coco_image", "DetectionTransform", "detection_transforms",
    "SHAPE_CATEGORIES", "SyntheticShapesConfig", "synthetic_coco_matches", "write_synthetic_coco",
    "IMG_EXTENSIONS", "ImageDecodeError", "ImageFolderDataset", "ImageListDataset", "find_classes", "read_image",
    "write_digits_folder",
]
