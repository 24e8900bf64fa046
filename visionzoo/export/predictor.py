"""`OnnxPredictor`: run an exported visionzoo ONNX file the way its PyTorch model is run.

Everything it needs comes from the file's metadata (`visionzoo.export.metadata`): preprocessing (timm's eval
transform from the recorded input size, crop_pct, interpolation, mean and std for classifiers; per-channel
z-score over the nonzero voxels for BraTS volumes), the sizes the graph serves, the class names or regions,
the output activation and, for volumes, the sliding-window settings.

    from visionzoo.export import OnnxPredictor
    p = OnnxPredictor("swin_t.onnx")
    p.predict(["cat.jpg"])                      # classification: top-k classes with probabilities
    p.predict(volume)                           # volumes (C, D, H, W): sliding-window region masks
    p.run(x)                                    # raw outputs by name; sizes outside the range are refused

Sizes are checked before onnxruntime sees them: a fixed-size graph takes its size only (volumes of another
size go through sliding windows); a dynamic graph takes multiples of its ``spatial_multiple`` from its
``min_size`` up. Below the minimum the answer would be wrong (window attention changes layout there), so
it is an `InputSizeError` (the graph itself refuses it too). ``run(x, pad=True)`` zero-pads other sizes of
dense models up to a valid one and crops the outputs back; classifiers are refused instead, since padding
changes their answer. Classifier images are resized and cropped to the recorded ``input_size`` anyway.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .metadata import decode_value

__all__ = ["OnnxPredictor", "InputSizeError"]


class InputSizeError(ValueError):
    """An input size the exported graph cannot serve correctly."""


def _size_text(sizes: Sequence[Any]) -> str:
    return "x".join("any" if s is None else str(s) for s in sizes)


class OnnxPredictor:
    """An onnxruntime session on a visionzoo ONNX file, with the file's own pre- and post-processing.

    Args:
        path: the ``.onnx`` file (written by `visionzoo.export_onnx` / ``tools/export_onnx.py``).
        providers: onnxruntime execution providers (default CPU).
        threads: intra-op threads (default: onnxruntime's choice).
    """

    def __init__(self, path: str | os.PathLike, providers: Sequence[str] | None = None, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"ONNX file {str(self.path)!r} does not exist.")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=list(providers or ["CPUExecutionProvider"]))
        except Exception as e:  # onnxruntime's own exception types
            raise ValueError(f"{str(self.path)!r} is not an ONNX model onnxruntime can load: {str(e).splitlines()[0]}") from e
        raw = self.session.get_modelmeta().custom_metadata_map
        self.metadata: dict[str, Any] = {k: decode_value(v) for k, v in raw.items()}
        inputs = self.session.get_inputs()
        self.input_names = [i.name for i in inputs]
        self.output_names = [o.name for o in self.session.get_outputs()]
        shape = inputs[0].shape
        self.spatial_dims = len(shape) - 2
        meta = self.metadata
        fixed = [s if isinstance(s, int) else None for s in shape[2:]]
        self.min_size = tuple(meta.get("min_size") or [s or 1 for s in fixed])
        self.max_size = tuple(meta.get("max_size") or fixed)
        self.multiple = meta.get("spatial_multiple")
        self.channels = meta.get("channels") or (shape[1] if isinstance(shape[1], int) else None)
        self.task = meta.get("task", "other")
        self.class_names = list(meta["class_names"]) if meta.get("class_names") else None
        self.dynamic_batch = not isinstance(shape[0], int)

    # ----------------------------------------------------------------------------------- sizes

    @property
    def fixed_size(self) -> tuple[int, ...] | None:
        """The only spatial size a fixed-size graph takes (None for a dynamic graph)."""
        if all(m is not None for m in self.max_size) and tuple(self.max_size) == tuple(self.min_size):
            return tuple(int(m) for m in self.min_size)
        return None

    def size_problem(self, spatial: Sequence[int]) -> str | None:
        """Why the graph cannot serve `spatial` (None when it can)."""
        spatial = tuple(int(s) for s in spatial)
        if len(spatial) != self.spatial_dims:
            return f"{len(spatial)} spatial axes, but this graph takes {self.spatial_dims} ({self.metadata.get('input_layout', '')})"
        fixed = self.fixed_size
        if fixed is not None:
            if spatial != fixed:
                return f"size {_size_text(spatial)}, but this graph takes {_size_text(fixed)} only"
            return None
        low = [a < b for a, b in zip(spatial, self.min_size)]
        if any(low):
            return (f"size {_size_text(spatial)} is below this graph's minimum {_size_text(self.min_size)} (window "
                    f"attention computes smaller sizes differently from the traced graph)")
        high = [m is not None and a > m for a, m in zip(spatial, self.max_size)]
        if any(high):
            return f"size {_size_text(spatial)} is above this graph's maximum {_size_text(self.max_size)}"
        if self.multiple and any(s % self.multiple for s in spatial):
            return f"size {_size_text(spatial)} is not a multiple of {self.multiple}"
        return None

    def check_size(self, spatial: Sequence[int]) -> None:
        """Raise `InputSizeError` when the graph cannot serve `spatial`; the message says which sizes it can."""
        problem = self.size_problem(spatial)
        if problem is None:
            return
        if self.fixed_size is not None:
            hint = (" Volumes of other sizes go through predict(), which runs sliding windows of this size."
                    if self.spatial_dims == 3 else " Resize the input, or export with dynamic_spatial=True.")
        else:
            hint = (f" It serves multiples of {self.multiple} from {_size_text(self.min_size)} up: resize or pad the "
                    f"input, or export a fixed-size graph for smaller inputs.")
        raise InputSizeError(f"{self.path.name}: {problem}.{hint}")

    # ----------------------------------------------------------------------------------- raw run

    def run(self, x: Any, pad: bool = False, **extra: Any) -> dict[str, np.ndarray]:
        """Outputs by name for a preprocessed batch `x` (N, C, *spatial) (and extra inputs such as DETR's ``mask``).

        The size is checked first. `pad` zero-pads a dynamic graph's input up to the next valid size
        (its minimum and a multiple of ``spatial_multiple``) and crops dense outputs back (segmentation);
        a padded detection batch gets its padding ``mask``. Classifiers are never padded: padding changes
        their answer, so such sizes are refused.
        """
        x = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
        if x.ndim != self.spatial_dims + 2:
            raise InputSizeError(f"{self.path.name}: expected a batch (N, C, {'D, ' if self.spatial_dims == 3 else ''}H, W), "
                                 f"got an array of shape {x.shape}.")
        if self.channels and x.shape[1] != self.channels:
            raise InputSizeError(f"{self.path.name}: expected {self.channels} channels, got {x.shape[1]} (shape {x.shape}).")
        spatial = tuple(x.shape[2:])
        crop = None
        if pad and self.size_problem(spatial) and self.fixed_size is None and self.task != "classification":
            target = tuple(self._padded_size(spatial))
            if target != spatial:
                widths = [(0, 0), (0, 0)] + [(0, t - s) for s, t in zip(spatial, target)]
                if "mask" in self.input_names and "mask" not in extra:
                    mask = np.ones((x.shape[0], *target), dtype=bool)
                    mask[(slice(None), *(slice(0, s) for s in spatial))] = False
                    extra["mask"] = mask
                x = np.pad(x, widths)
                crop = spatial
        self.check_size(x.shape[2:])
        feed = {self.input_names[0]: x}
        for name in self.input_names[1:]:
            if name in extra:
                feed[name] = np.asarray(extra[name])
            elif name == "mask":  # no padding
                feed[name] = np.zeros((x.shape[0], *x.shape[2:]), dtype=bool)
            else:
                raise ValueError(f"{self.path.name} needs the input {name!r}; pass it as run(x, {name}=...)")
        if not self.dynamic_batch and x.shape[0] != self.session.get_inputs()[0].shape[0]:
            parts = [self.session.run(None, {k: v[i:i + 1] if k == self.input_names[0] or v.shape[:1] == x.shape[:1]
                                             else v for k, v in feed.items()}) for i in range(x.shape[0])]
            outs = [np.concatenate([p[j] for p in parts]) for j in range(len(self.output_names))]
        else:
            outs = self.session.run(None, feed)
        result = dict(zip(self.output_names, outs))
        if crop is not None:
            for name, out in result.items():
                if out.ndim == x.ndim and tuple(out.shape[2:]) == tuple(x.shape[2:]):
                    result[name] = out[(slice(None), slice(None), *(slice(0, s) for s in crop))]
        return result

    def _padded_size(self, spatial: Sequence[int]) -> list[int]:
        m = int(self.multiple or 1)
        out = []
        for s, low in zip(spatial, self.min_size):
            size = max(int(s), int(low))
            out.append(-(-size // m) * m)
        return out

    # ----------------------------------------------------------------------------------- classification

    def transform(self):
        """timm's eval transform (resize by crop_pct, centre crop, normalise) from the recorded data config."""
        from timm.data import create_transform

        meta = self.metadata
        size = meta.get("input_size")
        if not size:
            fixed = self.fixed_size
            if fixed is None:
                raise ValueError(f"{self.path.name} records no input_size to preprocess images to")
            size = [self.channels or 3, *fixed]
        kwargs = dict(input_size=tuple(int(s) for s in size), is_training=False)
        for key in ("interpolation", "mean", "std", "crop_pct", "crop_mode"):
            value = meta.get(key)
            if value is not None:
                kwargs[key] = tuple(value) if isinstance(value, list) else value
        return create_transform(**kwargs)

    def preprocess(self, images: Sequence[Any]) -> np.ndarray:
        """(N, C, H, W) float32 batch from image paths, PIL images or HxWx3 uint8 arrays."""
        from PIL import Image

        transform = self.transform()
        batch = []
        for image in images:
            if isinstance(image, (str, os.PathLike)):
                from ..data import read_image

                image = read_image(image)
            elif isinstance(image, np.ndarray):
                image = Image.fromarray(image.astype(np.uint8)).convert("RGB")
            elif isinstance(image, Image.Image):
                image = image.convert("RGB")
            else:
                raise TypeError(f"an image is a path, a PIL image or an HxWx3 uint8 array, got {type(image).__name__}")
            batch.append(np.asarray(transform(image), dtype=np.float32))
        return np.stack(batch)

    def classify(self, images: Sequence[Any], topk: int = 5, batch_size: int = 8) -> list[dict[str, Any]]:
        """Per image: ``index``, ``class``, ``score`` (probability) and the ``topk`` best as (index, class, prob)."""
        if self.task != "classification":
            raise ValueError(f"{self.path.name} is a {self.task} model, not a classifier")
        images = list(images)
        records = []
        for start in range(0, len(images), batch_size):
            x = self.preprocess(images[start:start + batch_size])
            logits = self.run(x)[self.output_names[0]]
            probs = _activation(logits, self.metadata.get("output_activation", "softmax"))
            for p in probs:
                order = np.argsort(-p, kind="stable")[: max(1, min(topk, p.size))]
                best = int(order[0])
                records.append({
                    "index": best, "class": self._name(best), "score": float(p[best]),
                    "topk": [{"index": int(i), "class": self._name(int(i)), "prob": float(p[i])} for i in order],
                })
        return records

    def _name(self, index: int) -> str:
        names = self.class_names
        return names[index] if names is not None and 0 <= index < len(names) else str(index)

    # ----------------------------------------------------------------------------------- volumes

    def normalize_volume(self, volume: Any) -> np.ndarray:
        """The recorded intensity normalisation of one (C, D, H, W) volume."""
        volume = np.asarray(volume, dtype=np.float32)
        how = self.metadata.get("normalization")
        if how == "zscore_nonzero_channelwise":
            from monai.transforms import NormalizeIntensity

            return np.asarray(NormalizeIntensity(nonzero=True, channel_wise=True)(volume), dtype=np.float32)
        mean, std = self.metadata.get("mean"), self.metadata.get("std")
        if mean is not None and std is not None:
            shape = (-1,) + (1,) * (volume.ndim - 1)
            return (volume - np.asarray(mean, np.float32).reshape(shape)) / np.asarray(std, np.float32).reshape(shape)
        return volume

    def sliding_window_logits(self, volume: Any, normalize: bool = True) -> np.ndarray:
        """Blended logits (classes, D, H, W) of one volume (C, D, H, W), windows of the recorded ROI (MONAI)."""
        import torch
        from monai.inferers import sliding_window_inference

        meta = self.metadata
        roi = tuple(int(r) for r in (meta.get("roi_size") or self.fixed_size or ()))
        if len(roi) != self.spatial_dims:
            raise ValueError(f"{self.path.name} records no sliding-window roi_size")
        image = self.normalize_volume(volume) if normalize else np.asarray(volume, dtype=np.float32)
        if image.ndim != self.spatial_dims + 1:
            raise InputSizeError(f"{self.path.name}: expected one volume (C, D, H, W), got shape {image.shape}")
        name = self.output_names[0]

        def predictor(window: torch.Tensor) -> torch.Tensor:
            return torch.from_numpy(self.run(window.numpy())[name])

        with torch.no_grad():
            logits = sliding_window_inference(
                torch.from_numpy(image)[None], roi, int(meta.get("sw_batch_size", 1)), predictor,
                overlap=float(meta.get("overlap", 0.5)), mode=str(meta.get("blend_mode", "constant")),
                sigma_scale=float(meta.get("sigma_scale", 0.125)),
            )
        return logits[0].numpy()

    def segment(self, volume: Any, normalize: bool = True) -> dict[str, np.ndarray]:
        """``probs`` (activation of the blended logits) and ``mask`` (probs > threshold) of one (C, D, H, W) volume."""
        logits = self.sliding_window_logits(volume, normalize=normalize)
        activation = self.metadata.get("output_activation", "sigmoid")
        probs = _activation(logits[None], activation, axis=1)[0]
        if activation == "softmax":
            mask = probs == probs.max(axis=0, keepdims=True)
        else:
            mask = probs > float(self.metadata.get("threshold", 0.5))
        return {"logits": logits, "probs": probs, "mask": mask}

    # ----------------------------------------------------------------------------------- any task

    def predict(self, inputs: Any, **kwargs: Any) -> Any:
        """Classification: `classify` of images; volume segmentation: `segment` of one volume (C, D, H, W)."""
        if self.task == "classification":
            return self.classify(inputs, **kwargs)
        if self.task == "segmentation" and self.spatial_dims == 3:
            return self.segment(inputs, **kwargs)
        raise ValueError(f"{self.path.name}: predict() handles classifiers and volume segmenters; use run() for a "
                         f"{self.task} model")

    def __repr__(self) -> str:
        return (f"OnnxPredictor({str(self.path)!r}, model={self.metadata.get('model')!r}, task={self.task!r}, "
                f"sizes {_size_text(self.min_size)}..{_size_text(self.max_size)})")


def _activation(logits: np.ndarray, kind: str | None, axis: int = -1) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    if kind == "sigmoid":
        return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
    if kind in (None, "none", "identity"):
        return logits.astype(np.float32)
    shifted = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return (e / e.sum(axis=axis, keepdims=True)).astype(np.float32)

