"""Backbone families, one module each.

Importing this package imports every public module in it, and each module registers its named variants, weight
tags, checkpoint converters and tiny test configuration: a new family is one new module here (plus its test file
and card template), with no line to add to this file.
"""
import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

from .features import FeatureInfo  # noqa: E402
from .resnet import ResNet  # noqa: E402
from .swin import SwinTransformer  # noqa: E402
from .vit import VisionTransformer  # noqa: E402

__all__ = ["FeatureInfo", "ResNet", "SwinTransformer", "VisionTransformer"]
