"""Published weights, one data module per family; importing this package registers them all."""
from . import resnet, swin, swin_unetr, vit  # noqa: F401
from . import pvt  # noqa: F401
from . import biformer  # noqa: F401
from . import detr  # noqa: F401
from . import agent, flatten  # noqa: F401
