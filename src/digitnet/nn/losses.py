"""Losses. Each returns ``(loss, dlogits)``: the mean loss over the batch and its gradient
with respect to the network output, so no separate softmax derivative is ever needed.
"""

from __future__ import annotations

import numpy as np


def log_softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax via log-sum-exp: (N, K) -> (N, K); finite for any finite input."""
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, (N, K) -> (N, K), shifted by the row max so exp never overflows."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    e /= e.sum(axis=1, keepdims=True)
    return e


#: the label of an example that is none of the classes ("not a digit"): its target is the
#: uniform distribution (outlier exposure, Hendrycks, Mazeika & Dietterich 2019), so the
#: network learns to spread its probability over all classes for such inputs
NONE_OF_THESE = -1


def _check_targets(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    if z.ndim != 2 or y.shape != (z.shape[0],):
        raise ValueError(
            f"expected logits (N, K) and integer labels (N,), got {z.shape} and {y.shape}"
        )
    return y


def softmax_cross_entropy(
    z: np.ndarray, y: np.ndarray, label_smoothing: float = 0.0
) -> tuple[float, np.ndarray]:
    """Fused softmax + cross-entropy.

    loss = -1/N sum_n sum_k t_nk log p_nk, with p = softmax(z) and t the (optionally
    smoothed) one-hot target: t = (1 - s) onehot(y) + s / K; for an example labelled
    :data:`NONE_OF_THESE` (-1) the target is uniform, t = 1 / K.
    dz = (p - t) / N.

    Parameters
    ----------
    z : (N, K) logits.
    y : (N,) integer labels in [0, K), or -1 (none of the classes).
    label_smoothing : float in [0, 1).

    Returns
    -------
    loss : float
    dz : (N, K), same dtype as z.
    """
    y = _check_targets(z, y)
    n, k = z.shape
    logp = log_softmax(z)
    none = y == NONE_OF_THESE
    if none.any():
        return _with_uniform_targets(z, y, logp, none, label_smoothing)
    rows = np.arange(n)
    nll = -logp[rows, y]
    if label_smoothing:
        s = label_smoothing
        loss = float(((1 - s) * nll - (s / k) * logp.sum(axis=1)).mean())
    else:
        loss = float(nll.mean())
    dz = np.exp(logp)  # p, (N, K)
    if label_smoothing:
        dz -= z.dtype.type(label_smoothing / k)
        dz[rows, y] -= z.dtype.type(1 - label_smoothing)
    else:
        dz[rows, y] -= 1
    dz *= z.dtype.type(1.0 / n)
    return loss, dz


def _with_uniform_targets(z, y, logp, none, label_smoothing):
    """The general form with an explicit target matrix t (N, K): rows labelled -1 uniform."""
    n, k = z.shape
    s = label_smoothing
    t = np.full((n, k), s / k, dtype=z.dtype)
    rows = np.flatnonzero(~none)
    t[rows, y[rows]] += 1 - s
    t[none] = 1.0 / k
    loss = float(-(t * logp).sum(axis=1).mean())
    dz = np.exp(logp) - t
    dz *= z.dtype.type(1.0 / n)
    return loss, dz


def mse(a: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Quadratic cost of the classic sigmoid network against one-hot targets.

    loss = 1/(2N) sum_n ||a_n - onehot(y_n)||^2, da = (a - onehot(y)) / N.

    a : (N, K) network outputs (for example after a Sigmoid layer); y : (N,) labels.
    """
    y = _check_targets(a, y)
    n = a.shape[0]
    diff = a.copy()
    diff[np.arange(n), y] -= 1
    loss = float(0.5 * np.einsum("ij,ij->", diff, diff) / n)
    diff *= a.dtype.type(1.0 / n)
    return loss, diff


LOSSES = {"cross_entropy": softmax_cross_entropy, "mse": mse}


def get_loss(name: str):
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; choose one of: {', '.join(LOSSES)}") from None
