"""Deployment exports: ONNX with onnxruntime verification."""
from .onnx import ExportReport, OnnxExportError, export_onnx

__all__ = ["ExportReport", "OnnxExportError", "export_onnx"]
