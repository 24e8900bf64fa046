"""Task models assembled from backbones and heads (segmenters, detectors), and the features_only wrapper.

Importing this package imports every public module in it; each family module registers its named models, weight
tags, converters and tiny test configuration, so a new family needs no line here.
"""
import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

from .features import FeatureExtractor  # noqa: E402
from .swin_unetr import SwinUNETR  # noqa: E402
from .unetr import UNETR  # noqa: E402

__all__ = ["FeatureExtractor", "SwinUNETR", "UNETR"]
