"""Assembly of backbones and heads into task models, and the features_only wrapper."""
from .features import FeatureExtractor

__all__ = ["FeatureExtractor"]
