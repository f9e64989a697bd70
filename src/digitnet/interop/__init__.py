"""Models in other formats: ONNX (:func:`to_onnx`, :func:`write_onnx`)."""

from digitnet.interop.onnx import (
    INPUT_RANGES,
    INPUT_TYPES,
    OPSET,
    describe_input,
    to_onnx,
    write_onnx,
)

__all__ = ["INPUT_RANGES", "INPUT_TYPES", "OPSET", "describe_input", "to_onnx", "write_onnx"]
