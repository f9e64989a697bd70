"""A look inside a network: what its first layer responds to and what each layer computes
for one example.

Conventions: every preset takes ``(28, 28, 1)`` inputs (MLPs flatten them; old MLP files
have ``(1, 28, 28)``); convolutional layers are channels-last, activations ``(N, H, W, C)``
and Conv2D weights ``(kH, kW, C_in, C_out)``; Dense weights are ``(D_in, D_out)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from digitnet import __version__
from digitnet.data.preprocess import to_input
from digitnet.errors import PixelsError
from digitnet.nn import BatchNorm, Conv2D, Dense, Dropout, Flatten, Module, Sequential
from digitnet.nn.layers import ACTIVATIONS

#: layers that pass values through unchanged at inference (only reshaped): not drawn
PASS_THROUGH = (Flatten, Dropout)


@dataclass(frozen=True)
class FirstLayer:
    """The first weighted layer's weights as a stack of images.

    Attributes
    ----------
    index : int
        Position of the layer in ``model.layers``.
    kind : str
        ``"dense"`` (each image is one unit's weights over the input pixels) or ``"conv"``
        (each image is one filter's kernel).
    weights : np.ndarray
        ``(K, h, w)``: K units or filters, each an h x w image.
    """

    index: int
    kind: str
    weights: np.ndarray


def first_layer_weights(model: Sequential) -> FirstLayer | None:
    """The first Dense or Conv2D layer's weights as images, or None when they cannot be
    drawn as images (a first Dense layer that does not read the raw pixels).

    Dense ``W`` (D_in, D_out) with D_in = H*W -> (D_out, H, W); Conv2D ``W`` (kH, kW, C_in,
    C_out) -> (C_out, kH, kW), summed over input channels when C_in > 1.
    """
    pixels = int(np.prod(model.input_shape))
    h, w = _image_size(model.input_shape)
    for i, layer in enumerate(model.layers):
        if isinstance(layer, Conv2D):
            kernel = layer.params["W"].sum(axis=2)  # (kH, kW, C_out)
            return FirstLayer(i, "conv", np.moveaxis(kernel, -1, 0))  # (C_out, kH, kW)
        if isinstance(layer, Dense):
            weights = layer.params["W"]  # (D_in, D_out)
            if weights.shape[0] != pixels or h * w != pixels:
                return None
            return FirstLayer(i, "dense", weights.T.reshape(-1, h, w))  # (D_out, H, W)
    return None


def _image_size(input_shape: tuple[int, ...]) -> tuple[int, int]:
    """(H, W) of a per-example input shape (1, H, W), (H, W, 1) or (H, W)."""
    dims = [d for d in input_shape if d != 1]
    return (dims[0], dims[1]) if len(dims) == 2 else (0, 0)


@dataclass(frozen=True)
class Activation:
    """One layer's output for one example.

    Attributes
    ----------
    index : int
        Position in ``model.layers``; -1 for the input image.
    name : str
        The layer's description, e.g. ``Conv2D(filters=32, ...)``.
    values : np.ndarray
        The output without the batch axis: (H, W, C) maps or (D,) features.
    """

    index: int
    name: str
    values: np.ndarray


def layer_activations(model: Sequential, image: np.ndarray) -> list[Activation]:
    """Run one image through the network layer by layer (inference mode).

    Parameters
    ----------
    model : Sequential
    image : (28, 28) uint8 or float in [0, 1].

    Returns
    -------
    list of Activation
        The input, then the output of every layer except those that only pass values
        through at inference (Flatten, Dropout). The last one holds the network's outputs
        (logits for softmax-trained models).
    """
    x = to_input(np.asarray(image)[None], model.input_shape)  # (1, *input_shape)
    out = [Activation(-1, "input", x[0].reshape(_image_size(model.input_shape)))]
    for i, layer in enumerate(model.layers):
        x = layer.forward(x, training=False)
        if not isinstance(layer, PASS_THROUGH):
            out.append(Activation(i, describe(layer), np.array(x[0])))
    return out


def describe(layer: Module) -> str:
    """A short name for a layer: ``Dense 128``, ``Conv2D 32 3x3``, ``MaxPool2D 2x2``."""
    name = type(layer).__name__
    if isinstance(layer, Dense):
        return f"{name} {layer.units}"
    if isinstance(layer, Conv2D):
        return f"{name} {layer.filters} {layer.kernel_size[0]}x{layer.kernel_size[1]}"
    if hasattr(layer, "pool_size"):
        return f"{name} {layer.pool_size[0]}x{layer.pool_size[1]}"
    return name


def model_facts(model: Any, path: str | Path) -> dict[str, Any]:
    """What a person wants to know about a model, JSON-ready: its file name (never the
    folder), preset, parameter count, recorded test accuracy, ensemble size, layers, and
    for a model adapted to someone's samples, how many and from which base model."""
    meta = getattr(model, "meta", {}) or {}
    net = model.members[0] if hasattr(model, "members") else model
    adapted = None
    if "adapt" in meta:
        base = meta.get("base_model") or {}
        adapted = {
            "samples": meta["adapt"]["samples"],
            "per_digit": meta["adapt"]["per_digit"],
            "base_model": base.get("file"),
            "base_test_accuracy": base.get("test_accuracy"),
        }
    return {
        "file": Path(path).name,
        "preset": meta.get("preset"),
        "parameters": int(model.num_parameters()),
        "test_accuracy": (meta.get("test") or {}).get("accuracy"),
        "ensemble": len(model.members) if hasattr(model, "members") else 1,
        "layers": [describe(layer) for layer in net.layers],
        "convolutional": any(isinstance(layer, Conv2D) for layer in net.layers),
        "dense": any(isinstance(layer, Dense) for layer in net.layers),
        "adapted": adapted,
        "digitnet_version": __version__,
    }


def pixels_to_digit(pixels: Any) -> np.ndarray:
    """One digit given as the network's input, as ``(28, 28)`` uint8: 28 rows of 28 values
    or 784 values, in [0, 255], or in [0, 1] when none is above 1 (then scaled by 255).

    Raises
    ------
    PixelsError
        Another shape, a value that is not a finite number, or one out of range.
    """
    try:
        a = np.asarray(pixels, dtype=np.float64)
    except (ValueError, TypeError):
        raise PixelsError(
            "pixels must be 28 rows of 28 numbers or 784 numbers", subject="pixels"
        ) from None
    if a.size != 784 or a.shape not in ((784,), (28, 28)):
        raise PixelsError(
            f"pixels must be 28 rows of 28 numbers or 784 numbers, got shape {list(a.shape)}",
            subject="pixels",
        )
    if not np.isfinite(a).all() or a.min() < 0 or a.max() > 255:
        raise PixelsError(
            "pixels must be finite numbers from 0 to 255 (or 0 to 1)", subject="pixels"
        )
    if a.max() <= 1:
        a = a * 255
    return np.rint(a.reshape(28, 28)).astype(np.uint8)


def tile(values: np.ndarray, columns: int = 8) -> np.ndarray:
    """A layer's output as one grey image in [0, 1]: (H, W, C) maps side by side, ``columns``
    to a row, one pixel apart; or a (D,) vector as a strip of rows of 32. Each map is scaled
    to its own range (a constant map is 0)."""
    if values.ndim == 3:
        h, w, c = values.shape
        cols = min(columns, c)
        rows = -(-c // cols)
        out = np.zeros((rows * (h + 1) - 1, cols * (w + 1) - 1))
        for k in range(c):
            m = values[:, :, k]
            span = float(m.max() - m.min())
            r, q = divmod(k, cols)
            out[r * (h + 1) : r * (h + 1) + h, q * (w + 1) : q * (w + 1) + w] = (
                (m - m.min()) / span if span > 0 else 0
            )
        return out
    v = values.ravel()
    cols = min(32, v.size)
    v = np.concatenate([v, np.full(-v.size % cols, np.nan)]).reshape(-1, cols)
    span = float(np.nanmax(v) - np.nanmin(v))
    return np.nan_to_num((v - np.nanmin(v)) / span if span > 0 else v * 0)


#: layers that transform each value (or channel) on its own: a block ends after them
_ELEMENTWISE = (BatchNorm, *ACTIVATIONS.values())


def block_ends(model: Sequential, activations: list[Activation]) -> list[Activation]:
    """The activations that end a block: a Conv2D or Dense layer with the batch norm and
    activation after it is one block (its output is the activation's), a pooling layer one,
    the last layer one. Fewer, more telling pictures than every layer."""
    kept = []
    for k, a in enumerate(activations):
        after = activations[k + 1] if k + 1 < len(activations) else None
        if (
            a.index >= 0
            and after is not None
            and isinstance(model.layers[after.index], _ELEMENTWISE)
        ):
            continue
        kept.append(a)
    return kept


def block_label(model: Sequential, index: int) -> str:
    """The name of the block that ends at ``model.layers[index]`` (see :func:`block_ends`):
    ``Conv2D 32 5x5 + BatchNorm + ReLU``; ``input`` for -1."""
    if index < 0:
        return "input"
    start = index
    while start > 0 and isinstance(model.layers[start], _ELEMENTWISE + PASS_THROUGH):
        start -= 1
    names = [
        describe(layer)
        for layer in model.layers[start : index + 1]
        if not isinstance(layer, PASS_THROUGH)
    ]
    return " + ".join(names)


@dataclass(frozen=True)
class Feeds:
    """What one unit (a map of a convolutional layer, a unit of a dense one) is computed
    from, for one example.

    Attributes
    ----------
    layer : int
        Index in ``model.layers`` of the layer that combines its inputs (a Conv2D, Dense or
        pooling layer): the unit asked for is this layer's, or is made from it only by batch
        norm and an activation, which act on each unit alone.
    kind : str
        ``"conv"``, ``"dense"`` or ``"pool"``.
    source : int
        Index of the layer whose output it reads (-1: the input image).
    weights : np.ndarray or None
        conv: ``(C_in, kH, kW)``, one kernel per input map; dense: the weights in the shape
        of the source's output (``(H, W, C)`` maps, ``(D,)`` units or the ``(28, 28)``
        input); pool: None.
    contributions : np.ndarray
        conv and dense over maps: ``(C_in,)`` how much each input map adds to the unit
        (summed over its positions; for conv the mean over output positions); dense over a
        vector or the input image: input times weight, in its shape; pool: ``(1,)`` the
        mean of the map it pools.
    bias : float
    """

    layer: int
    kind: str
    unit: int
    source: int
    weights: np.ndarray | None
    contributions: np.ndarray
    bias: float


def what_feeds(model: Sequential, image: np.ndarray, index: int, unit: int) -> Feeds:
    """What computes ``unit`` of the output of ``model.layers[index]`` for ``image``
    (``(28, 28)``): the weights reaching it and each input's contribution.

    Raises
    ------
    PixelsError
        ``index`` or ``unit`` out of range (they come from a person's click).
    """
    acts = layer_activations(model, image)
    by_index = {a.index: a for a in acts}
    if index not in by_index or index < 0:
        raise PixelsError(f"no drawn layer {index} in this model", subject="layer")
    channels = by_index[index].values.shape[-1]
    if not 0 <= unit < channels:
        raise PixelsError(
            f"layer {index} has units 0 to {channels - 1}, got {unit}", subject="unit"
        )
    i = index
    while i > 0 and isinstance(model.layers[i], _ELEMENTWISE + PASS_THROUGH):
        i -= 1
    layer = model.layers[i]
    earlier = [a for a in acts if a.index < i]
    source = earlier[-1]
    x = source.values if source.index >= 0 else by_index[-1].values[:, :, None]
    if isinstance(layer, Conv2D):
        w = layer.params["W"][:, :, :, unit]  # (kH, kW, C_in)
        kh, kw = w.shape[:2]
        ph, pw = layer.pad
        xp = np.pad(x, ((ph, ph), (pw, pw), (0, 0)))
        sh, sw = layer.stride
        windows = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(0, 1))
        windows = windows[::sh, ::sw]  # (Ho, Wo, C_in, kH, kW)
        parts = np.einsum("pqcij,ijc->c", windows, w) / (windows.shape[0] * windows.shape[1])
        bias = float(layer.params["b"][unit]) if "b" in layer.params else 0.0
        return Feeds(i, "conv", unit, source.index, np.moveaxis(w, -1, 0), parts, bias)
    if isinstance(layer, Dense):
        x = source.values  # (H, W, C) maps, (D,) units, or the (28, 28) input
        w = layer.params["W"][:, unit].reshape(x.shape)
        parts = x * w
        if x.ndim == 3:
            parts = parts.sum(axis=(0, 1))
        bias = float(layer.params["b"][unit]) if "b" in layer.params else 0.0
        return Feeds(i, "dense", unit, source.index, w, parts, bias)
    return Feeds(i, "pool", unit, source.index, None, np.array([x[..., unit].mean()]), 0.0)
