"""A convolution followed by a 2x2 / stride-2 max-pool, computed as one step: the registered
forms and the rule between them.

A 2x2 max-pool over a channels-last (N, Ho, Wo, F) map reads its four window members
(a, b) in {0, 1}^2 as strided views whose NumPy inner loops run over only F values; on the
anchor network's first layer (256 x 24 x 24 x 24) the pool cost as much as the convolution.
The rows of a patch matrix can be in any order (each row is one output pixel: the product's
row r depends on patch row r only, and dW sums over all rows). In *pool order* -- the rows
of window member (a, b) first, then (n, i, j) -- the product's output is four contiguous
blocks Y[2a + b] (N*Ho/2*Wo/2, F), one per member, and the pool is three element-wise
maxima between whole blocks. The bias is added after the pool, on a quarter of the values
(max(u + b, v + b) = max(u, v) + b).

Ties go to the first maximum in row-major order, as in :class:`~digitnet.nn.MaxPool2D`: of
(0, 0), (0, 1) the right one only when strictly larger, likewise for (1, 0), (1, 1), and
row 1 only when its maximum is strictly larger than row 0's. The three comparisons are kept
as float32 0/1 masks ``c0``, ``c1``, ``r``, and the backward pass routes dy with
multiplications and subtractions that are exact (each dy lands, unchanged, on its window's
winner; the other three get zero).

Forms (:data:`FORMS`), each ``forward(x, W, b, shape, buf) -> (y, saved)`` and
``backward(dy, W, saved, shape, buf, gw, gb, need_dx) -> dx or None``:

- ``pooled``: the above; dx (when a layer upstream learns) from dy put back in spatial
  order and the layer's own input-gradient form (:mod:`~digitnet.nn.kernels.conv_dx`);
- ``reference``: the loop convolution and loop max-pool of :mod:`digitnet.nn.reference`,
  in float64 (tests).

:func:`choose` says ``pooled`` or ``separate`` -- the two layers as listed, each with its own
kernels (what ran before this form existed).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from digitnet.nn import reference as ref
from digitnet.nn.kernels import conv_dw, conv_dx, rules
from digitnet.nn.kernels.conv_dx import ConvShape
from digitnet.nn.kernels.im2col import Alloc, Pair, pad
from digitnet.nn.kernels.rows import fold, row_blocks, tile
from digitnet.nn.runtime import Buffers, split


def pool_order_patches(
    xp: np.ndarray, kernel: Pair, stride: Pair, out: Pair, alloc: Alloc
) -> np.ndarray:
    """Padded (N, Hp, Wp, C) -> the patch matrix (4*N*Ho/2*Wo/2, kH*kW*C) with its rows in
    pool order (a, b, n, i, j) for output pixel (2i + a, 2j + b); Ho and Wo even.

    Each window member's patches are one strided view of the input (the patch view of
    :func:`~digitnet.nn.kernels.im2col.patches` with the output stride doubled, shifted by
    (a, b)). With one input channel the matrix is built transposed, (kH*kW, rows), in
    image-sized slabs as :func:`~digitnet.nn.kernels.im2col.by_slabs` does, and returned as
    its transpose."""
    n, _, _, c = xp.shape
    (kh, kw), (sh, sw), (ho, wo) = kernel, stride, out
    h2, w2 = ho // 2, wo // 2
    s_n, s_h, s_w, s_c = xp.strides
    rows, k = 4 * n * h2 * w2, kh * kw * c
    strided = np.lib.stride_tricks.as_strided
    if c == 1:
        slab = alloc((k, rows))
        view = strided(
            xp,
            shape=(kh, kw, 2, 2, n, h2, w2),
            strides=(s_h, s_w, sh * s_h, sw * s_w, s_n, 2 * sh * s_h, 2 * sw * s_w),
            writeable=False,
        )
        dest = slab.reshape(kh, kw, 2, 2, n, h2, w2)
        split(lambda a, b: np.copyto(dest[:, :, :, :, a:b], view[:, :, :, :, a:b]), n, slab.size)
        return slab.T
    cols = alloc((rows, k))
    view = strided(
        xp,
        shape=(2, 2, n, h2, w2, kh, kw * c),
        strides=(sh * s_h, sw * s_w, s_n, 2 * sh * s_h, 2 * sw * s_w, s_h, s_c),
        writeable=False,
    )
    dest = cols.reshape(2, 2, n, h2, w2, kh, kw * c)
    split(lambda a, b: np.copyto(dest[:, :, a:b], view[:, :, a:b]), n, cols.size)
    return cols


def pool_blocks(y4: np.ndarray, y: np.ndarray, masks: np.ndarray) -> None:
    """y4 (4, M, F), the window members' blocks (overwritten) -> y (M, F), their maximum;
    masks (3, M, F) float32: c0 = member (0, 1) beat (0, 0), c1 = (1, 1) beat (1, 0),
    r = row 1 beat row 0 (strictly: ties to the first in row-major order). Row blocks that
    stay in cache, split over threads."""
    m, f = y.shape

    def part(lo: int, hi: int) -> None:
        for s in row_blocks(lo, hi, f):
            y0, y1, y2, y3 = y4[0, s], y4[1, s], y4[2, s], y4[3, s]
            np.greater(y1, y0, out=masks[0, s])
            np.maximum(y0, y1, out=y0)
            np.greater(y3, y2, out=masks[1, s])
            np.maximum(y2, y3, out=y2)
            np.greater(y2, y0, out=masks[2, s])
            np.maximum(y0, y2, out=y[s])

    split(part, m, y4.size)


def unpool_blocks(dy: np.ndarray, masks: np.ndarray, d4: np.ndarray) -> None:
    """dy (M, F) -> d4 (4, M, F): each dy on its window's winner, zeros elsewhere.

    With r the row-1 mask: t = dy r goes to row 1, u = dy - t to row 0 (exactly dy or 0),
    then within each row the column masks split them the same way."""
    m, f = dy.shape
    c0, c1, r = masks

    def part(lo: int, hi: int) -> None:
        for s in row_blocks(lo, hi, f):
            d0, d1, d2, d3 = d4[0, s], d4[1, s], d4[2, s], d4[3, s]
            np.multiply(dy[s], r[s], out=d2)  # row 1's share
            np.subtract(dy[s], d2, out=d0)  # row 0's share
            np.multiply(d0, c0[s], out=d1)
            np.subtract(d0, d1, out=d0)
            np.multiply(d2, c1[s], out=d3)
            np.subtract(d2, d3, out=d2)

    split(part, m, d4.size)


def _spatial(d4: np.ndarray, n: int, ho: int, wo: int, out: np.ndarray) -> np.ndarray:
    """Pool-order blocks (4, N*Ho/2*Wo/2, F) -> spatial (N, Ho, Wo, F), into ``out``."""
    f = d4.shape[2]
    h2, w2 = ho // 2, wo // 2
    src = d4.reshape(2, 2, n, h2, w2, f)
    dest = out.reshape(n, h2, 2, w2, 2, f)

    def part(lo: int, hi: int) -> None:
        for a in (0, 1):
            for b in (0, 1):
                dest[lo:hi, :, a, :, b] = src[a, b, lo:hi]

    split(part, n, out.size)
    return out


def pooled(
    x: np.ndarray, W: np.ndarray, b: np.ndarray | None, s: ConvShape, buf: Buffers
) -> tuple[np.ndarray, Any]:
    """Training forward: x (N, H, W, C) -> pooled y (N, Ho/2, Wo/2, F) (a reused buffer)."""
    n = x.shape[0]
    ho, wo, f = s.out
    h2, w2 = ho // 2, wo // 2
    m = n * h2 * w2
    xp = pad(x, s.pad, buf, "xpad")
    cols = pool_order_patches(
        xp, s.kernel, s.stride, (ho, wo), lambda shape: buf.get("cols", shape, x.dtype)
    )
    y4 = buf.get("y4", (4, m, f), x.dtype)
    np.matmul(cols, W.reshape(-1, f), out=y4.reshape(4 * m, f))  # (4M, K) @ (K, F)
    y = buf.get("y", (m, f), x.dtype)
    masks = buf.get("masks", (3, m, f), x.dtype)
    pool_blocks(y4, y, masks)
    if b is not None:  # after the pool, on a quarter of the values (long rows)
        yw = y.reshape(n * h2, w2 * f)
        tb = tile(b, w2 * f)
        split(lambda lo, hi: np.add(yw[lo:hi], tb, out=yw[lo:hi]), n * h2, yw.size)
    return y.reshape(n, h2, w2, f), (cols, masks)


def pooled_backward(
    dy: np.ndarray,
    W: np.ndarray,
    saved: Any,
    s: ConvShape,
    buf: Buffers,
    gw: np.ndarray,
    gb: np.ndarray | None,
    need_dx: bool,
) -> np.ndarray | None:
    """dy (N, Ho/2, Wo/2, F) -> dW into ``gw`` (kH, kW, C, F), db into ``gb``, and dx
    (N, H, W, C) when ``need_dx`` (else None)."""
    cols, masks = saved
    n, ho, wo, f = s.x[0], *s.out
    h2, w2 = ho // 2, wo // 2
    m = n * h2 * w2
    dy = np.ascontiguousarray(dy).reshape(m, f)
    if gb is not None:
        gb[...] = fold(dy.reshape(n * h2, w2 * f).sum(axis=0), f)
    d4 = buf.get("d4", (4, m, f), dy.dtype)
    unpool_blocks(dy, masks, d4)
    d2 = d4.reshape(4 * m, f)
    conv_dw.FORMS[conv_dw.choose(s.x[3], f, 4 * m)](cols, d2, gw.reshape(-1, f), buf)
    if not need_dx:
        return None
    dys = _spatial(d4, n, ho, wo, buf.get("dys", (n, ho, wo, f), dy.dtype))
    return conv_dx.FORMS[conv_dx.choose(s)](dys, W, s, buf)


def reference(
    x: np.ndarray, W: np.ndarray, b: np.ndarray | None, s: ConvShape, buf: Buffers
) -> tuple[np.ndarray, Any]:
    """The loop convolution, then the loop max-pool, in float64 (tests)."""
    x64 = x.astype(np.float64)
    conv = ref.conv2d_forward(x64, W.astype(np.float64), b, s.stride, s.pad)
    y, _ = ref.maxpool_forward_backward(conv, None, (2, 2), (2, 2))
    return y, (x64, conv)


def reference_backward(
    dy: np.ndarray,
    W: np.ndarray,
    saved: Any,
    s: ConvShape,
    buf: Buffers,
    gw: np.ndarray,
    gb: np.ndarray | None,
    need_dx: bool,
) -> np.ndarray | None:
    x64, conv = saved
    _, dconv = ref.maxpool_forward_backward(conv, dy.astype(np.float64), (2, 2), (2, 2))
    dx, dW, db = ref.conv2d_backward(x64, W.astype(np.float64), dconv, s.stride, s.pad)
    gw[...] = dW
    if gb is not None:
        gb[...] = db
    return dx if need_dx else None


#: name -> (forward, backward)
FORMS = {"reference": (reference, reference_backward), "pooled": (pooled, pooled_backward)}


def choose(s: ConvShape) -> str:
    """``pooled`` when the convolution's output has even height and width and at least
    :data:`~rules.POOL_FUSE_MIN_FILTERS` channels; ``separate`` (the two layers as listed)
    otherwise."""
    ho, wo, f = s.out
    if ho % 2 == 0 and wo % 2 == 0 and f >= rules.POOL_FUSE_MIN_FILTERS:
        return "pooled"
    return "separate"
