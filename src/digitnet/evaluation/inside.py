"""A look inside a network: what its first layer responds to and what each layer computes
for one example.

Conventions: every preset takes ``(28, 28, 1)`` inputs (MLPs flatten them; old MLP files
have ``(1, 28, 28)``); convolutional layers are channels-last, activations ``(N, H, W, C)``
and Conv2D weights ``(kH, kW, C_in, C_out)``; Dense weights are ``(D_in, D_out)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digitnet.data.preprocess import to_input
from digitnet.nn import Conv2D, Dense, Dropout, Flatten, Module, Sequential

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
