"""A digitnet model as an ONNX graph, for onnxruntime, browsers and phones.

The graph takes what :func:`digitnet.evaluation.evaluate.predict_proba` takes, MNIST-style images
``(N, 28, 28)`` (0 = background), with a dynamic batch dimension: by default as uint8 0-255,
as stored in the MNIST files and sent by the web page (``input_type="uint8"``, divided by 255
in the graph exactly as :func:`digitnet.data.preprocess.to_input` does), or as float32 in
[0, 1] (``input_type="float"``). One convention by default, and a uint8 input cannot be fed
the wrong range by mistake: onnxruntime refuses a float array for it, while a float graph
fed 0-255 answers without an error and mostly wrongly. The input type and range are written
in the file's metadata (``metadata_props``: ``input_type``, ``input_range``) and on the
input itself (its ``doc_string``). It gives two outputs: ``probabilities`` ``(N, classes)``
float32 and ``label`` ``(N,)`` int64.

Layout: digitnet's images are channels-last ``(N, H, W, C)``; ONNX's Conv, pooling and
BatchNormalization work on ``(N, C, H, W)``. The graph transposes to NCHW before the first
layer that needs it and back to NHWC before a Flatten, so that the flattened features come
in digitnet's order (H, W, C) and the Dense weights apply unchanged. Dropout is dropped
(inference), BatchNorm is its inference form, an ensemble averages its members'
probabilities (``Mean``). The model's metadata (preset, test accuracy, digitnet version)
goes into the ONNX metadata.

Typical use::

    from digitnet.interop import to_onnx
    proto = to_onnx(model)                 # an onnx.ModelProto, checked
    open("model.onnx", "wb").write(proto.SerializeToString())
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from digitnet import __version__
from digitnet.errors import ExportError
from digitnet.nn import (
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Ensemble,
    Flatten,
    GlobalAvgPool2D,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)

#: the opset the graph is written for (every operator used exists unchanged in it)
OPSET = 17
#: the IR version written: the one that opset 17 came with (onnx 1.12), which every
#: onnxruntime since 1.12 reads
IR_VERSION = 8
INPUT_TYPES = ("uint8", "float")
#: what each input type takes: the metadata's ``input_range`` and what ``digitnet export`` says
INPUT_RANGES = {
    "uint8": "uint8 0-255 as in the MNIST files, 0 = background",
    "float": "float32 0.0-1.0 (pixels / 255), 0 = background; 0-255 values read wrongly",
}


def describe_input(input_type: str) -> str:
    """``'pixels' (N, 28, 28) uint8 0-255 as in the MNIST files, 0 = background``: the input
    of a graph written with ``input_type``."""
    return f"'pixels' (N, 28, 28) {INPUT_RANGES[input_type]}"


#: the layer types with an ONNX form (exact types: a subclass may compute something else)
SUPPORTED = (
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool2D,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)


def to_onnx(
    model: Sequential | Ensemble, *, input_type: str = "uint8", name: str = "digitnet"
) -> Any:
    """Build and check the ONNX graph of a built model.

    Parameters
    ----------
    model : Sequential or Ensemble
    input_type : "uint8" (default) or "float"
        The input ``pixels``: uint8 0-255 or float32 in [0, 1], shape ``(N, *image)`` where
        ``image`` is the model's input shape without a trailing channel of 1 (``(28, 28)``
        for every preset); written in the metadata as ``input_type`` and ``input_range``.
    name : str
        The graph's name.

    Returns
    -------
    onnx.ModelProto
        Passed by ``onnx.checker.check_model(full_check=True)``.

    Raises
    ------
    ExportError
        A layer with no ONNX form here, an unbuilt model, an unknown input type, or onnx
        not installed.
    """
    try:
        import onnx
        from onnx import TensorProto, helper
    except ImportError:
        raise ExportError(
            "ONNX export needs the onnx package: pip install 'digitnet[onnx]'"
        ) from None
    if input_type not in INPUT_TYPES:
        raise ExportError(f"input type must be one of {', '.join(INPUT_TYPES)}, got {input_type!r}")
    if model.input_shape is None:
        raise ExportError("the model is not built (no input shape): build or train it first")
    members = model.members if isinstance(model, Ensemble) else [model]
    g = _Graph()
    shape = tuple(model.input_shape)
    image = shape[:-1] if len(shape) == 3 and shape[-1] == 1 else shape
    dtype = TensorProto.FLOAT if input_type == "float" else TensorProto.UINT8
    x = "pixels"
    if input_type == "uint8":
        x = g.node("Cast", [x], to=TensorProto.FLOAT)
        x = g.node("Div", [x, g.const("pixel_max", np.float32(255))])
    x = g.node("Reshape", [x, g.const("input_shape", np.array((-1,) + shape, np.int64))])
    outs = [_member(g, m, x, f"m{i}." if len(members) > 1 else "") for i, m in enumerate(members)]
    proba = outs[0] if len(outs) == 1 else g.node("Mean", outs)
    g.node("Identity", [proba], out="probabilities")
    g.node("ArgMax", ["probabilities"], out="label", axis=1, keepdims=0)
    classes = int(model.output_shape[-1])
    pixels = helper.make_tensor_value_info("pixels", dtype, ["N", *image])
    pixels.doc_string = INPUT_RANGES[input_type]
    graph = helper.make_graph(
        g.nodes,
        name,
        [pixels],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", classes]),
            helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
        ],
        initializer=g.initializers,
    )
    proto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="digitnet",
        producer_version=__version__,
    )
    proto.ir_version = IR_VERSION
    proto.doc_string = (
        f"MNIST-style digit images {describe_input(input_type)} -> class probabilities "
        "'probabilities' (N, classes) and the label 'label' (N,)"
    )
    helper.set_model_props(proto, _metadata(model, input_type))
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _metadata(model: Sequential | Ensemble, input_type: str) -> dict[str, str]:
    meta = getattr(model, "meta", {}) or {}
    out = {
        "digitnet_version": __version__,
        "input_type": input_type,
        "input_range": INPUT_RANGES[input_type],
        "architecture": json.dumps(model.get_config()),
    }
    test = meta.get("test")
    if isinstance(test, dict) and "accuracy" in test:
        out["test_accuracy"] = str(test["accuracy"])
    for key in ("preset", "seed", "created"):
        if key in meta:
            out[key] = str(meta[key])
    return out


class _Graph:
    """Nodes and initializers, with unique names."""

    def __init__(self) -> None:
        self.nodes: list = []
        self.initializers: list = []
        self._count = 0

    def _name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, hint: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        name = self._name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], out: str | None = None, **attrs) -> str:
        from onnx import helper

        out = out or self._name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=self._name(op), **attrs))
        return out


def _member(g: _Graph, model: Sequential, x: str, prefix: str) -> str:
    """Add one network's layers after ``x`` (its input in digitnet's layout); return the
    name of its probabilities."""
    nchw = False  # the current tensor's layout, for image tensors
    for i, layer in enumerate(model.layers):
        p = {k: np.asarray(v, np.float32) for k, v in getattr(layer, "params", {}).items()}
        b = {k: np.asarray(v, np.float32) for k, v in getattr(layer, "buffers", {}).items()}
        at = f"{prefix}layers.{i}"
        if type(layer) not in SUPPORTED:
            raise ExportError(
                f"layer {i} ({type(layer).__name__}) has no ONNX form in "
                "digitnet's exporter: export a model of the supported layers"
            )
        image = layer.input_shape is not None and len(layer.input_shape) == 3
        if isinstance(layer, Conv2D | MaxPool2D | AvgPool2D | GlobalAvgPool2D) or (
            isinstance(layer, BatchNorm) and image
        ):
            if not nchw:
                x, nchw = g.node("Transpose", [x], perm=[0, 3, 1, 2]), True
        elif isinstance(layer, Flatten | Dense | Softmax) and nchw:
            x, nchw = g.node("Transpose", [x], perm=[0, 2, 3, 1]), False
        if isinstance(layer, Conv2D):
            (ph, pw), (sh, sw) = layer.pad, layer.stride
            w = g.const(f"{at}.W", p["W"].transpose(3, 2, 0, 1).copy())  # (F, C, kh, kw)
            ins = [x, w] + ([g.const(f"{at}.b", p["b"])] if "b" in p else [])
            x = g.node(
                "Conv",
                ins,
                kernel_shape=list(layer.kernel_size),
                strides=[sh, sw],
                pads=[ph, pw, ph, pw],
            )
        elif isinstance(layer, MaxPool2D | AvgPool2D):
            op = "MaxPool" if isinstance(layer, MaxPool2D) else "AveragePool"
            x = g.node(op, [x], kernel_shape=list(layer.pool_size), strides=list(layer.stride))
        elif isinstance(layer, GlobalAvgPool2D):
            x = g.node("GlobalAveragePool", [x])
            x, nchw = g.node("Flatten", [x], axis=1), False
        elif isinstance(layer, BatchNorm):
            x = g.node(
                "BatchNormalization",
                [
                    x,
                    g.const(f"{at}.gamma", p["gamma"]),
                    g.const(f"{at}.beta", p["beta"]),
                    g.const(f"{at}.mean", b["running_mean"]),
                    g.const(f"{at}.var", b["running_var"]),
                ],
                epsilon=layer.eps,
            )
        elif isinstance(layer, Dense):
            ins = [x, g.const(f"{at}.W", p["W"])]
            if "b" in p:
                x = g.node("Gemm", ins + [g.const(f"{at}.b", p["b"])])
            else:
                x = g.node("MatMul", ins)
        elif isinstance(layer, Flatten):
            x = g.node("Flatten", [x], axis=1)
        elif isinstance(layer, ReLU):
            x = g.node("Relu", [x])
        elif isinstance(layer, LeakyReLU):
            x = g.node("LeakyRelu", [x], alpha=layer.alpha)
        elif isinstance(layer, Sigmoid):
            x = g.node("Sigmoid", [x])
        elif isinstance(layer, Tanh):
            x = g.node("Tanh", [x])
        elif isinstance(layer, Softmax):
            x = g.node("Softmax", [x], axis=-1)
        # Dropout: the identity at inference
    if nchw:
        x = g.node("Transpose", [x], perm=[0, 2, 3, 1])
    kind = getattr(model.layers[-1], "output_kind", "logits")
    if kind == "probabilities":
        return x
    if kind == "sigmoid":  # independent sigmoids: normalised to sum to 1
        total = g.node("ReduceSum", [x, g.const("axes", np.array([1], np.int64))], keepdims=1)
        total = g.node("Max", [total, g.const("tiny", np.float32(1e-12))])
        return g.node("Div", [x, total])
    return g.node("Softmax", [x], axis=1)


def write_onnx(path, model: Sequential | Ensemble, *, input_type: str = "uint8") -> None:
    """Write :func:`to_onnx` of ``model`` to ``path`` atomically (temporary file, then
    rename: a crash never leaves a half-written file under the final name)."""
    from digitnet.files import atomic_write

    data = to_onnx(model, input_type=input_type).SerializeToString()
    atomic_write(path, lambda f: f.write(data))
