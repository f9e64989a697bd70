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


def test_adam_betas_hand_worked():
    """beta1 = 0.5, beta2 = 0.75, lr 0.1, eps 1e-8, gradients 2 then 1 (scalars):
    t=1: m = 0.5*2 = 1, v = 0.25*4 = 1; m_hat = 1/0.5 = 2, v_hat = 1/0.25 = 4;
         p -= 0.1 * 2 / (2 + eps), about 0.9
    t=2: m = 0.5*1 + 0.5*1 = 1, v = 0.75*1 + 0.25*1 = 1;
         m_hat = 1/0.75, v_hat = 1/0.4375; p -= 0.1 * (1/0.75) / sqrt(1/0.4375)."""
    p, g = np.array([1.0]), np.array([2.0])
    opt = make_optimizer("adam", [(p, g, False)], 0.1, betas=(0.5, 0.75))
    assert (opt.beta1, opt.beta2) == (0.5, 0.75)
    opt.step()
    first = 1 - 0.1 * 2 / (2 + 1e-8)
    assert p[0] == pytest.approx(first, rel=1e-12)
    g[...] = 1.0
    opt.step()
    assert p[0] == pytest.approx(first - 0.1 / 0.75 / (math.sqrt(1 / 0.4375) + 1e-8), rel=1e-12)


def test_adam_betas_match_pytorch():
    """Adam with low betas, as the one-epoch MNIST recipe uses them (0.7, 0.9), follows
    PyTorch's Adam step for step (float64, same gradients)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    p = rng.standard_normal(7)
    g = np.zeros(7)
    tp = torch.tensor(p.copy(), requires_grad=True)
    ours = make_optimizer("adam", [(p, g, False)], 0.01, betas=(0.7, 0.9))
    theirs = torch.optim.Adam([tp], lr=0.01, betas=(0.7, 0.9))
    for _ in range(5):
        grad = rng.standard_normal(7)
        g[...] = grad
        tp.grad = torch.tensor(grad)
        ours.step()
        theirs.step()
    assert np.allclose(p, tp.detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("betas", [(1.0, 0.9), (0.7, -0.1), (0.7,), "0.7,0.9", (0.7, math.nan)])
def test_adam_rejects_bad_betas(betas):
    with pytest.raises(ValueError, match="beta"):
        make_optimizer("adam", [(np.zeros(1), np.zeros(1), False)], 0.1, betas=betas)


def test_onecycle_schedule_hand_worked():
    """base 1.0 over 10 epochs, rising for 3: starts at 1/25, peaks at 1.0 at t = 3,
    half way down at t = 6.5 ((1 + 1/25/1e4) / 2), ends at 1/25/1e4; the rise is a half
    cosine: at t = 1.5, (1 + 1/25) / 2."""
    s = make_schedule("onecycle", 1.0, 10, warmup=3)
    low, final = 1 / 25, 1 / 25 / 1e4
    assert s(0) == pytest.approx(low)
    assert s(1.5) == pytest.approx((1 + low) / 2)
    assert s(3) == pytest.approx(1.0)
    assert s(6.5) == pytest.approx((1 + final) / 2)
    assert s(10) == pytest.approx(final)
    assert s(12) == pytest.approx(final)  # past the end: stays at the floor
    assert make_schedule("onecycle", 1.0, 10, warmup=3, min_lr=0.01)(10) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="warmup > 0"):
        make_schedule("onecycle", 1.0, 10)


def test_onecycle_schedule_follows_pytorch_between_its_step_points():
    """PyTorch's OneCycleLR over T steps (pct_start 0.3, cycle_momentum off) puts its peak
    at step 0.3 T - 1 and its floor at step T - 1; ours, a function of the fraction done,
    at 0.3 and 1. Mapping PyTorch's step k to our t = k (0.3 T) / (0.3 T - 1) on the rise
    (and likewise on the fall) the two agree to rounding."""
    torch = pytest.importorskip("torch")
    total, base = 235, 0.01
    opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=base)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=base, total_steps=total, cycle_momentum=False
    )
    theirs = []
    for _ in range(total):
        theirs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    ours = make_schedule("onecycle", base, 1, warmup=0.3)
    peak = 0.3 * total - 1
    for k, lr in enumerate(theirs):
        if k <= peak:
            t = 0.3 * k / peak
        else:
            t = 0.3 + 0.7 * (k - peak) / (total - 1 - peak)
        assert ours(t) == pytest.approx(lr, rel=1e-9, abs=1e-15)


def test_train_config_betas_reach_the_optimizer_and_survive_json():
    import json

    from digitnet.errors import ConfigError
    from digitnet.training.loop import TrainConfig

    cfg = TrainConfig(optimizer="adam", betas=(0.7, 0.9), schedule="onecycle", warmup=0.3)
    cfg.validate()
    back = TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg and back.betas == (0.7, 0.9)
    with pytest.raises(ConfigError, match="beta1"):
        TrainConfig(optimizer="adam", betas=(1.5, 0.9)).validate()
