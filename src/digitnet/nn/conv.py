"""Convolution and pooling on channels-last images.

Layout: activations are (N, H, W, C) ("NHWC") and convolution weights (kH, kW, C_in, C_out).
Channels-last is what an im2col + matrix-multiply convolution wants: the patch matrix
(N*Ho*Wo, kH*kW*C_in) times the weights (kH*kW*C_in, C_out) gives (N*Ho*Wo, C_out), which *is*
the NHWC output, so no transpose is ever copied, forward or backward. For one-channel MNIST
input, (N, 28, 28, 1) is the same memory as (N, 1, 28, 28).

The layers hold the maths and the shapes; the alternative ways to compute a step live in
:mod:`digitnet.nn.kernels` (patch matrices, dW, dx, 2x2 max-pool), each a registry of named
forms with one rule that picks among them. Slow, obvious loop versions of every layer live in
:mod:`digitnet.nn.reference` for the tests.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from digitnet.nn.init import get_initializer, initial_weights
from digitnet.nn.kernels import conv_dw, conv_dx, conv_pool, im2col, pool, rules
from digitnet.nn.kernels.im2col import windows
from digitnet.nn.kernels.rows import fold, tile
from digitnet.nn.module import Module, Shape, register
from digitnet.nn.runtime import Buffers, split, thread_buffers


def _pair(name: str, value: Any) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (int(value), int(value))
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in value
        )
    ):
        raise ValueError(f"{name} must be a positive integer or a pair of them, got {value!r}")
    return int(value[0]), int(value[1])


def _padding(value: Any, kernel: tuple[int, int]) -> tuple[int, int]:
    if value == "valid":
        return 0, 0
    if value == "same":
        if kernel[0] % 2 == 0 or kernel[1] % 2 == 0:
            raise ValueError(f"padding='same' needs an odd kernel size, got {kernel}")
        return (kernel[0] - 1) // 2, (kernel[1] - 1) // 2
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 0:
        return int(value), int(value)
    if (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, (int, np.integer)) and v >= 0 for v in value)
    ):
        return int(value[0]), int(value[1])
    raise ValueError(f"padding must be 'valid', 'same', an integer >= 0 or a pair, got {value!r}")


def conv_output_size(size: int, kernel: int, stride: int, pad: int) -> int:
    """Output length of a convolution or pooling along one axis."""
    return (size + 2 * pad - kernel) // stride + 1


def _form(registry: dict, name: str | None, what: str) -> str | None:
    if name is not None and name not in registry:
        raise ValueError(f"{what} must be one of {', '.join(registry)}, got {name!r}")
    return name


@register
class Conv2D(Module):
    """2-D convolution (cross-correlation, as in every deep-learning library).

    Forward: x (N, H, W, C_in) -> y (N, Ho, Wo, C_out), with
    Ho = (H + 2 pad_h - kH) // stride_h + 1 and
    y[n, p, q, f] = b[f] + sum_{i, j, c} W[i, j, c, f] x_pad[n, p*sh + i, q*sw + j, c].

    Computed as one matrix product: patches (N*Ho*Wo, kH*kW*C_in) @ W (kH*kW*C_in, C_out).
    Backward: dW = patches.T @ dy, db = sum dy, and dx = the sum over kernel offsets of
    dy @ W[i, j].T placed where that offset reads the input (col2im).

    Parameters
    ----------
    filters : int
        Output channels C_out.
    kernel_size : int or (int, int)
    stride : int or (int, int)
    padding : 'valid', 'same', int or (int, int)
        Zero padding on each side; 'same' keeps H and W for stride 1 and odd kernels.
    init : str
        Weight initialiser (fan_in = kH*kW*C_in).
    bias : bool
    dx_form, dw_form : str, optional
        Force one of :data:`digitnet.nn.kernels.conv_dx.FORMS` /
        :data:`~digitnet.nn.kernels.conv_dw.FORMS` instead of the kernel's rule (tests and
        benchmarks; not saved with the model).
    """

    decay_keys = ("W",)

    def __init__(
        self,
        filters: int,
        kernel_size: Any = 3,
        stride: Any = 1,
        padding: Any = "valid",
        init: str = "he",
        bias: bool = True,
        *,
        dx_form: str | None = None,
        dw_form: str | None = None,
    ) -> None:
        super().__init__()
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters <= 0:
            raise ValueError(f"filters must be a positive integer, got {filters!r}")
        self.filters = int(filters)
        self.kernel_size = _pair("kernel_size", kernel_size)
        self.stride = _pair("stride", stride)
        self.padding = padding
        self.pad = _padding(padding, self.kernel_size)
        get_initializer(init)
        self.init = init
        self.bias = bool(bias)
        self.dx_form = _form(conv_dx.FORMS, dx_form, "dx_form")
        self.dw_form = _form(conv_dw.FORMS, dw_form, "dw_form")
        self._buf = Buffers()

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 3:
            raise ValueError(
                f"Conv2D expects images (N, H, W, C); got per-example shape {input_shape}"
            )
        h, w, _ = input_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.pad
        ho, wo = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
        if ho <= 0 or wo <= 0:
            raise ValueError(
                f"kernel {self.kernel_size} does not fit input {h}x{w} with padding {self.pad}"
            )
        return ho, wo, self.filters

    def build(self, input_shape, rng, dtype=np.float32):
        out = super().build(input_shape, rng, dtype)
        (kh, kw), c = self.kernel_size, self.input_shape[2]
        fan_in, fan_out = kh * kw * c, kh * kw * self.filters
        self.params = {
            "W": initial_weights(self.init, (kh, kw, c, self.filters), fan_in, fan_out, rng, dtype)
        }
        if self.bias:
            self.params["b"] = np.zeros(self.filters, dtype=dtype)
        self._alloc_grads()
        return out

    def _cols(self, xp: np.ndarray, alloc) -> np.ndarray:
        """Padded input -> patch matrix (N*Ho*Wo, kH*kW*C) (see kernels.im2col)."""
        build = im2col.FORMS[im2col.choose(xp.shape[3])]
        assert self.output_shape is not None  # built
        ho, wo = self.output_shape[:2]
        return build(xp, self.kernel_size, self.stride, (ho, wo), alloc)

    def forward(self, x, *, training):
        """x (N, H, W, C_in) -> (N, Ho, Wo, C_out)."""
        ho, wo, f = self.output_shape
        n = x.shape[0]
        k = self.kernel_size[0] * self.kernel_size[1] * x.shape[3]
        w2 = self.params["W"].reshape(k, f)  # (kh*kw*C, F)
        if not training:
            return self._forward_chunked(x, w2, ho, wo, k)
        self._x_shape = x.shape
        xp = im2col.pad(x, self.pad, self._buf, "xpad")
        self._cols_m = cols = self._cols(xp, lambda shape: self._buf.get("cols", shape, x.dtype))
        y = np.matmul(cols, w2, out=self._buf.get("y", (n * ho * wo, f), x.dtype))
        if self.bias:
            yw = y.reshape(n * ho, wo * f)  # long rows, see kernels.rows
            tb = tile(self.params["b"], wo * f)
            split(lambda a, b: np.add(yw[a:b], tb, out=yw[a:b]), n * ho, yw.size)
        return y.reshape(n, ho, wo, f)

    def _forward_chunked(self, x, w2, ho, wo, k):
        """Inference in slices of the batch, so the patch matrix stays small, in scratch
        arrays kept per thread (:func:`~digitnet.nn.runtime.thread_buffers`: fresh 10-60 MB
        arrays every call cost more in page faults than the convolution itself)."""
        (n, h, w, c), f, (ph, pw) = x.shape, self.filters, self.pad
        y = np.empty((n, ho, wo, f), dtype=x.dtype)
        step = min(n, max(1, rules.INFERENCE_COLS_BYTES // max(ho * wo * k * x.itemsize, 1)))
        buf = thread_buffers(self)
        padded = buf.prefix("xpad", (step, h + 2 * ph, w + 2 * pw, c), x.dtype, zeros="new")
        flat = buf.prefix("cols", (step * ho * wo * k,), x.dtype)
        tb = tile(self.params["b"], wo * f) if self.bias else None

        def alloc(shape):  # the first prod(shape) values
            return flat[: shape[0] * shape[1]].reshape(shape)

        for s in range(0, n, step):
            xs = x[s : s + step]
            m = xs.shape[0]
            if ph or pw:
                xp = padded[:m]  # its border stays zero
                xp[:, ph : ph + h, pw : pw + w, :] = xs
            else:
                xp = np.ascontiguousarray(xs)
            ys = y[s : s + m].reshape(m * ho * wo, f)
            np.matmul(self._cols(xp, alloc), w2, out=ys)
            if self.bias:  # long rows, see kernels.rows
                ys.reshape(m * ho, wo * f)[...] += tb
        return y

    def backward(self, dy):
        """dy (N, Ho, Wo, C_out) -> dx (N, H, W, C_in), or None when no layer upstream
        learns (``needs_input_grad``)."""
        n, ho, wo, f = dy.shape
        dy2 = dy.reshape(n * ho * wo, f)
        gw = self.grads["W"].reshape(-1, f)  # (kh*kw*C, F)
        dw = self.dw_form or conv_dw.choose(self._x_shape[3], f, dy2.shape[0])
        conv_dw.FORMS[dw](self._cols_m, dy2, gw, self._buf)
        if self.bias:
            self.grads["b"][...] = fold(dy.reshape(n * ho, wo * f).sum(axis=0), f)
        if not self.needs_input_grad:
            return None
        shape = conv_dx.ConvShape(
            self._x_shape, self.kernel_size, self.stride, self.pad, self.output_shape
        )
        dx = conv_dx.FORMS[self.dx_form or conv_dx.choose(shape)](
            dy, self.params["W"], shape, self._buf
        )
        return dx.astype(dy.dtype, copy=False)

    def fused_with(self, following: Module) -> Module | None:
        """With a 2x2 / stride-2 max-pool right after it, training runs both as one step
        (:class:`PooledConv2D`) when :func:`digitnet.nn.kernels.conv_pool.choose` says so."""
        if not (
            isinstance(following, MaxPool2D)
            and following.pool_size == following.stride == (2, 2)
            and self.output_shape is not None
            and self.dx_form is None
            and self.dw_form is None
        ):
            return None
        if conv_pool.choose(self._shape(None)) != "pooled":
            return None
        return PooledConv2D(self, following)

    def _shape(self, n: int | None) -> conv_dx.ConvShape:
        """The geometry of a call on ``n`` images (None: the batch size is not known yet)."""
        assert self.input_shape is not None and self.output_shape is not None  # built
        c_in, (ho, wo, c_out) = self.input_shape[-1], self.output_shape
        h, w = self.input_shape[0], self.input_shape[1]
        return conv_dx.ConvShape(
            (n or 0, h, w, c_in), self.kernel_size, self.stride, self.pad, (ho, wo, c_out)
        )

    def describe(self):
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        pad = self.padding if isinstance(self.padding, str) else f"pad {self.pad[0]}"
        stride = (
            "" if (sh, sw) == (1, 1) else (f" stride {sh}" if sh == sw else f" stride {sh}x{sw}")
        )
        return f"Conv2D {self.filters} {kh}x{kw}{stride} {pad}" + (
            "" if self.bias else " (no bias)"
        )

    def get_config(self):
        return {
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": self.padding if isinstance(self.padding, str) else list(self.pad),
            "init": self.init,
            "bias": self.bias,
        }


class PooledConv2D(Module):
    """A :class:`Conv2D` and the 2x2 / stride-2 :class:`MaxPool2D` right after it, run as
    one step in training (:mod:`digitnet.nn.kernels.conv_pool`: the patch rows in pool
    order, the pool as maxima between whole blocks, the bias after the pool).

    Only an execution plan that :class:`~digitnet.nn.Sequential` makes when it builds (see
    :meth:`Conv2D.fused_with`): the two layers stay in the network's list, the parameters
    and gradients are the convolution's own arrays, and inference runs the two layers one
    after the other, exactly as before.

    Forward: x (N, H, W, C_in) -> (N, Ho/2, Wo/2, C_out); backward: dy of that shape -> dx
    (N, H, W, C_in), or None when no layer upstream learns.
    """

    def __init__(self, conv: Conv2D, pool: MaxPool2D, form: str = "pooled") -> None:
        super().__init__()
        if form not in conv_pool.FORMS:
            raise ValueError(f"form must be one of {', '.join(conv_pool.FORMS)}, got {form!r}")
        self.conv, self.pool, self.form = conv, pool, form
        self.parts = (conv, pool)
        self.input_shape, self.output_shape = conv.input_shape, pool.output_shape
        self._buf = Buffers()
        self._saved: Any = None
        self._geom: conv_dx.ConvShape | None = None

    def forward(self, x, *, training):
        """x (N, H, W, C_in) -> (N, Ho/2, Wo/2, C_out)."""
        if not training:
            return self.pool.forward(self.conv.forward(x, training=False), training=False)
        conv = self.conv
        self._geom = conv._shape(x.shape[0])
        fwd = conv_pool.FORMS[self.form][0]
        y, self._saved = fwd(x, conv.params["W"], conv.params.get("b"), self._geom, self._buf)
        return y

    def backward(self, dy):
        """dy (N, Ho/2, Wo/2, C_out) -> dx (N, H, W, C_in), or None when no layer upstream
        learns (the convolution's ``needs_input_grad``); fills the convolution's grads."""
        conv = self.conv
        bwd = conv_pool.FORMS[self.form][1]
        dx = bwd(
            dy,
            conv.params["W"],
            self._saved,
            self._geom,
            self._buf,
            conv.grads["W"],
            conv.grads.get("b"),
            conv.needs_input_grad,
        )
        return None if dx is None else dx.astype(dy.dtype, copy=False)

    def describe(self):
        return f"{self.conv.describe()} + {self.pool.describe()} (one step)"


class _Pool2D(Module):
    """Shared shape logic of the windowed pooling layers (no padding)."""

    def __init__(self, pool_size: Any = 2, stride: Any = None) -> None:
        super().__init__()
        self.pool_size = _pair("pool_size", pool_size)
        self.stride = self.pool_size if stride is None else _pair("stride", stride)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                f"{type(self).__name__} expects images (N, H, W, C); got "
                f"per-example shape {input_shape}"
            )
        h, w, c = input_shape
        (kh, kw), (sh, sw) = self.pool_size, self.stride
        ho, wo = conv_output_size(h, kh, sh, 0), conv_output_size(w, kw, sw, 0)
        if ho <= 0 or wo <= 0:
            raise ValueError(f"pool {self.pool_size} does not fit input {h}x{w}")
        return ho, wo, c

    def _windows(self, x):
        return windows(x, self.pool_size, self.stride, self.output_shape[:2])

    def get_config(self):
        return {"pool_size": list(self.pool_size), "stride": list(self.stride)}

    def describe(self):
        (kh, kw), (sh, sw) = self.pool_size, self.stride
        stride = "" if (sh, sw) == (kh, kw) else f" stride {sh}x{sw}"
        return f"{type(self).__name__} {kh}x{kw}{stride}"


@register
class MaxPool2D(_Pool2D):
    """Max over each window: (N, H, W, C) -> (N, Ho, Wo, C).

    Backward sends dy to the first maximum of each window in row-major order (PyTorch's
    rule), so ties never double a gradient. 2x2 windows of stride 2 take the whole-array
    path of :mod:`digitnet.nn.kernels.pool`.
    """

    is_max_pool = True

    def forward(self, x, *, training):
        """(N, H, W, C) -> (N, Ho, Wo, C); in training also records which offset won."""
        if self.pool_size == self.stride == (2, 2):
            y, self._col1, self._row1 = pool.forward_2x2(x, training)
            self._x_shape = x.shape
            return y
        y = idx = gt = None
        for o, (_, _, win) in enumerate(self._windows(x)):
            if y is None:
                y = win.copy()
                if training:
                    idx = np.zeros(y.shape, dtype=np.uint8)
                    gt = np.empty(y.shape, dtype=bool)
                continue
            if training:  # strictly greater: the first maximum wins ties
                np.greater(win, y, out=gt)
                np.copyto(idx, o, where=gt)
            np.maximum(y, win, out=y)
        if training:
            self._idx, self._x_shape = idx, x.shape
        return y

    def backward(self, dy):
        """dy (N, Ho, Wo, C) -> dx (N, H, W, C), non-zero only at each window's maximum."""
        if self.pool_size == self.stride == (2, 2):
            return pool.backward_2x2(dy, self._x_shape, self._col1, self._row1)
        (kh, kw), (sh, sw) = self.pool_size, self.stride
        h, w, _ = self.input_shape
        ho, wo, _ = self.output_shape
        tiles = (sh, sw) == (kh, kw) and h == ho * kh and w == wo * kw
        # non-overlapping windows that tile the input write each dx element exactly once
        dx = np.empty(self._x_shape, dy.dtype) if tiles else np.zeros(self._x_shape, dy.dtype)
        hit = np.empty(dy.shape, dtype=bool)
        for o, (_, _, dw) in enumerate(self._windows(dx)):
            np.equal(self._idx, o, out=hit)
            if tiles:
                np.multiply(dy, hit, out=dw)
            else:
                dw += np.where(hit, dy, 0)  # overlapping windows add up
        return dx


@register
class AvgPool2D(_Pool2D):
    """Mean over each window: (N, H, W, C) -> (N, Ho, Wo, C)."""

    def forward(self, x, *, training):
        y = None
        for _, _, win in self._windows(x):
            if y is None:
                y = win.astype(x.dtype, copy=True)
            else:
                y += win
        y *= x.dtype.type(1.0 / (self.pool_size[0] * self.pool_size[1]))
        if training:
            self._x_shape = x.shape
        return y

    def backward(self, dy):
        dx = np.zeros(self._x_shape, dtype=dy.dtype)
        share = dy * dy.dtype.type(1.0 / (self.pool_size[0] * self.pool_size[1]))
        for _, _, win in self._windows(dx):
            win += share
        return dx


@register
class GlobalAvgPool2D(Module):
    """Mean over all positions: (N, H, W, C) -> (N, C)."""

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                f"GlobalAvgPool2D expects images (N, H, W, C); got per-example shape {input_shape}"
            )
        return (input_shape[2],)

    def forward(self, x, *, training):
        return x.mean(axis=(1, 2))

    def backward(self, dy):
        h, w, c = self.input_shape
        share = dy * dy.dtype.type(1.0 / (h * w))  # (N, C)
        return np.broadcast_to(share[:, None, None, :], (dy.shape[0], h, w, c)).copy()
