"""Robustness transforms and curves: exact answers for known cases."""

from __future__ import annotations

import numpy as np
import pytest

from digitnet.evaluation.evaluate import evaluate
from digitnet.nn import Dense, Flatten, ReLU, Sequential
from digitnet.report.robustness import (
    PERTURBATIONS,
    Perturbation,
    blur,
    noise,
    robustness_curves,
    rotate,
    shift,
)


@pytest.fixture
def images() -> np.ndarray:
    return np.random.default_rng(0).random((6, 28, 28), dtype=np.float32)


@pytest.mark.parametrize("transform", [rotate, shift, blur, noise])
def test_strength_zero_is_the_identity(transform, images):
    out = transform(images, 0, np.random.default_rng(0))
    assert out.dtype == np.float32 and np.array_equal(out, images)


def test_rotate_by_90_degrees_is_a_quarter_turn_either_way(images):
    out = rotate(images, 90, np.random.default_rng(0))
    left, right = np.rot90(images, 1, axes=(1, 2)), np.rot90(images, -1, axes=(1, 2))
    is_left = np.all(np.abs(out - left) < 1e-4, axis=(1, 2))
    is_right = np.all(np.abs(out - right) < 1e-4, axis=(1, 2))
    assert np.all(is_left ^ is_right)  # each image: exactly one of them
    many = rotate(np.repeat(images[:1], 200, axis=0), 90, np.random.default_rng(1))
    turned_left = np.all(np.abs(many - left[:1]) < 1e-4, axis=(1, 2))
    assert 60 < turned_left.sum() < 140  # the direction is random


def test_rotation_keeps_a_centred_disc_and_is_seeded():
    r = np.hypot(*np.meshgrid(np.arange(28) - 13.5, np.arange(28) - 13.5, indexing="ij"))
    disc = (r < 8).astype(np.float32)[None].repeat(3, axis=0)
    out = rotate(disc, 30, np.random.default_rng(0))
    assert np.abs(out - disc)[:, r < 6].max() < 1e-5  # the inside stays ink
    assert np.abs(out)[:, r > 10].max() < 1e-6  # the outside stays blank
    a = rotate(np.random.default_rng(3).random((4, 28, 28)), 20, np.random.default_rng(5))
    b = rotate(np.random.default_rng(3).random((4, 28, 28)), 20, np.random.default_rng(5))
    assert np.array_equal(a, b)


def test_shift_moves_content_by_whole_pixels_and_fills_zeros():
    image = np.zeros((1, 28, 28), dtype=np.float32)
    image[0, 10, 12] = 1.0
    seen = set()
    for seed in range(20):
        out = shift(image, 3, np.random.default_rng(seed))
        ((r, c),) = np.argwhere(out[0] == 1.0)
        seen.add((int(r) - 10, int(c) - 12))
        assert out.sum() == 1.0
    assert seen == {(3, 0), (-3, 0), (0, 3), (0, -3)}
    full = np.ones((5, 28, 28), dtype=np.float32)
    out = shift(full, 6, np.random.default_rng(0))
    assert np.all(out.sum(axis=(1, 2)) == 28 * 22)  # a 6-pixel band became zeros


def test_blur_spreads_a_dot_like_a_gaussian():
    dot = np.zeros((1, 28, 28), dtype=np.float32)
    dot[0, 14, 14] = 1.0
    out = blur(dot, 1.5)
    assert out.sum() == pytest.approx(1.0, abs=1e-5)  # nothing lost far from the border
    assert out[0, 14, 14] == pytest.approx(1 / (2 * np.pi * 1.5**2), rel=0.02)
    assert out[0, 14, 16] / out[0, 14, 14] == pytest.approx(np.exp(-4 / (2 * 1.5**2)), rel=1e-4)


def test_noise_has_the_requested_std_and_stays_in_range():
    grey = np.full((20, 28, 28), 0.5, dtype=np.float32)
    out = noise(grey, 0.1, np.random.default_rng(0))
    assert out.std() == pytest.approx(0.1, rel=0.03)
    strong = noise(grey, 2.0, np.random.default_rng(0))
    assert strong.min() == 0.0 and strong.max() == 1.0


def small_model() -> Sequential:
    return Sequential(
        [Flatten(), Dense(16), ReLU(), Dense(10)], (1, 28, 28), np.random.default_rng(0)
    )


def test_first_point_of_every_curve_is_the_plain_accuracy():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(300, 28, 28), dtype=np.uint8)
    model = small_model()
    labels = model.predict(images.reshape(300, 1, 28, 28) / np.float32(255))
    labels[::3] = (labels[::3] + 1) % 10  # plain accuracy: exactly 2/3
    plain = evaluate(model, images, labels)
    assert plain["accuracy"] == pytest.approx(2 / 3)
    curves = robustness_curves(model, images, labels, rng=np.random.default_rng(0), batch_size=128)
    assert list(curves) == [p.name for p in PERTURBATIONS]
    for c in curves.values():
        assert c["levels"][0] == 0 and c["total"] == 300
        assert c["correct"][0] == plain["correct"] and c["accuracy"][0] == plain["accuracy"]
        assert len(c["accuracy"]) == len(c["levels"])


def test_curves_measure_what_the_transform_does():
    # a transform that flips the first k images into zeros: accuracy falls by exactly that
    images = np.random.default_rng(0).integers(0, 256, size=(40, 28, 28), dtype=np.uint8)
    model = small_model()
    labels = model.predict(images.reshape(40, 1, 28, 28) / np.float32(255))
    blank_label = int(model.predict(np.zeros((1, 1, 28, 28), np.float32))[0])
    labels[labels == blank_label] = (blank_label + 1) % 10  # so a blank image is wrong

    def blank_first(x, level, rng):
        x = x.copy()
        x[: int(level)] = 0
        return x

    steps = []
    curves = robustness_curves(
        model,
        images,
        labels,
        rng=np.random.default_rng(0),
        perturbations=(Perturbation("blank", "images", (0, 10, 40), blank_first),),
        batch_size=40,
        step=lambda: steps.append(1),
    )
    plain = int(np.sum(model.predict(images.reshape(40, 1, 28, 28) / np.float32(255)) == labels))
    first10 = int(
        np.sum(model.predict(images[:10].reshape(10, 1, 28, 28) / np.float32(255)) == labels[:10])
    )
    assert curves["blank"]["correct"] == [plain, plain - first10, 0]
    assert len(steps) == 3
