"""The fused softmax cross-entropy and the quadratic cost: values and gradients."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from digitnet.nn import mse, softmax_cross_entropy
from digitnet.nn.gradcheck import numerical_gradient, rel_error


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_gradient(smoothing):
    rng = np.random.default_rng(0)
    z = rng.standard_normal((6, 4)) * 3
    y = rng.integers(0, 4, 6)
    _, dz = softmax_cross_entropy(z, y, smoothing)
    num = numerical_gradient(lambda: softmax_cross_entropy(z, y, smoothing)[0], z)
    assert rel_error(dz, num) < 1e-6


def test_cross_entropy_hand_worked():
    z = np.array([[0.0, 0.0], [math.log(3.0), 0.0]])
    loss, dz = softmax_cross_entropy(z, np.array([0, 1]))
    # p = [[1/2, 1/2], [3/4, 1/4]]: loss = (ln 2 + ln 4) / 2
    assert loss == pytest.approx((math.log(2) + math.log(4)) / 2, rel=1e-12)
    assert np.allclose(dz, [[-0.25, 0.25], [0.375, -0.375]], atol=1e-12)


def test_cross_entropy_stable_for_huge_logits():
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, dz = softmax_cross_entropy(z, np.array([0, 0]))
    assert np.isfinite(loss) and np.all(np.isfinite(dz))
    assert loss == pytest.approx(1e4, rel=1e-6)  # (0 + 2e4) / 2
    assert dz.dtype == np.float32


def test_mse_gradient_and_value():
    rng = np.random.default_rng(1)
    a = rng.random((5, 3))
    y = rng.integers(0, 3, 5)
    loss, da = mse(a, y)
    t = np.eye(3)[y]
    assert loss == pytest.approx(0.5 * ((a - t) ** 2).sum() / 5, rel=1e-12)
    assert rel_error(da, numerical_gradient(lambda: mse(a, y)[0], a)) < 1e-6


def test_loss_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="labels"):
        softmax_cross_entropy(np.zeros((3, 2)), np.zeros(4, dtype=int))
