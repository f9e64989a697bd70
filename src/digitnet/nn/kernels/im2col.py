"""Patch matrices of channels-last images, and the padding around them.

A convolution is one matrix product: patches (N*Ho*Wo, kH*kW*C) @ W (kH*kW*C, F). The two
builders of the patch matrix are registered in :data:`FORMS`; :func:`choose` picks one by the
number of channels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from digitnet.nn.runtime import Buffers, split

Pair = tuple[int, int]
Alloc = Callable[[tuple[int, ...]], np.ndarray]


def windows(
    x: np.ndarray, kernel: Pair, stride: Pair, out: Pair
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(i, j, view)`` for each kernel offset: view = x[:, i::sh, j::sw, :] cut to
    (N, Ho, Wo, C). ``x`` is (N, H, W, C), already padded."""
    (kh, kw), (sh, sw), (ho, wo) = kernel, stride, out
    for i in range(kh):
        for j in range(kw):
            yield i, j, x[:, i : i + sh * (ho - 1) + 1 : sh, j : j + sw * (wo - 1) + 1 : sw, :]


def pad(x: np.ndarray, padding: Pair, buf: Buffers, name: str) -> np.ndarray:
    """(N, H, W, C) -> (N, H + 2ph, W + 2pw, C) in a reused buffer whose zero border is
    written once (only the interior changes between calls); ``x`` itself (contiguous) when
    there is no padding."""
    ph, pw = padding
    if not ph and not pw:
        return np.ascontiguousarray(x)
    n, h, w, c = x.shape
    xp = buf.get(name, (n, h + 2 * ph, w + 2 * pw, c), x.dtype, zeros="new")

    def part(a, b):
        xp[a:b, ph : ph + h, pw : pw + w, :] = x[a:b]

    split(part, n, x.size)
    return xp


def unpad(dxp: np.ndarray, padding: Pair, h: int, w: int) -> np.ndarray:
    """The interior (N, h, w, C) of a padded gradient, contiguous for the next layer."""
    ph, pw = padding
    if not ph and not pw:
        return dxp
    dx = np.empty((dxp.shape[0], h, w, dxp.shape[3]), dxp.dtype)

    def part(a, b):
        dx[a:b] = dxp[a:b, ph : ph + h, pw : pw + w, :]

    split(part, dx.shape[0], dx.size)
    return dx


def patches(xp: np.ndarray, kernel: Pair, stride: Pair, out: Pair) -> np.ndarray:
    """A read-only strided view of all patches, no copy: (N, Ho, Wo, kH, kW*C).

    In a contiguous NHWC array the kW*C values of one kernel row of a patch are
    contiguous, so one view covers every patch and a single ``copyto`` turns it into the
    patch matrix (far faster than one copy per kernel offset)."""
    (kh, kw), (sh, sw), (ho, wo) = kernel, stride, out
    n, _, _, c = xp.shape
    s_n, s_h, s_w, s_c = xp.strides
    return np.lib.stride_tricks.as_strided(
        xp,
        shape=(n, ho, wo, kh, kw * c),
        strides=(s_n, sh * s_h, sw * s_w, s_h, s_c),
        writeable=False,
    )


def by_patches(xp: np.ndarray, kernel: Pair, stride: Pair, out: Pair, alloc: Alloc) -> np.ndarray:
    """Padded (N, Hp, Wp, C) -> patch matrix (N*Ho*Wo, kH*kW*C), written into
    ``alloc(shape)``, one copy of the strided patch view split over images."""
    n, c = xp.shape[0], xp.shape[3]
    (kh, kw), (ho, wo) = kernel, out
    m, k = n * ho * wo, kh * kw * c
    cols = alloc((m, k))
    dest = cols.reshape(n, ho, wo, kh, kw * c)
    view = patches(xp, kernel, stride, out)
    split(lambda a, b: np.copyto(dest[a:b], view[a:b]), n, m * k)
    return cols


def by_slabs(xp: np.ndarray, kernel: Pair, stride: Pair, out: Pair, alloc: Alloc) -> np.ndarray:
    """One input channel: a patch's rows are only kW values long, which NumPy copies
    slowly. The matrix is built transposed, (kH*kW, N*Ho*Wo), one long image-sized slab per
    kernel offset, and returned as its transpose (a (N*Ho*Wo, kH*kW) view BLAS reads
    directly)."""
    n = xp.shape[0]
    (kh, kw), (sh, sw), (ho, wo) = kernel, stride, out
    m, k = n * ho * wo, kh * kw
    buf = alloc((k, m))
    s_n, s_h, s_w, _ = xp.strides
    slabs = np.lib.stride_tricks.as_strided(
        xp, shape=(kh, kw, n, ho, wo), strides=(s_h, s_w, s_n, sh * s_h, sw * s_w), writeable=False
    )
    dest = buf.reshape(kh, kw, n, ho, wo)
    split(lambda a, b: np.copyto(dest[:, :, a:b], slabs[:, :, a:b]), n, m * k)
    return buf.T


def reference(xp: np.ndarray, kernel: Pair, stride: Pair, out: Pair, alloc: Alloc) -> np.ndarray:
    """The patch matrix by loops over images and output pixels (tests only)."""
    n, _, _, c = xp.shape
    (kh, kw), (sh, sw), (ho, wo) = kernel, stride, out
    cols = alloc((n * ho * wo, kh * kw * c))
    r = 0
    for i in range(n):
        for p in range(ho):
            for q in range(wo):
                cols[r] = xp[i, p * sh : p * sh + kh, q * sw : q * sw + kw, :].ravel()
                r += 1
    return cols


FORMS = {"reference": reference, "patches": by_patches, "slabs": by_slabs}


def choose(channels: int) -> str:
    """``slabs`` for one input channel, else ``patches``."""
    return "slabs" if channels == 1 else "patches"
