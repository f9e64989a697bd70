"""Per-channel arithmetic on channels-last arrays, done over long rows.

NumPy runs a broadcast or a reduction over (N*H*W, C) as one inner loop of C values per pixel;
with C = 32 the loop overhead dominates. Viewing the same memory as (N*H, W*C) and tiling the
per-channel vector W times gives inner loops of W*C values: the same arithmetic, several times
faster. Used by BatchNorm and by the convolution's bias.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from digitnet.nn.runtime.parallel import split


def wide(x: np.ndarray) -> np.ndarray:
    """A 2-D view with long rows: (N, H, W, C) -> (N*H, W*C); (N, D) stays (N, D).

    Per-channel NumPy operations on (N*H*W, C) run their inner loop over only C values and
    pay the loop overhead once per pixel; over (N*H, W*C) rows they run 5-10 times faster.
    Per-channel vectors are then tiled W times (:func:`tile`) and sums folded back
    (:func:`fold`)."""
    if x.ndim == 2:
        return x
    return x.reshape(-1, x.shape[-2] * x.shape[-1])


def tile(v: np.ndarray, row: int) -> np.ndarray:
    """(C,) -> (row,), the channel vector repeated along a wide row."""
    return np.tile(v, row // v.shape[0]) if row != v.shape[0] else v


def fold(s: np.ndarray, c: int) -> np.ndarray:
    """Per-position sums of a wide row (W*C,) -> per-channel sums (C,)."""
    return s.reshape(-1, c).sum(axis=0) if s.shape[0] != c else s


LONG_ROW = 32_768  # elements per row of :func:`long_rows` (128 KB of float32), at most
BLOCK = 262_144  # elements per block of :func:`row_blocks` (1 MB of float32), about


def long_rows(xw: np.ndarray) -> np.ndarray:
    """A contiguous wide view (R, L) regrouped as (R/k, k*L) with k*L <= ``LONG_ROW``.

    For element-wise per-channel arithmetic only: the same values meet the same (tiled)
    channel vector, so results are bit-for-bit those of the (R, L) view, yet each NumPy inner
    loop runs over k times more values (``BatchNorm``'s element-wise passes on LeNet's and
    the cnn preset's first layer take about half the time). Reductions keep the (R, L) view:
    regrouping rows would change the order of their sums."""
    r, length = xw.shape
    k = min(r, max(1, LONG_ROW // max(length, 1)))
    while r % k:
        k -= 1
    return xw.reshape(r // k, k * length)


def row_blocks(start: int, stop: int, row_len: int) -> list[slice]:
    """Slices of about ``BLOCK`` elements over rows ``start:stop``: a chain of element-wise
    steps applied block by block works on data still in cache instead of streaming the
    whole array through memory once per step."""
    step = max(1, BLOCK // max(row_len, 1))
    return [slice(s, min(s + step, stop)) for s in range(start, stop, step)]


def blockwise(fn: Callable[[slice], object], rows: int, row_len: int) -> None:
    """``fn(rows_slice)`` for every block of :func:`row_blocks`, the rows split over threads
    (:func:`digitnet.nn.runtime.parallel.split`)."""

    def part(a: int, b: int) -> None:
        for blk in row_blocks(a, b, row_len):
            fn(blk)

    split(part, rows, rows * row_len)
