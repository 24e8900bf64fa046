"""visionzoo: vision backbones and heads that share one library of attention blocks.

Public API::

    import visionzoo as vz
    vz.list_models("*swin*"); vz.list_pretrained("vit*")
    model = vz.create_model("swin_tiny_patch4_window7_224", pretrained=False, num_classes=10)

Importing visionzoo before torch lets torch back large CPU tensors with huge pages (see `visionzoo._memory`;
``THP_MEM_ALLOC_ENABLE=0`` opts out).
"""
from ._memory import request_huge_pages as _request_huge_pages

_request_huge_pages()  # before anything imports torch: torch reads the setting once, at its first allocation

from . import backbones as _backbones  # noqa: F401  (registers architectures)
from . import models as _models  # noqa: F401  (registers segmenters)
from .export import export_onnx
from .factory import create_model
from .registry import get_pretrained_cfg, list_models, list_pretrained, register_model

__version__ = "0.1.0"


__all__ = ["create_model", "export_onnx", "get_pretrained_cfg", "list_models", "list_pretrained", "register_model", "__version__"]
