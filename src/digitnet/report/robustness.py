"""Robustness curves: test accuracy as the test images are rotated, shifted, blurred and
noised, one strength at a time, so a user sees where a model breaks.

Every transform works on a whole batch of float images ``(B, H, W)`` in [0, 1] at once and
draws its randomness (rotation sign, shift direction, noise) from the generator it is given.
Strength 0 returns the images unchanged, so the first point of each curve is the plain
accuracy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from digitnet.data.augment import bilinear_sample, gaussian_matrix
from digitnet.data.preprocess import PIXEL_MAX, to_input
from digitnet.nn import Sequential

Transform = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]


def rotate(images: np.ndarray, degrees: float, rng: np.random.Generator) -> np.ndarray:
    """Rotate each image about its centre by ``degrees``, clockwise or anticlockwise at
    random (bilinear resampling, zero outside). (B, H, W) float -> (B, H, W) float32."""
    b, h, w = images.shape
    if degrees == 0:
        return images.astype(np.float32, copy=True)
    theta = np.deg2rad(degrees) * rng.choice([-1.0, 1.0], size=b)  # (B,)
    cos, sin = np.cos(theta)[:, None], np.sin(theta)[:, None]  # (B, 1)
    centre = np.array([(h - 1) / 2, (w - 1) / 2])
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    dy, dx = rows.ravel() - centre[0], cols.ravel() - centre[1]  # (H*W,)
    # output pixel p reads the input at R(-theta) p: the inverse rotation
    src = np.stack(
        [cos * dy - sin * dx + centre[0], sin * dy + cos * dx + centre[1]], axis=-1
    )  # (B, H*W, 2)
    return bilinear_sample(images, src.astype(np.float32)).reshape(b, h, w)


def shift(images: np.ndarray, pixels: float, rng: np.random.Generator) -> np.ndarray:
    """Move each image ``pixels`` (an integer) up, down, left or right at random, filling
    with zeros. (B, H, W) float -> (B, H, W) float32."""
    b, h, w = images.shape
    d = int(round(pixels))
    if d == 0:
        return images.astype(np.float32, copy=True)
    steps = np.array([(-d, 0), (d, 0), (0, -d), (0, d)])[rng.integers(0, 4, size=b)]
    padded = np.zeros((b, h + 2 * d, w + 2 * d), dtype=np.float32)
    padded[:, d : d + h, d : d + w] = images
    # output (i, j) reads padded (i + d - dy, j + d - dx): the content moves by (dy, dx)
    r = (d - steps[:, 0])[:, None] + np.arange(h)  # (B, H)
    c = (d - steps[:, 1])[:, None] + np.arange(w)  # (B, W)
    return padded[np.arange(b)[:, None, None], r[:, :, None], c[:, None, :]]


def blur(images: np.ndarray, sigma: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """Gaussian blur with standard deviation ``sigma`` pixels (zero outside the image).
    (B, H, W) float -> (B, H, W) float32. ``rng`` is unused (the blur is deterministic)."""
    if sigma == 0:
        return images.astype(np.float32, copy=True)
    _, h, w = images.shape
    gh, gw = gaussian_matrix(h, sigma), gaussian_matrix(w, sigma)
    return np.matmul(np.matmul(gh, images.astype(np.float32)), gw.T)  # G_h X G_w^T


def noise(images: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """Add Gaussian noise of standard deviation ``std`` (pixels run 0-1), clipped to [0, 1].
    (B, H, W) float -> (B, H, W) float32."""
    out = images.astype(np.float32, copy=True)
    if std == 0:
        return out
    out += rng.normal(0.0, std, size=out.shape).astype(np.float32)
    return np.clip(out, 0.0, 1.0, out=out)


@dataclass(frozen=True)
class Perturbation:
    """A family of distortions and the strengths at which a curve samples it."""

    name: str
    label: str  # axis label, with the unit
    levels: tuple[float, ...]
    transform: Transform


PERTURBATIONS: tuple[Perturbation, ...] = (
    Perturbation("rotation", "rotation (degrees)", tuple(range(0, 46, 5)), rotate),
    Perturbation("shift", "shift (pixels)", tuple(range(0, 7)), shift),
    Perturbation("blur", "Gaussian blur sigma (pixels)", (0, 0.5, 1, 1.5, 2, 2.5, 3), blur),
    Perturbation(
        "noise", "Gaussian noise std (pixel range 0-1)", (0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6), noise
    ),
)


def robustness_curves(
    model: Sequential,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    rng: np.random.Generator,
    perturbations: tuple[Perturbation, ...] = PERTURBATIONS,
    batch_size: int = 1000,
    step: Callable[[], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Accuracy of ``model`` at each strength of each perturbation.

    Parameters
    ----------
    model : Sequential
    images : (N, 28, 28) uint8 test images; labels : (N,) their digits.
    rng : np.random.Generator
        Source of the random rotation signs, shift directions and noise.
    perturbations : the families and strengths to measure.
    batch_size : images transformed and classified at once.
    step : callable, optional
        Called after each strength is measured (for a progress bar).

    Returns
    -------
    dict
        ``{name: {"label", "levels", "accuracy", "correct", "total"}}``, JSON-ready.
    """
    labels = np.asarray(labels)
    curves = {}
    for p in perturbations:
        correct = []
        for level in p.levels:
            correct.append(
                _count_correct(model, images, labels, p.transform, level, rng, batch_size)
            )
            if step is not None:
                step()
        curves[p.name] = {
            "label": p.label,
            "levels": list(p.levels),
            "accuracy": [c / max(len(labels), 1) for c in correct],
            "correct": correct,
            "total": int(len(labels)),
        }
    return curves


def _count_correct(
    model: Sequential,
    images: np.ndarray,
    labels: np.ndarray,
    transform: Transform,
    level: float,
    rng: np.random.Generator,
    batch_size: int,
) -> int:
    """Correct predictions on ``transform(images, level)``, batch by batch."""
    correct = 0
    for s in range(0, len(labels), batch_size):
        x = images[s : s + batch_size].astype(np.float32) / PIXEL_MAX  # (B, 28, 28)
        x = transform(x, level, rng)
        proba = model.predict_proba(to_input(x, model.input_shape), batch_size)
        correct += int(np.count_nonzero(proba.argmax(axis=1) == labels[s : s + batch_size]))
    return correct
