"""Backbone families; importing this package registers their named variants."""
from . import resnet, swin, vit  # noqa: F401
from . import biformer  # noqa: F401
from . import pvt, twins  # noqa: F401
from . import agent, flatten  # noqa: F401
from .features import FeatureInfo
from .resnet import ResNet
from .swin import SwinTransformer
from .vit import VisionTransformer

__all__ = ["FeatureInfo", "ResNet", "SwinTransformer", "VisionTransformer"]
