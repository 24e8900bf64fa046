"""What an exported ONNX file carries for deployment: ``metadata_props`` written and read back.

Every value is a string in the file. Strings are stored as they are; numbers, booleans, lists and dicts as
JSON, so `read_metadata` gives back the Python values. The keys (all optional except the first five):

==================  =======================================================================================
``visionzoo_version``  the library version that wrote the file; ``opset``; ``precision`` (fp32, fp16, int8)
``model``, ``tag``  registered architecture and weight tag of its ``pretrained_cfg``; ``weights`` (caller's)
``task``            classification, segmentation, detection or other (from the output names)
``input_names``, ``output_names``, ``input_layout`` (NCHW or NCDHW), ``channels``, ``dynamic_batch``
``min_size``, ``max_size``  per spatial axis, the sizes the graph serves (``max`` entries null: unbounded)
``spatial_multiple``  a dynamic graph serves multiples of it only (null for a fixed-size graph)
``size_check``      ``in-graph`` (a dynamic graph refuses other sizes itself) or ``fixed-shape``
``mean``, ``std``   per-channel normalisation after scaling pixels to [0, 1]; or ``normalization``:
                    ``zscore_nonzero_channelwise`` (BraTS volumes: per channel over the nonzero voxels)
``input_size``, ``crop_pct``, ``crop_mode``, ``interpolation``  timm's eval transform (classification)
``class_names``, ``output_activation``  softmax (classes) or sigmoid (multi-label regions, e.g. TC/WT/ET)
``roi_size``, ``overlap``, ``sw_batch_size``, ``blend_mode``, ``sigma_scale``, ``threshold``
                    sliding-window inference of volumes (the ROI is the graph's fixed input size)
==================  =======================================================================================
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["read_metadata", "write_metadata", "encode_value", "decode_value"]


def encode_value(value: Any) -> str:
    """A metadata value as the string stored in the file (strings as-is, the rest as JSON)."""
    if isinstance(value, str):
        return value
    return json.dumps(_plain(value))


def decode_value(text: str) -> Any:
    """Inverse of `encode_value`: JSON where the text is JSON, else the string."""
    try:
        return json.loads(text)
    except (ValueError, TypeError):
        return text


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return value.item()
    return value


def write_metadata(model_proto: Any, metadata: Mapping[str, Any]) -> None:
    """Set ``metadata_props`` of an `onnx.ModelProto` (replacing keys that are already there); None values are skipped."""
    existing = {p.key: p.value for p in model_proto.metadata_props}
    existing.update({k: encode_value(v) for k, v in metadata.items() if v is not None})
    del model_proto.metadata_props[:]
    for key, value in existing.items():
        entry = model_proto.metadata_props.add()
        entry.key, entry.value = key, value


def read_metadata(path_or_proto: str | Path | Any) -> dict[str, Any]:
    """The decoded ``metadata_props`` of an ONNX file (or ModelProto); empty for files written by other tools."""
    if isinstance(path_or_proto, (str, Path)):
        import onnx

        proto = onnx.load(str(path_or_proto), load_external_data=False)
    else:
        proto = path_or_proto
    return {p.key: decode_value(p.value) for p in proto.metadata_props}
