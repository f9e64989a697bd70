"""The input gradient dx of a convolution: the registered forms and the rule between them.

Every form takes dy (N, Ho, Wo, F), the weights W (kH, kW, C, F), the layer's
:class:`ConvShape` and its scratch :class:`~digitnet.nn.runtime.Buffers`, and returns
dx (N, H, W, C) = the sum, over kernel offsets (i, j), of dy @ W[i, j].T placed on the
input pixels that offset touched (then the padding cut off).

- ``per_offset``: any stride; kH*kW products (N*Ho*Wo, F) @ (F, C), each added onto a
  window of dx (col2im with contiguous operands). The cnn preset's layers.
- ``banded``: stride 1, few input channels, narrow output; one product with a band matrix
  built from the kernel. LeNet-5's second layer.
- ``reference``: the loop convolution of :mod:`digitnet.nn.reference`, in float64 (tests).

Two more forms once lived here ("as a convolution" and "by rows"); no preset chose them
(``choose`` on every preset's layers), so they saved nothing on any preset's epoch and were
deleted (see ``docs/performance.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digitnet.nn import reference as ref
from digitnet.nn.kernels import rules
from digitnet.nn.kernels.im2col import Pair, unpad, windows
from digitnet.nn.runtime import Buffers, split


@dataclass(frozen=True)
class ConvShape:
    """The geometry of one convolution call."""

    x: tuple[int, int, int, int]  # (N, H, W, C)
    kernel: Pair  # (kH, kW)
    stride: Pair
    pad: Pair
    out: tuple[int, int, int]  # (Ho, Wo, F)


def per_offset(dy: np.ndarray, W: np.ndarray, s: ConvShape, buf: Buffers) -> np.ndarray:
    """For each kernel offset (i, j), dy @ W[i, j].T is the gradient reaching the input
    pixels that offset touched: all kH*kW products first (into one buffer), then the adds
    onto the padded dx, split over images."""
    n, h, w, c = s.x
    (kh, kw), (ph, pw) = s.kernel, s.pad
    ho, wo, f = s.out
    dy2 = dy.reshape(n * ho * wo, f)
    dxp = buf.get("dxpad", (n, h + 2 * ph, w + 2 * pw, c), dy.dtype)
    parts = buf.get("dparts", (kh * kw, n, ho, wo, c), dy.dtype)
    for o in range(kh * kw):  # (N*Ho*Wo, F) @ (F, C)
        np.matmul(dy2, W[o // kw, o % kw].T, out=parts[o].reshape(n * ho * wo, c))

    def part(a, b):  # images a:b, in parallel
        dxa = dxp[a:b]
        dxa.fill(0)
        for o, (_, _, win) in enumerate(windows(dxa, s.kernel, s.stride, (ho, wo))):
            win += parts[o, a:b]

    split(part, n, parts.size)
    return unpad(dxp, s.pad, h, w)


def banded(dy: np.ndarray, W: np.ndarray, s: ConvShape, buf: Buffers) -> np.ndarray:
    """Stride 1: dx as one product with a banded matrix built from the kernel.

    A padded input row (Wp*C values) receives, from output row r and kernel row i,
    ``dy[r] @ B_i.T`` where B_i (Wp*C, Wo*F) holds W[i, j] at rows w'C.. and columns
    wF.. for w' = w + j: the whole-row form of the convolution along the width. Stacking the
    kernel rows gives one (N*Ho, Wo*F) @ (Wo*F, kH*Wp*C) product; each kernel row's block
    then lands on dx shifted down by i rows. Most of B is zero, so this does Wo/kW times
    the arithmetic of a direct form, but in a shape BLAS runs well (LeNet's 6 -> 16 layer:
    160 x 420 instead of 25 products with 6 columns) and without a patch matrix of dy."""
    n, h, w, c = s.x
    (kh, kw), (ph, pw) = s.kernel, s.pad
    ho, wo, f = s.out
    hp, wp = h + 2 * ph, w + 2 * pw
    band = buf.get("band", (kh, wp, c, wo, f), dy.dtype, zeros="new")
    for x0 in range(wo):  # the band's nonzero blocks
        band[:, x0 : x0 + kw, :, x0, :] = W
    rows = buf.get("drband", (n * ho, kh * wp * c), dy.dtype)
    # (N*Ho, Wo*F) @ (Wo*F, kH*Wp*C) -> (N*Ho, kH*Wp*C)
    np.matmul(dy.reshape(n * ho, wo * f), band.reshape(kh * wp * c, wo * f).T, out=rows)
    per_row = rows.reshape(n, ho, kh, wp * c)
    dxp = buf.get("dxrows", (n, hp, wp, c), dy.dtype)
    dxr = dxp.reshape(n, hp, wp * c)

    def part(a, b):  # images a:b, in parallel
        dxr[a:b, :ho] = per_row[a:b, :, 0]
        dxr[a:b, ho:] = 0
        for i in range(1, kh):
            dxr[a:b, i : i + ho] += per_row[a:b, :, i]

    split(part, n, dxp.size)
    return unpad(dxp, s.pad, h, w)


def reference(dy: np.ndarray, W: np.ndarray, s: ConvShape, buf: Buffers) -> np.ndarray:
    """The loop convolution's dx, in float64 (slow; for tests)."""
    dx, _, _ = ref.conv2d_backward(
        np.zeros(s.x), W.astype(np.float64), dy.astype(np.float64), s.stride, s.pad
    )
    return dx


FORMS = {"reference": reference, "per_offset": per_offset, "banded": banded}


def choose(s: ConvShape) -> str:
    """``banded`` for stride 1, fewer than :data:`~rules.DX_FEW_CHANNELS` input channels and
    a narrow output (Wo <= :data:`~rules.DX_BANDED_MAX_WO_PER_KW` * kW); ``per_offset``
    otherwise (``benchmarks/conv_dx.py`` times both per shape)."""
    if (
        s.stride == (1, 1)
        and s.x[3] < rules.DX_FEW_CHANNELS
        and s.out[1] <= rules.DX_BANDED_MAX_WO_PER_KW * s.kernel[1]
    ):
        return "banded"
    return "per_offset"
