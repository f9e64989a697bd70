"""The one preprocessing step between stored images and every model."""

from __future__ import annotations

import numpy as np

from digitnet.errors import ConfigError

IMAGE_SHAPE = (28, 28)
#: pixels are divided by this float32 constant on every code path (training batches
#: included), so results agree bit for bit and 51 maps exactly to float32(0.2)
PIXEL_MAX = np.float32(255)


def to_input(images: np.ndarray) -> np.ndarray:
    """Turn uint8 MNIST-style images into network input: THE preprocessing every model uses.

    Every model, in training, evaluation and prediction, sees ``x / 255`` as float32 with a
    channel axis, and nothing else (no mean subtraction), so a model file needs no
    preprocessing parameters.

    Parameters
    ----------
    images : np.ndarray
        ``(N, 28, 28)`` uint8, 0 = background, 255 = ink, as in the MNIST files.

    Returns
    -------
    np.ndarray
        ``(N, 1, 28, 28)`` float32 in [0, 1]; a new array.

    Raises
    ------
    ConfigError
        Wrong dtype (already-scaled floats would be scaled twice) or shape.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ConfigError(f"images must be uint8 (0-255, as stored in the MNIST files), got "
                          f"dtype {images.dtype}")
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise ConfigError(f"images must have shape (N, 28, 28), got {images.shape}")
    x = images.astype(np.float32)
    x /= PIXEL_MAX
    return x.reshape(len(x), 1, *IMAGE_SHAPE)  # (N, 28, 28) -> (N, 1, 28, 28)
