"""DETR head: post-norm transformer, sine position embedding, box MLP, Hungarian matcher, set criterion, post-processing."""
from .box_head import MLP
from .criterion import DEFAULT_WEIGHT_DICT, SetCriterion
from .matcher import HungarianMatcher
from .position import PositionEmbeddingSine
from .postprocess import PostProcess, postprocess
from .transformer import DETRDecoder, DETRDecoderLayer, DETREncoder, DETREncoderLayer, DETRTransformer

__all__ = [
    "DEFAULT_WEIGHT_DICT",
    "DETRDecoder",
    "DETRDecoderLayer",
    "DETREncoder",
    "DETREncoderLayer",
    "DETRTransformer",
    "HungarianMatcher",
    "MLP",
    "PositionEmbeddingSine",
    "PostProcess",
    "SetCriterion",
    "postprocess",
]
