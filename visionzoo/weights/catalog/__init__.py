"""Published weights, one data module per family; importing this package registers them all."""
from . import resnet, swin, swin_unetr, vit  # noqa: F401
