"""`TaskModel`: what the engine's task wrappers (classifier, segmenter, detector) share.

Each wraps a network built by ``visionzoo.create_model(**net)`` (the call users make) with a data preprocessor,
and answers mmengine's three modes: ``"loss"`` (a dict of losses), ``"predict"`` (one dict per sample) and
``"tensor"`` (the raw network output). Subclasses name their default preprocessor and write `loss`/`predict`.
"""
from __future__ import annotations

from typing import Any

from mmengine.model import BaseModel

import visionzoo

from .registry import MODELS

__all__ = ["TaskModel"]

_MODES = ("loss", "predict", "tensor")


class TaskModel(BaseModel):
    """mmengine model around ``visionzoo.create_model(**net)``; ``forward(mode=...)`` dispatches to the methods."""

    default_preprocessor: str = "BaseDataPreprocessor"

    def __init__(self, net: dict, data_preprocessor: dict | None = None, init_cfg: dict | None = None) -> None:
        preprocessor = MODELS.build(dict(data_preprocessor or {"type": self.default_preprocessor}))
        super().__init__(data_preprocessor=preprocessor, init_cfg=init_cfg)
        self.net = visionzoo.create_model(**net)

    def forward(self, inputs: Any, data_samples: list[dict] | None = None, mode: str = "tensor", **kwargs: Any) -> Any:
        if mode not in _MODES:
            raise ValueError(f"{type(self).__name__} mode must be 'loss', 'predict' or 'tensor', got {mode!r}.")
        if mode == "tensor":
            return self.tensor(inputs, **kwargs)
        return getattr(self, mode)(inputs, data_samples, **kwargs)

    def loss(self, inputs: Any, data_samples: list[dict] | None, **kwargs: Any) -> dict:
        raise NotImplementedError

    def predict(self, inputs: Any, data_samples: list[dict] | None = None, **kwargs: Any) -> list[dict]:
        raise NotImplementedError

    def tensor(self, inputs: Any, **kwargs: Any) -> Any:
        """The network's raw output."""
        return self.net(inputs)
