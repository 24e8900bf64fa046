"""Datasets, transforms and synthetic generators: BraTS 2021/2023/2024, Decathlon Task01 and COCO detection.

Every BraTS-family format loads as image channels ``[FLAIR, T1ce, T1, T2]`` and label channels
``[TC, WT, ET]``, spatial axes as stored in the NIfTI (channel first: ``(C, X, Y, Z)``). No mmengine here:
`visionzoo.engine` registers these for configs.

Names are imported on first use (`visionzoo.utils.lazy_exports`): BraTS needs [medical] (MONAI, nibabel), COCO
detection needs [detection] (albumentations), and image classification needs neither.
"""
from visionzoo.utils.extras import lazy_exports

_EXPORTS: dict[str, str] = {
    **dict.fromkeys(["BratsDataset"], ".brats"),
    **dict.fromkeys(["IMG_EXTENSIONS", "ImageDecodeError", "ImageFolderDataset", "ImageListDataset", "find_classes",
                     "read_image"], ".classification"),
    **dict.fromkeys(["CocoDetection", "read_coco_image"], ".coco"),
    **dict.fromkeys(["DetectionTransform", "detection_transforms"], ".detection_transforms"),
    **dict.fromkeys(["write_digits_folder"], ".digits"),
    **dict.fromkeys(["FOLD_FILE_NAME", "BratsCase", "detect_format", "find_cases"], ".cases"),
    **dict.fromkeys(["assign_folds", "make_folds", "read_fold_file", "save_folds", "split_cases"], ".folds"),
    **dict.fromkeys(["CHANNELS", "FORMATS", "REGIONS", "BratsFormat", "DataFormatError", "get_format"], ".formats"),
    **dict.fromkeys(["load_case", "save_prediction_nifti"], ".nifti"),
    **dict.fromkeys(["labels_to_regions", "regions_to_labels"], ".labels"),
    **dict.fromkeys(["SyntheticBratsConfig", "synthesize_case", "write_synthetic_brats"], ".synthetic"),
    **dict.fromkeys(["SHAPE_CATEGORIES", "SyntheticShapesConfig", "synthetic_coco_matches", "write_synthetic_coco"],
                    ".synthetic_shapes"),
    **dict.fromkeys(["ConvertToBratsRegionsd", "PadToRoid", "brats_transforms"], ".transforms"),
}
_PURPOSES = {".brats": "BraTS data", ".nifti": "NIfTI volumes", ".synthetic": "synthetic BraTS cases",
             ".transforms": "BraTS transforms", ".detection_transforms": "COCO detection augmentation",
             ".digits": "the handwritten-digits data"}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, _PURPOSES)

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
