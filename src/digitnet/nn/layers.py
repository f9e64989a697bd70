"""Dense, Flatten, Dropout and the activation layers.

Shapes use N for the batch size; D_in/D_out for feature counts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from digitnet.nn.init import get_initializer, initial_weights
from digitnet.nn.module import Module, Shape, register
from digitnet.nn.runtime import parallel


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


@register
class Dense(Module):
    """Fully connected layer: ``y = x @ W + b``.

    Forward: x (N, D_in) -> y (N, D_out). Backward: dy (N, D_out) ->
    dW = x.T @ dy (D_in, D_out), db = sum_n dy (D_out,), dx = dy @ W.T (N, D_in).

    Parameters
    ----------
    units : int
        Output features D_out.
    init : str
        Weight initialiser name (``"he"``, ``"xavier"``, ``"lecun"``, ``"normal:0.01"``...).
    bias : bool
        Whether to learn a bias.
    """

    decay_keys = ("W",)

    def __init__(self, units: int, init: str = "he", bias: bool = True) -> None:
        super().__init__()
        self.units = _positive_int("units", units)
        get_initializer(init)  # validate early, with the initialiser's own message
        self.init = init
        self.bias = bool(bias)
        self._x: np.ndarray | None = None

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 1:
            raise ValueError(
                f"Dense expects flat inputs (N, D); got per-example shape "
                f"{input_shape}: put a Flatten layer before it"
            )
        return (self.units,)

    def build(self, input_shape, rng, dtype=np.float32):
        out = super().build(input_shape, rng, dtype)
        d_in = self.input_shape[0]
        self.params = {
            "W": initial_weights(self.init, (d_in, self.units), d_in, self.units, rng, dtype)
        }
        if self.bias:
            self.params["b"] = np.zeros(self.units, dtype=dtype)
        self._alloc_grads()
        return out

    def forward(self, x, *, training):
        """x (N, D_in) -> (N, D_out)."""
        if training:
            self._x = x
        y = x @ self.params["W"]
        if self.bias:
            y += self.params["b"]
        return y

    def backward(self, dy):
        """dy (N, D_out) -> dx (N, D_in), or None for a first layer."""
        x = self._x
        np.matmul(x.T, dy, out=self.grads["W"])  # (D_in, N) @ (N, D_out)
        if self.bias:
            np.sum(dy, axis=0, out=self.grads["b"])
        if not self.needs_input_grad:
            return None
        return dy @ self.params["W"].T  # (N, D_out) @ (D_out, D_in)

    def get_config(self):
        return {"units": self.units, "init": self.init, "bias": self.bias}

    def describe(self):
        return f"Dense {self.units}" + ("" if self.bias else " (no bias)")


@register
class Flatten(Module):
    """(N, d1, d2, ...) -> (N, d1*d2*...), a view when the input is contiguous."""

    aliases_input = True

    def compute_output_shape(self, input_shape):
        return (int(np.prod(input_shape)),)

    def forward(self, x, *, training):
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        return dy.reshape((dy.shape[0],) + self.input_shape)


@register
class Dropout(Module):
    """Inverted dropout: in training, zero each unit with probability ``rate`` and scale the
    survivors by ``1 / (1 - rate)``, so inference is the identity.

    The mask is drawn from the generator given to ``build`` (the training generator), so a
    seed fixes it.
    """

    def __init__(self, rate: float) -> None:
        super().__init__()
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"dropout rate must be in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.rng: np.random.Generator | None = None
        self._mask: np.ndarray | None = None

    def build(self, input_shape, rng, dtype=np.float32):
        # built without one (a model loaded from a file): a fixed stream until fit sets its own
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self._dtype = np.dtype(dtype)
        return super().build(input_shape, rng, dtype)

    def forward(self, x, *, training):
        """(N, ...) -> (N, ...)."""
        if not training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        # mask holds 0 or 1/keep, in the model dtype, so forward and backward are one multiply
        mask = self.rng.random(x.shape, dtype=np.float32) < keep
        self._mask = mask.astype(x.dtype) * x.dtype.type(1.0 / keep)
        if self.inplace:
            x *= self._mask
            return x
        return x * self._mask

    def backward(self, dy):
        if self.rate == 0.0:
            return dy
        dy *= self._mask
        return dy

    def get_config(self):
        return {"rate": self.rate}

    def describe(self):
        return f"Dropout {self.rate:g}"


# -- activations ---------------------------------------------------------------------------


@register
class ReLU(Module):
    """max(0, x); backward passes dy where the input was positive."""

    keeps_output = True
    commutes_with_max = True

    def forward(self, x, *, training):
        if x.ndim < 4 or x.size < 2 * parallel.MIN_ELEMENTS:  # MLPs: one call (see backward)
            y = np.maximum(x, 0, out=x if self.inplace else None)
        else:  # large: split over threads
            x = np.ascontiguousarray(x)
            y = x if self.inplace else np.empty_like(x)
            xf, yf = x.reshape(-1), y.reshape(-1)
            parallel.split(lambda a, b: np.maximum(xf[a:b], 0, out=yf[a:b]), xf.size, xf.size)
        if training:
            self._y = y
        return y

    def backward(self, dy):
        # split only image activations: between an MLP's products OpenBLAS's threads still
        # spin, and a split ReLU made 784-512-256-10 inference 12% slower (docs/performance.md)
        if dy.ndim < 4 or dy.size < 2 * parallel.MIN_ELEMENTS:
            dy *= self._y > 0
            return dy
        dy = np.ascontiguousarray(dy)  # ours to overwrite
        dyf, yf = dy.reshape(-1), self._y.reshape(-1)
        parallel.split(
            lambda a, b: np.multiply(dyf[a:b], yf[a:b] > 0, out=dyf[a:b]), dyf.size, dyf.size
        )
        return dy


@register
class LeakyReLU(Module):
    """x for x > 0, alpha * x otherwise."""

    def __init__(self, alpha: float = 0.01) -> None:
        super().__init__()
        if not 0.0 <= float(alpha) < 1.0:
            raise ValueError(f"alpha must be in [0, 1), got {alpha!r}")
        self.alpha = float(alpha)

    def forward(self, x, *, training):
        pos = x > 0
        y = np.where(pos, x, x * x.dtype.type(self.alpha))
        if training:
            self._pos = pos
        return y

    def backward(self, dy):
        return np.where(self._pos, dy, dy * dy.dtype.type(self.alpha))

    def get_config(self):
        return {"alpha": self.alpha}


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function computed as ``0.5 * (1 + tanh(x / 2))``: exact identity, no
    ``exp`` overflow for any input (tanh saturates cleanly at +-1)."""
    half = x.dtype.type(0.5) if isinstance(x, np.ndarray) else 0.5
    y = np.tanh(x * half)
    y += 1
    y *= half
    return y


@register
class Sigmoid(Module):
    """Logistic sigmoid; backward uses dy * y * (1 - y)."""

    keeps_output = True

    output_kind = "sigmoid"

    def forward(self, x, *, training):
        y = sigmoid(x)
        if training:
            self._y = y
        return y

    def backward(self, dy):
        y = self._y
        dy *= y
        dy *= 1 - y
        return dy


@register
class Tanh(Module):
    """tanh(x); backward uses dy * (1 - y^2)."""

    keeps_output = True

    def forward(self, x, *, training):
        y = np.tanh(x)
        if training:
            self._y = y
        return y

    def backward(self, dy):
        y = self._y
        dy *= 1 - y * y
        return dy


@register
class Softmax(Module):
    """Row-wise softmax (N, K) -> (N, K). For training, prefer logits with the fused
    ``softmax_cross_entropy`` loss; this layer exists for probability outputs and completeness.

    Backward is the Jacobian-vector product ``dx = y * (dy - sum_k dy_k y_k)``.
    """

    output_kind = "probabilities"
    keeps_output = True

    def forward(self, x, *, training):
        from digitnet.nn.losses import softmax

        y = softmax(x)
        if training:
            self._y = y
        return y

    def backward(self, dy):
        y = self._y
        return y * (dy - np.sum(dy * y, axis=1, keepdims=True))


ACTIVATIONS: dict[str, type[Module]] = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "softmax": Softmax,
}
