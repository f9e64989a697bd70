"""Central-difference gradient checking (CS231n style), for tests and custom layers.

Run in float64: build the layer with ``dtype=np.float64`` and feed float64 inputs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from digitnet.nn.module import Module


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d f / d x by central differences, perturbing ``x`` in place one entry at a time."""
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])  # type: ignore[list-item]
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        fp = f()
        x[i] = old - eps
        fm = f()
        x[i] = old
        grad[i] = (fp - fm) / (2 * eps)
    return grad


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max(|a| + |b|, tiny): the relative error used for gradient checks."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8)))


def check_layer(
    layer: Module, x: np.ndarray, *, training: bool = True, seed: int = 0, eps: float = 1e-6
) -> dict[str, float]:
    """Compare a built layer's analytic gradients with numerical ones.

    Uses the scalar objective ``L = sum(forward(x) * w)`` for a fixed random ``w``, so
    ``dL/dy = w``. Returns the relative error for ``x`` (when the layer computes dx) and for
    each parameter. Layers with randomness (dropout) must draw the same mask on every call:
    pass a layer whose generator is reset by the caller, or ``training=False``.
    """
    rng = np.random.default_rng(seed)
    y = layer.forward(x, training=training)
    w = rng.standard_normal(y.shape)
    state = {"rng": getattr(layer, "rng", None)}

    def loss() -> float:
        _reset_rng(layer, state)
        return float(np.sum(layer.forward(x, training=training) * w))

    _reset_rng(layer, state)
    layer.forward(x, training=training)
    dx = layer.backward(w.copy())
    errors = {}
    analytic = {k: g.copy() for k, g in layer.grads.items()}
    if dx is not None:
        errors["x"] = rel_error(dx, numerical_gradient(loss, x, eps))
    for key, p in layer.params.items():
        errors[key] = rel_error(analytic[key], numerical_gradient(loss, p, eps))
    return errors


def _reset_rng(layer: Module, state: dict) -> None:
    # Layers that draw random masks get an identically seeded generator for every call, so the
    # numerical and analytic passes see the same mask.
    if state["rng"] is not None:
        layer.rng = np.random.default_rng(12345)  # type: ignore[attr-defined]
