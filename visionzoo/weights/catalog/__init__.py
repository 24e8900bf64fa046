"""Published weights, one data module per family; importing this package registers them all."""
from . import swin, vit  # noqa: F401
