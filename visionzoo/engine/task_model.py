"""`TaskModel`: what the engine's task wrappers (classifier, segmenter, detector) share.

Each wraps a network built by ``visionzoo.create_model(**net)`` (the call users make) with a data preprocessor,
and answers mmengine's three modes: ``"loss"`` (a dict of losses), ``"predict"`` (one dict per sample) and
``"tensor"`` (the raw network output). Subclasses name their default preprocessor and write `loss`/`predict`.
``precision="bf16"`` (or ``"fp16"``; ``"auto"``: bf16 where the device computes it natively) runs
``predict``/``tensor`` under autocast with the network's outputs cast back to fp32 before post-processing;
training precision is the optimizer wrapper's (``--amp``).
"""
from __future__ import annotations

from typing import Any

from mmengine.model import BaseModel

import visionzoo
from visionzoo.utils.precision import autocast, check_precision, outputs_to_fp32, resolve_precision

from .registry import MODELS

__all__ = ["TaskModel"]

_MODES = ("loss", "predict", "tensor")


class TaskModel(BaseModel):
    """mmengine model around ``visionzoo.create_model(**net)``; ``forward(mode=...)`` dispatches to the methods."""

    default_preprocessor: str = "BaseDataPreprocessor"

    def __init__(self, net: dict, data_preprocessor: dict | None = None, init_cfg: dict | None = None,
                 precision: str = "fp32") -> None:
        preprocessor = MODELS.build(dict(data_preprocessor or {"type": self.default_preprocessor}))
        super().__init__(data_preprocessor=preprocessor, init_cfg=init_cfg)
        self.net = visionzoo.create_model(**net)
        self.precision = check_precision(precision)
        if self.precision != "fp32":
            self.net.register_forward_hook(lambda module, args, output: outputs_to_fp32(output))

    def forward(self, inputs: Any, data_samples: list[dict] | None = None, mode: str = "tensor", **kwargs: Any) -> Any:
        if mode not in _MODES:
            raise ValueError(f"{type(self).__name__} mode must be 'loss', 'predict' or 'tensor', got {mode!r}.")
        if mode == "loss":
            return self.loss(inputs, data_samples, **kwargs)
        with autocast(self.precision, self.device_type):
            if mode == "tensor":
                return self.tensor(inputs, **kwargs)
            return self.predict(inputs, data_samples, **kwargs)

    @property
    def device_type(self) -> str:
        """``"cpu"`` or ``"cuda"``: where the network's parameters are."""
        param = next(self.net.parameters(), None)
        return param.device.type if param is not None else "cpu"

    @property
    def inference_precision(self) -> str:
        """The precision `predict` runs at on the current device (``auto`` resolved)."""
        return resolve_precision(self.precision, self.device_type)

    def loss(self, inputs: Any, data_samples: list[dict] | None, **kwargs: Any) -> dict:
        raise NotImplementedError

    def predict(self, inputs: Any, data_samples: list[dict] | None = None, **kwargs: Any) -> list[dict]:
        raise NotImplementedError

    def tensor(self, inputs: Any, **kwargs: Any) -> Any:
        """The network's raw output."""
        return self.net(inputs)
