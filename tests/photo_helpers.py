"""Offline material for the image tests: scikit-learn's handwritten digits in MNIST's
convention, a small model trained on them in seconds, and photos / numbers made from them.

The model never sees the held-out digits (:data:`HELD_OUT` onwards) that the accuracy tests
photograph.
"""

from __future__ import annotations

import dataclasses
import functools
import io

import numpy as np
import pytest
from PIL import Image

from digitnet.data import load_digits_28
from digitnet.data.mnist import Split
from digitnet.data.photos import DEFAULT, compose_number, jpeg_bytes, render_photo
from digitnet.imaging.images import place_by_centre_of_mass
from digitnet.nn import Dense, Flatten, ReLU, Sequential
from digitnet.training.loop import TrainConfig, fit

pytest.importorskip("sklearn.datasets", reason="needs scikit-learn (digitnet[test])")

#: digits [0, HELD_OUT) train the model, the others are photographed
HELD_OUT = 1200
#: scikit-learn's digits are 8x8 images enlarged: a thin pen cuts their blurry strokes into
#: pieces that no pen would leave, so their photos use MNIST's stroke width or thicker
PHOTO = dataclasses.replace(DEFAULT, pen=(0.3, 0.5))


@functools.lru_cache(maxsize=1)
def mnist_style_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 digits as MNIST makes its digits: in a 20x20 box (as
    :func:`load_digits_28` does), then shifted so the centre of mass is nearest to (14, 14)
    (``load_digits_28`` centres the box instead). ``(1797, 28, 28)`` uint8 and labels."""
    images, labels = load_digits_28()
    out = np.stack([place_by_centre_of_mass(img[4:24, 4:24] / 255.0) for img in images])
    return out, labels


@functools.lru_cache(maxsize=1)
def digits_model() -> Sequential:
    """A 784-128-10 network trained on the first :data:`HELD_OUT` digits (a few seconds),
    with light augmentation, as the real models are."""
    images, labels = mnist_style_digits()
    model = Sequential(
        [Flatten(), Dense(128), ReLU(), Dense(10)], (1, 28, 28), np.random.default_rng(0)
    )
    config = TrainConfig(
        epochs=40,
        batch_size=32,
        optimizer="adam",
        lr=2e-3,
        seed=0,
        augment={"rotate": 8.0, "shift": 1.5, "scale": 0.1},
    )
    fit(model, Split(images[:HELD_OUT], labels[:HELD_OUT]), None, config, progress=False)
    return model


def photo(digit: np.ndarray, seed: int) -> Image.Image:
    """A JPEG "photo" (decoded) of one 28x28 digit: dark ink on paper."""
    rng = np.random.default_rng(seed)
    return Image.open(io.BytesIO(jpeg_bytes(render_photo(digit, rng, PHOTO), rng)))


def number_photo(digits: np.ndarray, seed: int, touching: float = 0.15) -> Image.Image:
    """A JPEG "photo" (decoded) of 28x28 digits written side by side as a number."""
    rng = np.random.default_rng(seed)
    strip, _ = compose_number(digits, rng, touching=touching)
    return Image.open(io.BytesIO(jpeg_bytes(render_photo(strip, rng, PHOTO), rng)))
