"""Batch normalisation (Ioffe & Szegedy 2015) for dense (N, D) and channels-last convolutional
(N, H, W, C) activations: statistics are taken over every axis but the last."""

from __future__ import annotations

import numpy as np

from digitnet.nn.kernels.rows import blockwise as _blockwise
from digitnet.nn.kernels.rows import fold as _fold
from digitnet.nn.kernels.rows import long_rows as _long_rows
from digitnet.nn.kernels.rows import tile as _tile
from digitnet.nn.kernels.rows import wide as _wide
from digitnet.nn.module import Module, register
from digitnet.nn.runtime import parallel
from digitnet.nn.runtime.buffers import Buffers


@register
class BatchNorm(Module):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta, per feature/channel.

    Training normalises with the batch mean and (biased) variance and updates the running
    estimates ``running = (1 - momentum) * running + momentum * batch`` (the running variance
    uses the unbiased batch variance, as PyTorch does). Inference uses the running estimates.

    Backward, with m values per channel and xhat the normalised input:
    dx = gamma / sqrt(var + eps) * (dy - mean(dy) - xhat * mean(dy * xhat)),
    dgamma = sum(dy * xhat), dbeta = sum(dy).

    Shapes: x (N, D) or (N, H, W, C) -> same shape; gamma, beta, running stats (C,).
    """

    def __init__(self, momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        if not 0.0 < float(momentum) <= 1.0:
            raise ValueError(f"momentum must be in (0, 1], got {momentum!r}")
        if not float(eps) > 0:
            raise ValueError(f"eps must be positive, got {eps!r}")
        self.momentum = float(momentum)
        self.eps = float(eps)
        self._buf = Buffers()

    def build(self, input_shape, rng, dtype=np.float32):
        out = super().build(input_shape, rng, dtype)
        c = self.input_shape[-1]
        self.params = {"gamma": np.ones(c, dtype), "beta": np.zeros(c, dtype)}
        self.buffers = {"running_mean": np.zeros(c, dtype), "running_var": np.ones(c, dtype)}
        self._alloc_grads()
        return out

    def forward(self, x, *, training):
        c = x.shape[-1]
        xw = _wide(x)  # (R, L), L = W*C or D
        gamma, beta = self.params["gamma"], self.params["beta"]
        if not training and xw.size < 2 * parallel.MIN_ELEMENTS:  # one image: fewest calls
            scale = gamma / np.sqrt(self.buffers["running_var"] + x.dtype.type(self.eps))
            shift = beta - self.buffers["running_mean"] * scale
            y = np.multiply(xw, _tile(scale, xw.shape[1]), out=xw if self.inplace else None)
            y += _tile(shift, xw.shape[1])
            return y.reshape(x.shape)
        y = xw if self.inplace else np.empty_like(xw)
        xl, yl = _long_rows(xw), _long_rows(y)  # element-wise passes
        rows, row = xl.shape
        if not training:
            scale = gamma / np.sqrt(self.buffers["running_var"] + x.dtype.type(self.eps))
            shift = beta - self.buffers["running_mean"] * scale
            t_scale, t_shift = _tile(scale, row), _tile(shift, row)

            def affine(b):
                np.multiply(xl[b], t_scale, out=yl[b])
                yl[b] += t_shift

            _blockwise(affine, rows, row)
            return y.reshape(x.shape)
        m = xw.size // c
        mean = _fold(xw.sum(axis=0), c) / x.dtype.type(m)
        xc = self._buf.get("xhat", xw.shape, x.dtype)  # kept for backward
        xcl = _long_rows(xc)
        t_mean = _tile(mean, row)
        _blockwise(lambda b: np.subtract(xl[b], t_mean, out=xcl[b]), rows, row)
        var = _fold(np.einsum("ij,ij->j", xc, xc), c) / x.dtype.type(m)
        inv_std = (1.0 / np.sqrt(var + self.eps)).astype(x.dtype)
        self._xhat, self._inv_std = xc, inv_std
        self._update_running(mean, var, m)
        t_inv, t_gamma, t_beta = _tile(inv_std, row), _tile(gamma, row), _tile(beta, row)

        def normalise(b):  # xhat, then gamma*xhat + beta
            xcl[b] *= t_inv
            np.multiply(xcl[b], t_gamma, out=yl[b])
            yl[b] += t_beta

        _blockwise(normalise, rows, row)
        return y.reshape(x.shape)

    def _update_running(self, mean, var, m):
        mom = mean.dtype.type(self.momentum)
        rm, rv = self.buffers["running_mean"], self.buffers["running_var"]
        rm *= 1 - mom
        rm += mom * mean
        rv *= 1 - mom
        rv += mom * var * mean.dtype.type(m / max(m - 1, 1))

    def backward(self, dy):
        c = dy.shape[-1]
        dyw = _wide(dy)
        xhat, m = self._xhat, dyw.size // c
        dbeta = _fold(dyw.sum(axis=0), c)
        dgamma = _fold(np.einsum("ij,ij->j", dyw, xhat), c)
        self.grads["beta"][...] = dbeta
        self.grads["gamma"][...] = dgamma
        if not self.needs_input_grad:
            return None
        # dx = k * (dy - dbeta / m - xhat * dgamma / m), k = gamma * inv_std; dy is ours
        k = self.params["gamma"] * self._inv_std  # (C,)
        inv_m = dy.dtype.type(1.0 / m)
        dyl, xl = _long_rows(dyw), _long_rows(xhat)
        rows, row = dyl.shape
        t_xhat, t_k = _tile(k * dgamma * inv_m, row), _tile(k, row)
        t_beta = _tile(k * dbeta * inv_m, row)
        part = _long_rows(self._buf.get("part", dyw.shape, dy.dtype))

        def input_grad(b):  # in cache, block by block
            p = np.multiply(xl[b], t_xhat, out=part[b])
            dyl[b] *= t_k
            dyl[b] -= t_beta
            dyl[b] -= p

        _blockwise(input_grad, rows, row)
        return dyw.reshape(dy.shape)

    def get_config(self):
        return {"momentum": self.momentum, "eps": self.eps}
