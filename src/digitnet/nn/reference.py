"""Slow, obvious loop implementations of the convolutional layers, written for clarity only.

The fast layers in :mod:`digitnet.nn.conv` and :mod:`digitnet.nn.norm` are tested against
these on random shapes, strides and paddings. Layout as in the fast layers: images
(N, H, W, C), weights (kH, kW, C_in, C_out).
"""

from __future__ import annotations

import numpy as np


def conv2d_forward(x, W, b, stride=(1, 1), pad=(0, 0)):
    """Direct convolution with loops over images, output pixels and filters."""
    n, h, w, c = x.shape
    kh, kw, _, f = W.shape
    (sh, sw), (ph, pw) = stride, pad
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    y = np.zeros((n, ho, wo, f), dtype=np.float64)
    for i in range(n):
        for p in range(ho):
            for q in range(wo):
                patch = xp[i, p * sh : p * sh + kh, q * sw : q * sw + kw, :]  # (kh, kw, C)
                for k in range(f):
                    y[i, p, q, k] = np.sum(patch * W[:, :, :, k]) + (b[k] if b is not None else 0.0)
    return y


def conv2d_backward(x, W, dy, stride=(1, 1), pad=(0, 0)):
    """Gradients (dx, dW, db) of the direct convolution, accumulated patch by patch."""
    n, h, w, c = x.shape
    kh, kw, _, f = W.shape
    (sh, sw), (ph, pw) = stride, pad
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0))).astype(np.float64)
    dxp = np.zeros_like(xp)
    dW = np.zeros(W.shape, dtype=np.float64)
    _, ho, wo, _ = dy.shape
    for i in range(n):
        for p in range(ho):
            for q in range(wo):
                rows = slice(p * sh, p * sh + kh)
                cols = slice(q * sw, q * sw + kw)
                for k in range(f):
                    g = dy[i, p, q, k]
                    dW[:, :, :, k] += g * xp[i, rows, cols, :]
                    dxp[i, rows, cols, :] += g * W[:, :, :, k]
    db = dy.sum(axis=(0, 1, 2))
    return dxp[:, ph : ph + h, pw : pw + w, :], dW, db


def maxpool_forward_backward(x, dy, size, stride):
    """Max pooling and its gradient (first maximum in row-major order wins ties)."""
    n, h, w, c = x.shape
    (kh, kw), (sh, sw) = size, stride
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    y = np.zeros((n, ho, wo, c), dtype=x.dtype)
    dx = np.zeros_like(x, dtype=np.float64)
    for i in range(n):
        for p in range(ho):
            for q in range(wo):
                for ch in range(c):
                    win = x[i, p * sh : p * sh + kh, q * sw : q * sw + kw, ch]
                    a, bb = np.unravel_index(np.argmax(win), win.shape)
                    y[i, p, q, ch] = win[a, bb]
                    if dy is not None:
                        dx[i, p * sh + a, q * sw + bb, ch] += dy[i, p, q, ch]
    return y, dx


def avgpool_forward_backward(x, dy, size, stride):
    """Average pooling and its gradient."""
    n, h, w, c = x.shape
    (kh, kw), (sh, sw) = size, stride
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    y = np.zeros((n, ho, wo, c), dtype=np.float64)
    dx = np.zeros_like(x, dtype=np.float64)
    for i in range(n):
        for p in range(ho):
            for q in range(wo):
                win = (slice(p * sh, p * sh + kh), slice(q * sw, q * sw + kw))
                y[i, p, q] = x[i, win[0], win[1]].mean(axis=(0, 1))
                if dy is not None:
                    dx[i, win[0], win[1]] += dy[i, p, q] / (kh * kw)
    return y, dx


def batchnorm_forward(x, gamma, beta, eps):
    """Training-mode batch norm with explicit loops over channels."""
    c = x.shape[-1]
    x2 = x.reshape(-1, c).astype(np.float64)
    y = np.empty_like(x2)
    for ch in range(c):
        col = x2[:, ch]
        y[:, ch] = gamma[ch] * (col - col.mean()) / np.sqrt(col.var() + eps) + beta[ch]
    return y.reshape(x.shape)
