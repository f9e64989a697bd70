"""Gradient checks (float64, central differences) and hand-worked examples for the layers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from digitnet.nn import (
    Dense,
    Dropout,
    Flatten,
    LeakyReLU,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
    log_softmax,
    sigmoid,
    softmax,
)
from digitnet.nn.gradcheck import check_layer, numerical_gradient, rel_error

TOL = 1e-6


def built(layer, input_shape, seed=0):
    layer.build(input_shape, np.random.default_rng(seed), np.float64)
    return layer


def away_from_kinks(shape, rng):
    """Inputs at least 0.05 away from 0, so ReLU-like kinks do not spoil finite differences."""
    x = rng.standard_normal(shape)
    return x + np.sign(x) * 0.05


@pytest.mark.parametrize("init", ["he", "xavier", "lecun", "normal:0.1"])
def test_dense_gradients(init):
    rng = np.random.default_rng(1)
    layer = built(Dense(5, init=init), (7,))
    layer.needs_input_grad = True
    errors = check_layer(layer, rng.standard_normal((4, 7)))
    assert set(errors) == {"x", "W", "b"}
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("cls", [Sigmoid, Tanh, ReLU, LeakyReLU, Softmax, Flatten])
def test_activation_gradients(cls):
    rng = np.random.default_rng(2)
    layer = built(cls(), (6,))
    errors = check_layer(layer, away_from_kinks((5, 6), rng))
    assert errors["x"] < TOL, errors


def test_flatten_gradient_restores_shape():
    layer = built(Flatten(), (2, 3, 4))
    x = np.random.default_rng(0).standard_normal((5, 2, 3, 4))
    assert layer.forward(x, training=True).shape == (5, 24)
    assert check_layer(layer, x)["x"] < TOL


def test_dropout_gradient_and_scaling():
    layer = built(Dropout(0.5), (1000,))
    x = np.random.default_rng(3).standard_normal((3, 1000))
    assert check_layer(layer, x)["x"] < TOL  # same mask in every pass
    layer.rng = np.random.default_rng(0)
    y = layer.forward(np.ones((50, 1000)), training=True)
    kept = y != 0
    assert np.allclose(y[kept], 2.0)  # survivors scaled by 1 / (1 - rate)
    assert 0.45 < kept.mean() < 0.55
    assert np.array_equal(layer.forward(x, training=False), x)  # identity at inference


def test_dense_hand_worked_example():
    layer = Dense(2)
    layer.build((3,), np.random.default_rng(0), np.float64)
    layer.params["W"][...] = [[1.0, -1.0], [2.0, 0.0], [0.0, 3.0]]
    layer.params["b"][...] = [0.5, -0.5]
    layer.needs_input_grad = True
    x = np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 1.0]])
    y = layer.forward(x, training=True)
    assert np.array_equal(y, [[5.5, 7.5], [-0.5, 3.5]])
    dx = layer.backward(np.array([[1.0, 0.0], [0.0, 2.0]]))
    assert np.array_equal(layer.grads["W"], [[1.0, -2.0], [2.0, 0.0], [3.0, 2.0]])
    assert np.array_equal(layer.grads["b"], [1.0, 2.0])
    assert np.array_equal(dx, [[1.0, 2.0, 0.0], [-2.0, 0.0, 6.0]])


def test_first_layer_skips_input_gradient():
    model = Sequential([Flatten(), Dense(4), ReLU(), Dense(3)], (2, 2), np.random.default_rng(0))
    assert [layer.needs_input_grad for layer in model.layers] == [False, False, True, True]
    x = np.random.default_rng(1).random((5, 2, 2), dtype=np.float32)
    model.forward(x, training=True)
    assert model.backward(np.ones((5, 3), np.float32)) is None


def test_sequential_gradients_end_to_end():
    """The whole stack against finite differences of the loss w.r.t. every parameter."""
    from digitnet.nn import softmax_cross_entropy

    rng = np.random.default_rng(4)
    model = Sequential(
        [Flatten(), Dense(6), Tanh(), Dense(5), Sigmoid(), Dense(3)], (2, 4), rng, dtype=np.float64
    )
    x = rng.standard_normal((7, 2, 4))
    y = rng.integers(0, 3, 7)

    def loss():
        return softmax_cross_entropy(model.forward(x, training=True), y)[0]

    _, d = softmax_cross_entropy(model.forward(x, training=True), y)
    model.backward(d)
    for name, p, g, _ in model.named_parameters():
        assert rel_error(g, numerical_gradient(loss, p)) < TOL, name


def test_default_dtype_is_float32():
    model = Sequential([Flatten(), Dense(4), ReLU(), Dense(3)], (2, 2), np.random.default_rng(0))
    assert all(p.dtype == np.float32 for _, p, _, _ in model.named_parameters())
    out = model.forward(np.ones((2, 2, 2), np.float32), training=True)
    assert out.dtype == np.float32


def test_sigmoid_and_softmax_are_stable_at_extremes():
    x = np.array([[-1e4, -50.0, 0.0, 50.0, 1e4]], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any overflow/invalid warning fails the test
        s = sigmoid(x)
        p = softmax(x)
        lp = log_softmax(x)
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(p)) and np.all(np.isfinite(lp))
    assert s[0, 0] == 0.0 and s[0, -1] == 1.0 and s[0, 2] == 0.5
    assert p[0, -1] == 1.0 and p.sum() == pytest.approx(1.0)
    assert lp[0, -1] == 0.0 and lp[0, 0] == pytest.approx(-2e4)


def test_sigmoid_matches_definition():
    x = np.linspace(-20, 20, 101)
    assert np.allclose(sigmoid(x), 1 / (1 + np.exp(-x)), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    "bad",
    [
        lambda: Dense(0),
        lambda: Dense(-3),
        lambda: Dense(2.5),
        lambda: Dense(3, init="nope"),
        lambda: Dropout(1.0),
        lambda: Dropout(-0.1),
        lambda: LeakyReLU(2.0),
    ],
)
def test_constructors_reject_bad_arguments(bad):
    with pytest.raises(ValueError, match="got|unknown initialiser 'nope'"):
        bad()


def test_dense_needs_flat_input():
    with pytest.raises(ValueError, match="Flatten"):
        Sequential([Dense(3)], (2, 2), np.random.default_rng(0))


def test_config_round_trip():
    from digitnet.nn import layer_from_config

    model = Sequential(
        [Flatten(), Dense(4, init="xavier"), LeakyReLU(0.2), Dropout(0.1), Dense(3)],
        (2, 2),
        np.random.default_rng(0),
    )
    config = model.get_config()
    clone = Sequential.from_config(config)
    assert clone.get_config() == config
    assert (
        repr(layer_from_config({"type": "Dense", "units": 7}))
        == "Dense(units=7, init='he', bias=True)"
    )
    with pytest.raises(ValueError, match="unknown layer type"):
        layer_from_config({"type": "Bogus"})


def test_inplace_only_where_nobody_reads_the_input_again():
    model = Sequential(
        [Flatten(), ReLU(), Dense(4), ReLU(), Dropout(0.5), Dense(3), Sigmoid(), Flatten(), ReLU()],
        (2, 2),
        np.random.default_rng(0),
    )
    flags = [layer.inplace for layer in model.layers]
    # ReLU right after Flatten of the caller's input: no. ReLU or Sigmoid after Dense: yes.
    # Dropout after ReLU (which keeps its output): no. ReLU after Sigmoid via a view: no.
    assert flags == [False, False, False, True, False, True, True, False, False]


def test_forward_never_modifies_the_callers_input_and_inplace_gradients_hold():
    from digitnet.nn import softmax_cross_entropy

    rng = np.random.default_rng(3)
    model = Sequential(
        [Flatten(), Dense(6), ReLU(), Dense(5), ReLU(), Dense(3)], (2, 4), rng, dtype=np.float64
    )
    assert model.layers[2].inplace and model.layers[4].inplace
    for layer in (model.layers[1], model.layers[3]):  # no pre-activation exactly at the kink
        layer.params["b"][...] = rng.uniform(0.1, 0.5, layer.params["b"].shape)
    x = rng.standard_normal((7, 2, 4))
    before = x.copy()
    y = rng.integers(0, 3, 7)

    def loss():
        return softmax_cross_entropy(model.forward(x, training=True), y)[0]

    _, d = softmax_cross_entropy(model.forward(x, training=True), y)
    model.backward(d)
    assert np.array_equal(x, before)
    for name, p, g, _ in model.named_parameters():
        assert rel_error(g, numerical_gradient(loss, p)) < TOL, name
