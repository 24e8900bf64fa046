"""Task heads that read backbone features: dense decoders (UNETR, Swin UNETR); classification lives in the backbones."""
from . import detr  # noqa: F401  (DETR head: visionzoo.heads.detr)
from .unetr import SwinUNETRDecoder, UNETRDecoder

__all__ = ["SwinUNETRDecoder", "UNETRDecoder"]
