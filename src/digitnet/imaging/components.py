"""Connected components of a binary image, vectorised over runs of pixels.

The mask is cut into horizontal runs (maximal stretches of ``True`` in a row). Two runs in
neighbouring rows touch, with 8-connectivity, when their column ranges overlap or meet at a
corner; for each run the touching runs of the next row form one contiguous range, found with
two binary searches. The runs are then merged by a vectorised union-find (hook the larger root
onto the smaller, then compress paths by pointer jumping) until every edge joins one component.
Everything is array operations over runs and edges: a few-megapixel photo takes milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Components:
    """The connected components of a mask.

    Attributes
    ----------
    labels : np.ndarray
        ``(H, W)`` int32: 0 for background, ``1..count`` for the components, numbered in the
        raster order of their first pixel.
    count : int
    area : np.ndarray
        ``(count,)`` int64, pixels in each component (index ``k - 1`` for label ``k``).
    top, left, bottom, right : np.ndarray
        ``(count,)`` int64 bounding boxes; ``bottom`` and ``right`` are exclusive.
    """

    labels: np.ndarray
    count: int
    area: np.ndarray
    top: np.ndarray
    left: np.ndarray
    bottom: np.ndarray
    right: np.ndarray


def find_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Horizontal runs of ``True``: ``(rows, starts, ends)``, each ``(R,)`` int64, in raster
    order; ``ends`` are exclusive."""
    h, w = mask.shape
    padded = np.zeros((h, w + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    step = np.diff(padded, axis=1)  # (H, W + 1): +1 at a start, -1 past an end
    rows, starts = np.nonzero(step == 1)
    _, ends = np.nonzero(step == -1)
    return rows.astype(np.int64), starts.astype(np.int64), ends.astype(np.int64)


def run_edges(
    rows: np.ndarray, starts: np.ndarray, ends: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of runs in consecutive rows that touch (8-connectivity): ``(a, b)`` indices.

    Run ``a`` in row r (columns ``[s, e)``) touches run ``b`` in row r + 1 (``[s', e')``) iff
    ``s' <= e`` and ``s <= e'``. Keys ``row * (width + 2) + column`` sort all runs in one array,
    so the touching runs of the next row are ``[lo, hi)`` of that array.
    """
    stride = width + 2
    key_start = rows * stride + starts
    key_end = rows * stride + ends
    below = (rows + 1) * stride
    lo = np.searchsorted(key_end, below + starts, side="left")
    hi = np.searchsorted(key_start, below + ends, side="right")
    count = np.maximum(hi - lo, 0)
    a = np.repeat(np.arange(len(rows)), count)
    first = np.repeat(lo - np.cumsum(count) + count, count)  # lo of each pair's run a
    b = first + np.arange(len(a))
    return a, b


def union_find(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Root of each of ``n`` nodes joined by the edges ``a[i] -- b[i]``; a root is the smallest
    index in its component. ``(n,)`` int64."""
    parent = np.arange(n)
    while len(a):
        ra, rb = parent[a], parent[b]
        keep = ra != rb
        a, b, ra, rb = a[keep], b[keep], ra[keep], rb[keep]
        if not len(a):
            break
        np.minimum.at(parent, np.maximum(ra, rb), np.minimum(ra, rb))  # hook
        while True:  # compress
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
    return parent


def label_components(mask: np.ndarray) -> Components:
    """8-connected components of a boolean mask.

    Parameters
    ----------
    mask : np.ndarray
        ``(H, W)`` bool.

    Returns
    -------
    Components
    """
    mask = np.asarray(mask, dtype=bool)
    h, w = mask.shape
    rows, starts, ends = find_runs(mask)
    roots = union_find(len(rows), *run_edges(rows, starts, ends, w))
    _, comp = np.unique(roots, return_inverse=True)  # (R,) 0-based, raster order
    count = int(comp.max()) + 1 if len(comp) else 0
    # paint: +label at each run start, -label just past its end, then a running sum
    flat = np.zeros(h * w + 1, dtype=np.int32)
    np.add.at(flat, rows * w + starts, comp + 1)
    np.add.at(flat, rows * w + ends, -(comp + 1))
    labels = np.cumsum(flat[:-1], dtype=np.int32).reshape(h, w)
    return Components(
        labels=labels,
        count=count,
        area=_per(np.add, comp, ends - starts, count),
        top=_per(np.minimum, comp, rows, count),
        left=_per(np.minimum, comp, starts, count),
        bottom=_per(np.maximum, comp, rows + 1, count),
        right=_per(np.maximum, comp, ends, count),
    )


def _per(ufunc: np.ufunc, comp: np.ndarray, values: np.ndarray, count: int) -> np.ndarray:
    """Reduce ``values`` per component with ``ufunc`` (add, minimum or maximum)."""
    init = {np.add: 0, np.minimum: np.iinfo(np.int64).max, np.maximum: -1}[ufunc]
    out = np.full(count, init, dtype=np.int64)
    ufunc.at(out, comp, values)
    return out
