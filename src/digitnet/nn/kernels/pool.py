"""2x2 / stride-2 max-pooling in whole-array operations, and the two ways to read a window's
left and right columns.

The maximum of each window is taken in two steps: of its left and right columns (per row),
then of its two rows. Ties go to the first maximum in row-major order: row 0 unless row 1 is
strictly larger; within the row, column 0 unless column 1 is strictly larger (PyTorch's rule
and :func:`digitnet.nn.reference.maxpool_forward_backward`'s).

Column forms (:data:`COLUMNS`), chosen by :func:`choose`:

- ``in_place``: strided views of x; NumPy's inner loops then run over C values at a time;
- ``apart``: each pixel's C values moved as one block into two new arrays first (LeNet-5's
  6 channels: the layer's forward 1.28 -> 0.57 ms on a batch of 128; no gain from 16
  channels up, and none for the backward pass, which stays as it is).
"""

from __future__ import annotations

import numpy as np

from digitnet.nn.kernels import rules
from digitnet.nn.runtime import split


def _pixel_blocks(x: np.ndarray) -> np.ndarray:
    """(n, h, w, c) C-contiguous -> (n, h, w) view whose elements are the c-value blocks of
    each pixel (a void dtype): copying them moves C values per element."""
    n, h, w, c = x.shape
    return x.reshape(n, h, w * c).view(np.dtype((np.void, c * x.itemsize)))


def apart(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, H, W, C), H and W even, C-contiguous -> its even and odd columns, two new
    C-contiguous (n, H/2, 2, W/2, C) arrays."""
    n, h, w, c = x.shape
    pixels = _pixel_blocks(x)
    left, right = (np.empty((n, h, w // 2, c), x.dtype) for _ in range(2))
    np.copyto(_pixel_blocks(left), pixels[:, :, 0::2])
    np.copyto(_pixel_blocks(right), pixels[:, :, 1::2])
    return (left.reshape(n, h // 2, 2, w // 2, c), right.reshape(n, h // 2, 2, w // 2, c))


def in_place(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, H, W, C) -> views of its even and odd columns, (n, H/2, 2, W/2, C) each (odd
    borders dropped)."""
    n, h, w, c = x.shape
    ho, wo = h // 2, w // 2
    xr = x[:, : 2 * ho, : 2 * wo].reshape(n, ho, 2, wo, 2, c)
    return xr[:, :, :, :, 0], xr[:, :, :, :, 1]


COLUMNS = {"in_place": in_place, "apart": apart}


def choose(x: np.ndarray) -> str:
    """``apart`` for few channels (< :data:`~rules.POOL_APART_BELOW`), even H and W and a
    C-contiguous array (pixels as blocks); ``in_place`` otherwise."""
    _, h, w, c = x.shape
    if c < rules.POOL_APART_BELOW and h % 2 == 0 and w % 2 == 0 and x.flags.c_contiguous:
        return "apart"
    return "in_place"


def forward_2x2(
    x: np.ndarray, training: bool, form: str | None = None
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(N, H, W, C) -> y (N, H/2, W/2, C) and, in training, the winners: ``col1`` (N, H/2,
    2, W/2, C), column 1 won in that row; ``row1`` (N, H/2, W/2, C), row 1 won. Images are
    split over threads; ``form`` overrides :func:`choose`."""
    n, h, w, c = x.shape
    ho, wo = h // 2, w // 2
    form = form or choose(x)
    columns, copied = COLUMNS[form], form == "apart"
    y = np.empty((n, ho, wo, c), x.dtype)
    col1 = np.empty((n, ho, 2, wo, c), bool) if training else None
    row1 = np.empty((n, ho, wo, c), bool) if training else None

    def part(a, b):
        left, right = columns(x[a:b])
        if training:
            np.greater(right, left, out=col1[a:b])
        rows = np.maximum(left, right, out=left if copied else None)  # max in each row
        np.maximum(rows[:, :, 0], rows[:, :, 1], out=y[a:b])
        if training:
            np.greater(rows[:, :, 1], rows[:, :, 0], out=row1[a:b])

    split(part, n, x.size)
    return y, col1, row1


def backward_2x2(
    dy: np.ndarray, x_shape: tuple[int, ...], col1: np.ndarray, row1: np.ndarray
) -> np.ndarray:
    """dy (N, H/2, W/2, C) -> dx (N, H, W, C): each dy to its window's winner."""
    n, h, w, c = x_shape
    ho, wo = h // 2, w // 2
    exact = h == 2 * ho and w == 2 * wo
    dx = np.empty(x_shape, dy.dtype) if exact else np.zeros(x_shape, dy.dtype)
    dxr = dx[:, : 2 * ho, : 2 * wo].reshape(n, ho, 2, wo, 2, c) if exact else None

    def part(a, b):
        hit = np.empty(dy[a:b].shape, dtype=bool)
        r1, c1 = row1[a:b], col1[a:b]
        for i in (0, 1):
            row = r1 if i else ~r1
            for j in (0, 1):
                col = c1[:, :, i] if j else ~c1[:, :, i]
                np.logical_and(row, col, out=hit)
                target = dxr[a:b, :, i, :, j] if exact else dx[a:b, i : 2 * ho : 2, j : 2 * wo : 2]
                np.multiply(dy[a:b], hit, out=target)

    split(part, n, dx.size)
    return dx
