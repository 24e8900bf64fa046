"""Feature-pyramid metadata shared by backbones (defined in `visionzoo.layers.features`, re-exported here)."""
from ..layers.features import FeatureInfo, feature_take_indices

__all__ = ["FeatureInfo", "feature_take_indices"]
