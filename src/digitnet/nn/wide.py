"""Per-channel arithmetic on channels-last arrays, done over long rows.

NumPy runs a broadcast or a reduction over (N*H*W, C) as one inner loop of C values per pixel;
with C = 32 the loop overhead dominates. Viewing the same memory as (N*H, W*C) and tiling the
per-channel vector W times gives inner loops of W*C values: the same arithmetic, several times
faster. Used by BatchNorm and by the convolution's bias.
"""

from __future__ import annotations

import numpy as np


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
