"""scikit-learn's 8x8 digits upscaled to MNIST-style 28x28."""

from __future__ import annotations

import numpy as np
import pytest

from digitnet.data import load_digits_28
from digitnet.data.digits import upscale
from digitnet.errors import ConfigError

sklearn_datasets = pytest.importorskip("sklearn.datasets", reason="needs scikit-learn")


@pytest.fixture(scope="module")
def digits():
    return load_digits_28()


def test_shapes_dtypes_and_range(digits):
    images, labels = digits
    assert images.shape == (1797, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (1797,) and labels.dtype == np.int64
    assert np.array_equal(np.unique(labels), np.arange(10))
    assert images.max() == 255 and images.min() == 0
    assert images.reshape(len(images), -1).max(axis=1).min() > 100  # every digit has ink


def test_digit_is_a_centred_20x20_box(digits):
    images, _ = digits
    border = np.ones((28, 28), bool)
    border[4:24, 4:24] = False
    assert not images[:, border].any()
    assert images[:, 4, 4:24].any() or images[:, 23, 4:24].any()  # the box reaches its edges


def test_matches_the_source_digits(digits):
    images, labels = digits
    source = sklearn_datasets.load_digits()
    np.testing.assert_array_equal(labels, source.target)
    for i in (0, 1, 100, 1796):  # the box holds the source digit, upscaled and scaled 0-16 -> 0-255
        expected = reference_bilinear(source.images[i], 20) * 255 / 16
        # rounded to the nearest integer; 1e-9 because a value of exactly k + 0.5 may round
        # either way depending on the order of float operations
        assert np.abs(images[i, 4:24, 4:24] - expected).max() <= 0.5 + 1e-9


def reference_bilinear(image: np.ndarray, size: int) -> np.ndarray:
    """Slow, obvious bilinear resize with centre-aligned pixels and clamped edges."""
    n = image.shape[0]
    out = np.zeros((size, size))
    for i in range(size):
        for j in range(size):
            y = min(max((i + 0.5) * n / size - 0.5, 0), n - 1)
            x = min(max((j + 0.5) * n / size - 0.5, 0), n - 1)
            y0, x0 = int(y), int(x)
            y1, x1 = min(y0 + 1, n - 1), min(x0 + 1, n - 1)
            dy, dx = y - y0, x - x0
            out[i, j] = (
                image[y0, x0] * (1 - dy) * (1 - dx)
                + image[y0, x1] * (1 - dy) * dx
                + image[y1, x0] * dy * (1 - dx)
                + image[y1, x1] * dy * dx
            )
    return out


@pytest.mark.parametrize("size", [8, 11, 20, 28])
def test_upscale_matches_reference(size):
    images = np.random.default_rng(0).uniform(0, 16, size=(3, 8, 8))
    fast = upscale(images, size)
    for image, out in zip(images, fast, strict=True):
        np.testing.assert_allclose(out, reference_bilinear(image, size), rtol=1e-12, atol=1e-12)


def test_upscale_identity_and_constant():
    image = np.arange(64.0).reshape(1, 8, 8)
    np.testing.assert_array_equal(upscale(image, 8), image)
    np.testing.assert_allclose(upscale(np.full((1, 8, 8), 16.0), 20), 16.0, rtol=1e-15)


@pytest.mark.parametrize("box", [7, 29, 20.0, True])
def test_invalid_box(box):
    with pytest.raises(ConfigError, match=f"box must be an integer between 8 and 28, got {box}"):
        load_digits_28(box=box)
