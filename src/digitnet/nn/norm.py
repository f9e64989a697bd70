"""Batch normalisation (Ioffe & Szegedy 2015) for dense (N, D) and channels-last convolutional
(N, H, W, C) activations: statistics are taken over every axis but the last."""

from __future__ import annotations

import numpy as np

from digitnet.nn.module import Module, register


@register
class BatchNorm(Module):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta, per feature/channel.

    Training normalises with the batch mean and (biased) variance and updates the running
    estimates ``running = (1 - momentum) * running + momentum * batch`` (the running variance
    uses the unbiased batch variance, as PyTorch does). Inference uses the running estimates.

    Backward, with m values per channel and xhat the normalised input:
    dx = gamma / (m sqrt(var + eps)) * (m dy - sum(dy) - xhat * sum(dy * xhat)),
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

    def build(self, input_shape, rng, dtype=np.float32):
        out = super().build(input_shape, rng, dtype)
        c = self.input_shape[-1]
        self.params = {"gamma": np.ones(c, dtype), "beta": np.zeros(c, dtype)}
        self.buffers = {"running_mean": np.zeros(c, dtype), "running_var": np.ones(c, dtype)}
        self._alloc_grads()
        return out

    def forward(self, x, *, training):
        c = x.shape[-1]
        x2 = x.reshape(-1, c)                                   # (N*H*W, C), a view
        gamma, beta = self.params["gamma"], self.params["beta"]
        if not training:
            scale = gamma / np.sqrt(self.buffers["running_var"] + x.dtype.type(self.eps))
            shift = beta - self.buffers["running_mean"] * scale
            return (x2 * scale + shift).reshape(x.shape)
        m = x2.shape[0]
        mean = x2.mean(axis=0)
        xc = x2 - mean                                          # (M, C)
        var = np.einsum("ij,ij->j", xc, xc) / m
        inv_std = (1.0 / np.sqrt(var + self.eps)).astype(x.dtype)
        xhat = xc
        xhat *= inv_std                                         # in place: xc is ours
        self._xhat, self._inv_std = xhat, inv_std
        mom = x.dtype.type(self.momentum)
        rm, rv = self.buffers["running_mean"], self.buffers["running_var"]
        rm *= 1 - mom
        rm += mom * mean
        rv *= 1 - mom
        rv += mom * var * (m / max(m - 1, 1))
        y = xhat * gamma
        y += beta
        return y.reshape(x.shape)

    def backward(self, dy):
        c = dy.shape[-1]
        dy2 = dy.reshape(-1, c)
        xhat, m = self._xhat, dy2.shape[0]
        dbeta = dy2.sum(axis=0)
        dgamma = np.einsum("ij,ij->j", dy2, xhat)
        self.grads["beta"][...] = dbeta
        self.grads["gamma"][...] = dgamma
        if not self.needs_input_grad:
            return None
        # dx = gamma * inv_std * (dy - mean(dy) - xhat * mean(dy * xhat))
        k = self.params["gamma"] * self._inv_std                # (C,)
        dx = xhat * (dgamma * (k / m))
        np.subtract(dy2 * k, dx, out=dx)
        dx -= dbeta * (k / m)
        return dx.reshape(dy.shape)

    def get_config(self):
        return {"momentum": self.momentum, "eps": self.eps}
