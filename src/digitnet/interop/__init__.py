"""Models in other formats: ONNX (:func:`to_onnx`, :func:`write_onnx`)."""

from digitnet.interop.onnx import INPUT_TYPES, OPSET, to_onnx, write_onnx

__all__ = ["INPUT_TYPES", "OPSET", "to_onnx", "write_onnx"]
