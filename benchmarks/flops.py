"""Shapes and matrix-multiply FLOPs of a digitnet model, computed from its config alone.

``model.get_config()`` is ``{"input_shape": [...], "layers": [{"type": ..., ...}, ...]}``.
Images are channels-last per example: (H, W, C). Only the matrix products of Dense and Conv2D
layers are counted (2 FLOPs per multiply-add); activations, pooling, batch norm, the loss and
the optimizer are a few percent of the total and are left out, so the count is a slight
underestimate of the work and the efficiency figures derived from it are conservative.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Shape = tuple[int, ...]

PARAM_TYPES = ("Dense", "Conv2D", "BatchNorm")


@dataclass(frozen=True)
class LayerShape:
    index: int
    type: str
    config: dict[str, Any]
    input_shape: Shape
    output_shape: Shape


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def conv_padding(padding: Any, kernel: tuple[int, int]) -> tuple[int, int]:
    """'valid' | 'same' | int | [ph, pw] -> (ph, pw), as digitnet.nn.conv does."""
    if padding == "valid":
        return 0, 0
    if padding == "same":
        return (kernel[0] - 1) // 2, (kernel[1] - 1) // 2
    return _pair(padding)


def _out(size: int, k: int, s: int, p: int) -> int:
    return (size + 2 * p - k) // s + 1


def propagate(config: dict[str, Any]) -> list[LayerShape]:
    """Per-example input and output shape of every layer (no batch axis)."""
    shape: Shape = tuple(int(d) for d in config["input_shape"])
    out: list[LayerShape] = []
    for i, layer in enumerate(config["layers"]):
        kind = layer["type"]
        if kind == "Dense":
            new: Shape = (int(layer["units"]),)
        elif kind == "Conv2D":
            h, w, _ = shape
            k, s = _pair(layer["kernel_size"]), _pair(layer.get("stride", 1))
            p = conv_padding(layer.get("padding", "valid"), k)
            new = (_out(h, k[0], s[0], p[0]), _out(w, k[1], s[1], p[1]), int(layer["filters"]))
        elif kind in ("MaxPool2D", "AvgPool2D"):
            h, w, c = shape
            k = _pair(layer.get("pool_size", 2))
            s = _pair(layer.get("stride") or k)
            new = (_out(h, k[0], s[0], 0), _out(w, k[1], s[1], 0), c)
        elif kind == "GlobalAvgPool2D":
            new = (shape[-1],)
        elif kind == "Flatten":
            n = 1
            for d in shape:
                n *= d
            new = (n,)
        else:  # activations, dropout, batch norm keep the shape
            new = shape
        out.append(LayerShape(i, kind, dict(layer), shape, new))
        shape = new
    return out


def matmul_flops_per_example(ls: LayerShape) -> int:
    """FLOPs of one matrix product of the layer for one example (0 for other layers)."""
    if ls.type == "Dense":
        return 2 * ls.input_shape[0] * ls.output_shape[0]
    if ls.type == "Conv2D":
        kh, kw = _pair(ls.config["kernel_size"])
        ho, wo, c_out = ls.output_shape
        return 2 * ho * wo * kh * kw * ls.input_shape[-1] * c_out
    return 0


def training_flops(config: dict[str, Any], examples: int) -> dict[str, int]:
    """FLOPs of training on ``examples`` images: forward, weight gradient and input gradient
    per Dense/Conv2D layer, except the input gradient of the layers up to and including the
    first one with parameters (nothing upstream learns, so neither digitnet nor PyTorch's
    autograd computes it)."""
    shapes = propagate(config)
    first = next((ls.index for ls in shapes if ls.type in PARAM_TYPES), None)
    fwd = bwd = 0
    for ls in shapes:
        f = matmul_flops_per_example(ls)
        fwd += f
        bwd += f  # weight gradient
        if first is not None and ls.index > first:
            bwd += f  # input gradient
    return {"forward": fwd * examples, "backward": bwd * examples, "total": (fwd + bwd) * examples}


def inference_flops_per_example(config: dict[str, Any]) -> int:
    return sum(matmul_flops_per_example(ls) for ls in propagate(config))
