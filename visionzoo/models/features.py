"""`features_only=True`: the wrapper (defined in `visionzoo.layers.features`, where the factory can reach it)."""
from ..layers.features import FeatureExtractor

__all__ = ["FeatureExtractor"]
