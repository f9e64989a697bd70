"""Optimizers and learning-rate schedules.

An optimizer holds a list of ``(param, grad, decays)`` triples (for example from
``Sequential.named_parameters()``) and, in ``step()``, updates each ``param`` in place from the
``grad`` that the last backward pass wrote. Its state (velocities, moment estimates) lives in
lists aligned with the parameter list, as in tinygrad.

L2 weight decay adds ``weight_decay * param`` to the gradient of the parameters marked
``decays`` (weights, not biases or normalisation terms). Adam can instead decay weights
directly (``decoupled=True``, i.e. AdamW).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np

ParamTriple = tuple[np.ndarray, np.ndarray, bool]


def _triples(params: Iterable) -> list[ParamTriple]:
    out = []
    for item in params:
        if len(item) == 4:  # (name, param, grad, decays) from named_parameters()
            item = item[1:]
        p, g, d = item
        out.append((p, g, bool(d)))
    return out


class Optimizer:
    """Base class: validates arguments and applies L2 weight decay to the gradients.

    The update itself runs over ``self.groups``: each (param, grad) pair, or, after
    :meth:`use_flat` (``make_optimizer(..., flat=model.flat_buffers())``), the model's two
    flat buffers that hold every parameter and gradient (one set of NumPy calls per step).
    """

    def __init__(self, params: Iterable, lr: float, weight_decay: float = 0.0) -> None:
        self.params = _triples(params)
        if not self.params:
            raise ValueError("the optimizer received no parameters")
        self.groups = [(p, g) for p, g, _ in self.params]
        if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
            raise ValueError(f"learning rate must be a positive number, got {lr!r}")
        if not (weight_decay >= 0 and math.isfinite(weight_decay)):
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.steps = 0

    def use_flat(self, flat_params: np.ndarray, flat_grads: np.ndarray) -> None:
        """Run the update over two flat buffers that hold every parameter and gradient (as
        :meth:`Sequential.flat_buffers` returns them) instead of pair by pair. Call before
        the first step: the state kept per group starts again."""
        if self.steps:
            raise ValueError("use_flat must be called before the first step")
        if flat_params.shape != flat_grads.shape or flat_params.ndim != 1:
            raise ValueError(
                f"flat buffers must be two 1-D arrays of one shape, got "
                f"{flat_params.shape} and {flat_grads.shape}"
            )
        for p, g, _ in self.params:
            if not (np.shares_memory(p, flat_params) and np.shares_memory(g, flat_grads)):
                raise ValueError("a parameter or gradient is not a view into the flat buffers")
        self.groups = [(flat_params, flat_grads)]
        self._reset_state()

    def _reset_state(self) -> None:
        """Subclasses with per-group state allocate it again for ``self.groups``."""

    #: names of the per-group state lists a subclass keeps (e.g. Adam's ``m`` and ``v``)
    STATE: tuple[str, ...] = ()

    def state_dict(self) -> dict[str, np.ndarray]:
        """What the next steps depend on, besides the parameters: the step count (as a
        0-d int64 array ``steps``) and each state array (``"<name>.<group>"``), copied."""
        out = {"steps": np.array(self.steps, dtype=np.int64)}
        for name in self.STATE:
            for i, a in enumerate(getattr(self, name)):
                out[f"{name}.{i}"] = a.copy()
        return out

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Continue from :meth:`state_dict` of an optimizer over the same parameters."""
        expected = {"steps"} | {
            f"{n}.{i}" for n in self.STATE for i in range(len(getattr(self, n)))
        }
        if set(state) != expected:
            raise ValueError(
                f"optimizer state does not match: expected {sorted(expected)}, got {sorted(state)}"
            )
        for name in self.STATE:
            for i, a in enumerate(getattr(self, name)):
                if state[f"{name}.{i}"].shape != a.shape:
                    raise ValueError(
                        f"optimizer state {name}.{i} has shape "
                        f"{state[f'{name}.{i}'].shape}, expected {a.shape}"
                    )
                a[...] = state[f"{name}.{i}"]
        self.steps = int(state["steps"])

    def _decay(self) -> None:
        """L2 weight decay folded into the gradients of the decayed parameters."""
        wd = self.weight_decay
        for p, g, d in self.params:
            if d:
                g += p.dtype.type(wd) * p  # the grad buffer is overwritten anyway

    def step(self) -> None:
        self.steps += 1
        if self.weight_decay:
            self._decay()
        for i, (p, g) in enumerate(self.groups):
            self._update(i, p, g)

    def _update(self, i: int, p: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Plain gradient descent: p -= lr * g."""

    def _update(self, i, p, g):
        g *= p.dtype.type(self.lr)
        p -= g


class Momentum(Optimizer):
    """Heavy-ball momentum: v = mu v - lr g; p += v. ``nesterov=True`` uses the look-ahead
    form p += mu v - lr g (Sutskever et al. 2013)."""

    def __init__(
        self, params, lr, momentum: float = 0.9, nesterov: bool = False, weight_decay: float = 0.0
    ) -> None:
        super().__init__(params, lr, weight_decay)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self._reset_state()

    STATE = ("v",)

    def _reset_state(self) -> None:
        self.v = [np.zeros_like(p) for p, _ in self.groups]

    def _update(self, i, p, g):
        v, mu = self.v[i], p.dtype.type(self.momentum)
        g *= p.dtype.type(self.lr)  # g now holds lr * g
        v *= mu
        v -= g
        if self.nesterov:
            p += mu * v
            p -= g
        else:
            p += v


def Nesterov(params, lr, momentum: float = 0.9, weight_decay: float = 0.0) -> Momentum:
    """Nesterov accelerated gradient (momentum with look-ahead)."""
    return Momentum(params, lr, momentum, nesterov=True, weight_decay=weight_decay)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction; ``decoupled=True`` gives AdamW.

    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
    p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled: bool = False,
    ) -> None:
        super().__init__(params, lr, weight_decay)
        for name, b in (("beta1", beta1), ("beta2", beta2)):
            if not 0.0 <= b < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {b!r}")
        if not eps > 0:
            raise ValueError(f"eps must be positive, got {eps!r}")
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.decoupled = bool(decoupled)
        self._reset_state()

    STATE = ("m", "v")

    def _reset_state(self) -> None:
        self.m = [np.zeros_like(p) for p, _ in self.groups]
        self.v = [np.zeros_like(p) for p, _ in self.groups]

    def _decay(self) -> None:
        if not self.decoupled:
            return super()._decay()
        shrink = 1.0 - self.lr * self.weight_decay  # AdamW: decay the weights directly
        for p, _, d in self.params:
            if d:
                p *= p.dtype.type(shrink)

    def _update(self, i, p, g):
        t = self.steps
        m, v, f = self.m[i], self.v[i], p.dtype.type
        m *= f(self.beta1)
        m += f(1 - self.beta1) * g
        v *= f(self.beta2)
        g *= g
        g *= f(1 - self.beta2)
        v += g
        step = f(self.lr / (1 - self.beta1**t))
        denom = np.sqrt(v)
        denom *= f(1.0 / math.sqrt(1 - self.beta2**t))
        denom += f(self.eps)
        np.divide(m, denom, out=denom)
        denom *= step
        p -= denom


class RMSprop(Optimizer):
    """RMSprop (Hinton): s = rho s + (1 - rho) g^2; p -= lr g / (sqrt(s) + eps)."""

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        rho: float = 0.9,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr, weight_decay)
        if not 0.0 <= rho < 1.0:
            raise ValueError(f"rho must be in [0, 1), got {rho!r}")
        self.rho, self.eps = float(rho), float(eps)
        self._reset_state()

    STATE = ("s",)

    def _reset_state(self) -> None:
        self.s = [np.zeros_like(p) for p, _ in self.groups]

    def _update(self, i, p, g):
        s, f = self.s[i], p.dtype.type
        s *= f(self.rho)
        s += f(1 - self.rho) * g * g
        denom = np.sqrt(s)
        denom += f(self.eps)
        p -= f(self.lr) * g / denom


class AdaGrad(Optimizer):
    """AdaGrad (Duchi et al. 2011): s += g^2; p -= lr g / (sqrt(s) + eps)."""

    def __init__(
        self, params, lr: float = 1e-2, eps: float = 1e-8, weight_decay: float = 0.0
    ) -> None:
        super().__init__(params, lr, weight_decay)
        self.eps = float(eps)
        self._reset_state()

    STATE = ("s",)

    def _reset_state(self) -> None:
        self.s = [np.zeros_like(p) for p, _ in self.groups]

    def _update(self, i, p, g):
        s, f = self.s[i], p.dtype.type
        s += g * g
        denom = np.sqrt(s)
        denom += f(self.eps)
        p -= f(self.lr) * g / denom


OPTIMIZERS: dict[str, Callable[..., Optimizer]] = {
    "sgd": SGD,
    "momentum": Momentum,
    "nesterov": Nesterov,
    "adam": Adam,
    "adamw": Adam,
    "rmsprop": RMSprop,
    "adagrad": AdaGrad,
}


def make_optimizer(
    name: str,
    params: Iterable,
    lr: float,
    *,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
    flat: tuple[np.ndarray, np.ndarray] | None = None,
) -> Optimizer:
    """Build an optimizer by name: sgd, momentum, nesterov, adam, adamw, rmsprop, adagrad.

    ``betas``: Adam's (beta1, beta2), the decay rates of its two moment estimates (used by
    adam and adamw only). ``flat``: the model's flat parameter and gradient buffers
    (``Sequential.flat_buffers()``) to update in one go (see :meth:`Optimizer.use_flat`)."""
    opt = _make(name, params, lr, momentum, weight_decay, betas)
    if flat is not None:
        opt.use_flat(*flat)
    return opt


def _make(
    name: str,
    params: Iterable,
    lr: float,
    momentum: float,
    weight_decay: float,
    betas: tuple[float, float],
) -> Optimizer:
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZERS)}")
    if name == "sgd":
        return SGD(params, lr, weight_decay=weight_decay)
    if name in ("momentum", "nesterov"):
        return Momentum(
            params, lr, momentum, nesterov=name == "nesterov", weight_decay=weight_decay
        )
    if name in ("adam", "adamw"):
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        return Adam(
            params,
            lr,
            float(betas[0]),
            float(betas[1]),
            weight_decay=weight_decay,
            decoupled=name == "adamw",
        )
    return OPTIMIZERS[name](params, lr, weight_decay=weight_decay)


# -- learning-rate schedules ---------------------------------------------------------------

Schedule = Callable[[float], float]


def make_schedule(
    name: str,
    base_lr: float,
    epochs: int,
    *,
    warmup: float = 0.0,
    step_size: int = 10,
    gamma: float = 0.1,
    min_lr: float = 0.0,
) -> Schedule:
    """A function from the (fractional) epoch, starting at 0, to the learning rate.

    - ``constant``: base_lr;
    - ``step``: base_lr * gamma ** floor(t / step_size);
    - ``exponential``: base_lr * gamma ** t;
    - ``cosine``: from base_lr down to min_lr over the epochs after warm-up
      (Loshchilov & Hutter 2017, without restarts);
    - ``onecycle``: Smith & Topin's one cycle (2019), as PyTorch's ``OneCycleLR`` with its
      defaults and ``cycle_momentum=False``: a half cosine up from base_lr /
      :data:`ONECYCLE_DIV` to base_lr over the first ``warmup`` epochs (which must be
      positive; PyTorch's ``pct_start`` = warmup / epochs), then a half cosine down to
      base_lr / (:data:`ONECYCLE_DIV` * :data:`ONECYCLE_FINAL_DIV`) at the end (or to
      ``min_lr`` when that is positive). The rate is a function of the fraction of training
      done, as for every schedule here; PyTorch's counts steps, so its phases end one step
      earlier (at steps pct_start*T - 1 and T - 1 of T).
    For the other schedules, ``warmup`` epochs ramp the rate linearly from
    base_lr / (warm-up steps) up to base_lr.
    """
    if not base_lr > 0:
        raise ValueError(f"learning rate must be positive, got {base_lr!r}")
    if warmup < 0 or warmup >= max(epochs, 1):
        raise ValueError(f"warmup must be in [0, epochs), got {warmup!r} for {epochs} epochs")
    if name == "step" and step_size <= 0:
        raise ValueError(f"step_size must be positive, got {step_size!r}")
    if name in ("step", "exponential") and not 0 < gamma <= 1:
        raise ValueError(f"gamma must be in (0, 1], got {gamma!r}")
    if name == "onecycle":
        return _one_cycle(base_lr, epochs, warmup, min_lr)

    def after_warmup(t: float) -> float:
        if name == "constant":
            return base_lr
        if name == "step":
            return base_lr * gamma ** math.floor(t / step_size)
        if name == "exponential":
            return base_lr * gamma**t
        if name == "cosine":
            span = max(epochs - warmup, 1e-12)
            frac = min(max((t - warmup) / span, 0.0), 1.0)
            return min_lr + 0.5 * (base_lr - min_lr) * (1 + math.cos(math.pi * frac))
        raise ValueError(
            f"unknown schedule {name!r}; choose one of: constant, step, exponential, cosine, "
            "onecycle"
        )

    after_warmup(0.0)  # validates the name now, not mid-training

    def schedule(t: float) -> float:
        lr = after_warmup(t)
        if warmup and t < warmup:
            lr *= max(t / warmup, 1e-3)
        return lr

    return schedule


#: one cycle starts at base_lr / ONECYCLE_DIV (PyTorch's ``div_factor``) ...
ONECYCLE_DIV = 25.0
#: ... and ends at that start / ONECYCLE_FINAL_DIV (PyTorch's ``final_div_factor``)
ONECYCLE_FINAL_DIV = 1e4


def _cosine_between(start: float, end: float, frac: float) -> float:
    """From ``start`` (frac 0) to ``end`` (frac 1) along half a cosine."""
    return end + 0.5 * (start - end) * (1 + math.cos(math.pi * frac))


def _one_cycle(base_lr: float, epochs: int, rise: float, min_lr: float) -> Schedule:
    """See :func:`make_schedule` (``onecycle``)."""
    if not rise > 0:
        raise ValueError(
            f"the onecycle schedule needs warmup > 0 (epochs of rising rate), got {rise!r}"
        )
    low = base_lr / ONECYCLE_DIV
    final = min_lr if min_lr > 0 else low / ONECYCLE_FINAL_DIV
    fall = max(epochs - rise, 1e-12)

    def schedule(t: float) -> float:
        if t < rise:
            return _cosine_between(low, base_lr, max(t, 0.0) / rise)
        return _cosine_between(base_lr, final, min((t - rise) / fall, 1.0))

    return schedule
