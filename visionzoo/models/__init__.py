"""Assembly of backbones and heads into task models (segmenters), and the features_only wrapper."""
from . import swin_unetr, unetr  # noqa: F401  (register the named segmenters)
from . import detr  # noqa: F401  (register the DETR detectors)
from .features import FeatureExtractor
from .swin_unetr import SwinUNETR
from .unetr import UNETR

__all__ = ["FeatureExtractor", "SwinUNETR", "UNETR"]
