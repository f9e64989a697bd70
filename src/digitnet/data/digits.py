"""A small real handwritten-digit set in MNIST format, for offline tests.

scikit-learn ships 1,797 handwritten digits as 8x8 images with values 0-16 (the UCI "optdigits"
test set). :func:`load_digits_28` upscales them like MNIST was made: the digit fills a 20x20 box
centred in a 28x28 image, ink 255 on a 0 background. They are blockier than MNIST digits, so a
model trained on MNIST does not score as well on them; they are meant for end-to-end tests that
must run without the MNIST files.
"""

from __future__ import annotations

import numpy as np

from digitnet.errors import ConfigError, DataError

SIZE = 28


def load_digits_28(*, box: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits as MNIST-style 28x28 images.

    Parameters
    ----------
    box : int, default 20
        Side of the square the 8x8 digit is bilinearly upscaled into, centred in 28x28
        (MNIST uses 20).

    Returns
    -------
    images : np.ndarray
        ``(1797, 28, 28)`` uint8, 0-255.
    labels : np.ndarray
        ``(1797,)`` int64 digits 0-9.

    Raises
    ------
    DataError
        scikit-learn is not installed (it is a test dependency, not a runtime one).
    """
    if isinstance(box, bool) or not isinstance(box, int) or not 8 <= box <= SIZE:
        raise ConfigError(f"box must be an integer between 8 and {SIZE}, got {box!r}")
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError(
            "load_digits_28 needs scikit-learn, which is not installed; "
            "install it with `pip install scikit-learn` (or digitnet[test])"
        ) from None
    digits = load_digits()
    images = upscale(digits.images, box) * (255 / 16)  # sklearn's 0-16 -> MNIST's 0-255
    out = np.zeros((len(images), SIZE, SIZE), dtype=np.uint8)
    top = (SIZE - box) // 2
    out[:, top : top + box, top : top + box] = np.clip(np.rint(images), 0, 255)
    return out, digits.target.astype(np.int64)


def upscale(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of square images ``(N, n, n)`` -> ``(N, size, size)`` float64.

    Pixel centres are aligned (output pixel i samples input position
    ``(i + 0.5) * n / size - 0.5``, clamped to the edges), which is what image libraries do.
    Done as two matrix products, ``W @ img @ W.T`` with ``W`` of shape ``(size, n)``.
    """
    weights = _bilinear_weights(images.shape[-1], size)
    return weights @ np.asarray(images, dtype=np.float64) @ weights.T  # (N, size, size)


def _bilinear_weights(n: int, size: int) -> np.ndarray:
    """``(size, n)`` matrix whose row i holds the interpolation weights of output pixel i."""
    pos = np.clip((np.arange(size) + 0.5) * n / size - 0.5, 0, n - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    frac = pos - lo
    weights = np.zeros((size, n))
    rows = np.arange(size)
    np.add.at(weights, (rows, lo), 1 - frac)
    np.add.at(weights, (rows, hi), frac)
    return weights
