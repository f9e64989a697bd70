"""The one preprocessing step between stored images and every model."""

from __future__ import annotations

import numpy as np

from digitnet.errors import ConfigError

IMAGE_SHAPE = (28, 28)
#: the per-example input shape of every preset: channels-last images, one channel
INPUT_SHAPE = (28, 28, 1)
#: pixels are divided by this float32 constant on every code path (training batches
#: included), so results agree bit for bit and 51 maps exactly to float32(0.2)
PIXEL_MAX = np.float32(255)


def to_input(
    images: np.ndarray,
    input_shape: tuple[int, ...] | None = INPUT_SHAPE,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Turn MNIST-style images into network input: THE preprocessing every model uses.

    Every model, in training, evaluation and prediction, sees ``x / 255`` as float32 in its
    input shape, and nothing else (no mean subtraction), so a model file needs no
    preprocessing parameters.

    Parameters
    ----------
    images : np.ndarray
        ``(N, 28, 28)`` (or any ``(N, ...)`` holding ``prod(input_shape)`` values per image):
        uint8, 0 = background, 255 = ink, as in the MNIST files, scaled by 1/255; or floats
        already in [0, 1] (augmented or distorted images), taken as they are.
    input_shape : tuple of int
        The model's per-example input shape, ``model.input_shape``; (28, 28, 1) by default.
        Old MLP model files have (1, 28, 28): the same 784 values in the same order. None
        (the input shape of a network that was never built) is refused.
    out : np.ndarray, optional
        A float32 ``(N, *input_shape)`` array to write into (the training loop reuses one).

    Returns
    -------
    np.ndarray
        ``(N, *input_shape)`` float32; a new array (or ``out``), never a view of ``images``.

    Raises
    ------
    ConfigError
        A dtype that is neither uint8 nor floating, or a shape that does not hold N images
        of ``input_shape``, or no ``input_shape``.
    """
    if input_shape is None:
        raise ConfigError("the model has no input shape: it was never built or trained")
    images = np.asarray(images)
    shape = (len(images),) + tuple(input_shape) if images.ndim else ()
    if images.ndim < 2 or int(np.prod(images.shape[1:])) != int(np.prod(input_shape)):
        raise ConfigError(
            f"images must have shape (N, 28, 28) (N images of "
            f"{tuple(input_shape)}), got {images.shape}"
        )
    if images.dtype == np.uint8:
        if out is None:
            out = np.empty(shape, dtype=np.float32)
        np.divide(images.reshape(out.shape), PIXEL_MAX, out=out)
        return out
    if not np.issubdtype(images.dtype, np.floating):
        raise ConfigError(
            f"images must be uint8 (0-255, as stored in the MNIST files) or "
            f"floats in [0, 1], got dtype {images.dtype}"
        )
    if out is None:
        return images.astype(np.float32).reshape(shape)
    out[...] = images.reshape(out.shape)
    return out
