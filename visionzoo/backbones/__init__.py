"""Backbone families; importing this package registers their named variants."""
from . import swin, vit  # noqa: F401
from .features import FeatureInfo
from .swin import SwinTransformer
from .vit import VisionTransformer

__all__ = ["FeatureInfo", "SwinTransformer", "VisionTransformer"]
