"""Optimizers: a hand-worked step each where it matters, convergence on a small known problem,
weight decay only on weights, and the learning-rate schedules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from digitnet.nn import SGD, AdaGrad, Adam, Momentum, RMSprop, make_optimizer, make_schedule


def test_adam_first_step_hand_worked():
    p = np.array([1.0, -2.0])
    g = np.array([0.5, -4.0])
    opt = Adam([(p, g, False)], lr=0.1)
    opt.step()
    # after bias correction m_hat = g, v_hat = g^2: step = lr * g / (|g| + eps) = lr * sign(g)
    assert np.allclose(p, [0.9, -1.9], atol=1e-7)
    g[...] = [0.5, -4.0]
    opt.step()
    assert np.allclose(p, [0.8, -1.8], atol=1e-7)  # a constant gradient keeps moving at lr


def test_momentum_and_nesterov_hand_worked():
    p, g = np.array([1.0]), np.array([1.0])
    opt = Momentum([(p, g, False)], lr=0.1, momentum=0.5)
    opt.step()  # v = -0.1, p = 0.9
    g[...] = 1.0
    opt.step()  # v = -0.05 - 0.1 = -0.15, p = 0.75
    assert p[0] == pytest.approx(0.75)
    p2, g2 = np.array([1.0]), np.array([1.0])
    nes = Momentum([(p2, g2, False)], lr=0.1, momentum=0.5, nesterov=True)
    nes.step()  # v = -0.1; p += 0.5 * v - 0.1 = -0.15 -> 0.85
    assert p2[0] == pytest.approx(0.85)


def test_weight_decay_only_on_weights():
    w, gw = np.array([2.0]), np.array([0.0])
    b, gb = np.array([2.0]), np.array([0.0])
    SGD([(w, gw, True), (b, gb, False)], lr=0.1, weight_decay=0.5).step()
    assert w[0] == pytest.approx(2.0 - 0.1 * 0.5 * 2.0)
    assert b[0] == 2.0


def _least_squares(opt_name, lr, steps=500):
    """Fit w in y = X w by gradient descent on 1/2N ||Xw - y||^2 (known answer w*)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 5))
    w_star = np.array([1.0, -2.0, 0.5, 3.0, -1.0])
    y = X @ w_star
    w = np.zeros(5)
    g = np.zeros(5)
    opt = make_optimizer(opt_name, [(w, g, False)], lr)
    for _ in range(steps):
        g[...] = X.T @ (X @ w - y) / len(y)
        opt.step()
    return np.abs(w - w_star).max()


@pytest.mark.parametrize(
    "name,lr",
    [
        ("sgd", 0.3),
        ("momentum", 0.1),
        ("nesterov", 0.1),
        ("adam", 0.05),
        ("adamw", 0.05),
        ("rmsprop", 0.01),
        ("adagrad", 0.5),
    ],
)
def test_optimizers_converge(name, lr):
    assert _least_squares(name, lr, steps=2000) < 1e-2


def test_rmsprop_and_adagrad_first_step():
    p, g = np.array([1.0]), np.array([2.0])
    RMSprop([(p, g, False)], lr=0.01, rho=0.9, eps=0.0 + 1e-12).step()
    # s = 0.1 * 4 = 0.4; step = 0.01 * 2 / sqrt(0.4)
    assert p[0] == pytest.approx(1.0 - 0.01 * 2 / math.sqrt(0.4))
    p, g = np.array([1.0]), np.array([2.0])
    AdaGrad([(p, g, False)], lr=0.5).step()
    assert p[0] == pytest.approx(0.5)  # 0.5 * 2 / sqrt(4)


@pytest.mark.parametrize(
    "bad", [dict(lr=0.0), dict(lr=-1.0), dict(lr=float("nan")), dict(lr=0.1, weight_decay=-1.0)]
)
def test_optimizer_rejects_bad_settings(bad):
    with pytest.raises(ValueError, match="got"):
        SGD([(np.zeros(1), np.zeros(1), False)], **bad)


def test_unknown_optimizer_named():
    with pytest.raises(ValueError, match="unknown optimizer 'sgdd'"):
        make_optimizer("sgdd", [(np.zeros(1), np.zeros(1), False)], 0.1)


def test_schedules():
    step = make_schedule("step", 1.0, 30, step_size=10, gamma=0.1)
    assert [step(t) for t in (0, 9.9, 10, 25)] == pytest.approx([1, 1, 0.1, 0.01])
    cos = make_schedule("cosine", 1.0, 10, min_lr=0.0)
    assert cos(0) == pytest.approx(1.0) and cos(5) == pytest.approx(0.5)
    assert cos(10) == pytest.approx(0.0, abs=1e-12)
    warm = make_schedule("cosine", 1.0, 10, warmup=2)
    assert warm(1) == pytest.approx(0.5) and warm(2) == pytest.approx(1.0)
    assert warm(6) == pytest.approx(0.5)
    assert make_schedule("constant", 0.3, 5)(4.5) == 0.3
    with pytest.raises(ValueError, match="unknown schedule"):
        make_schedule("linear-ish", 1.0, 5)
    with pytest.raises(ValueError, match="warmup"):
        make_schedule("cosine", 1.0, 5, warmup=5)


@pytest.mark.parametrize(
    "name", ["sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad"]
)
def test_flat_buffer_update_equals_per_array_update(name):
    """Sequential keeps all parameters in one flat buffer and the optimizer updates it in a
    few whole-buffer calls; the result must equal updating each array on its own."""
    from digitnet.nn import BatchNorm, Dense, Flatten, ReLU, Sequential

    model = Sequential(
        [Flatten(), Dense(5), BatchNorm(), ReLU(), Dense(3)],
        (2, 3),
        np.random.default_rng(0),
        dtype=np.float64,
    )
    triples = [(p, g, d) for _, p, g, d in model.named_parameters()]
    assert all(np.shares_memory(p, model.flat_params) for p, _, _ in triples)
    copies = [(p.copy(), g, d) for p, g, d in triples]  # separate arrays, same grads
    fast = make_optimizer(
        name, model.named_parameters(), 0.1, weight_decay=0.01, flat=model.flat_buffers()
    )
    slow = make_optimizer(name, copies, 0.1, weight_decay=0.01)
    assert len(fast.groups) == 1 and len(slow.groups) == len(triples)
    rng = np.random.default_rng(1)
    for _ in range(3):
        for _, _, g, _ in model.named_parameters():
            g[...] = rng.standard_normal(g.shape)
        saved = [g.copy() for _, g, _ in copies]
        fast.step()
        for (_, g, _), s in zip(copies, saved, strict=True):  # fast.step used the grads
            g[...] = s
        slow.step()
    for (p, _, _), (q, _, _) in zip(triples, copies, strict=True):
        assert np.allclose(p, q, rtol=1e-12, atol=1e-14)


def test_flat_buffers_must_hold_every_parameter():
    """use_flat is declared by the caller and checked, not inferred from array identity."""
    from digitnet.nn import Dense, Flatten, Sequential

    model = Sequential([Flatten(), Dense(3)], (2, 2), np.random.default_rng(0))
    other = Sequential([Flatten(), Dense(3)], (2, 2), np.random.default_rng(0))
    with pytest.raises(ValueError, match="not a view into the flat buffers"):
        make_optimizer("sgd", model.named_parameters(), 0.1, flat=other.flat_buffers())
    opt = make_optimizer("sgd", model.named_parameters(), 0.1, flat=model.flat_buffers())
    opt.step()
    with pytest.raises(ValueError, match="before the first step"):
        opt.use_flat(*model.flat_buffers())
