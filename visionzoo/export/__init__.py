"""Deployment exports: ONNX with onnxruntime verification, deployment metadata and a predictor for the files."""
from .metadata import read_metadata
from .onnx import ExportReport, OnnxExportError, export_onnx, window_size_limits
from .predictor import InputSizeError, OnnxPredictor

__all__ = ["ExportReport", "InputSizeError", "OnnxExportError", "OnnxPredictor", "export_onnx", "read_metadata",
           "window_size_limits"]
