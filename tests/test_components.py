"""Connected components over runs, against a slow, obvious flood fill."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from digitnet.imaging.components import find_runs, label_components, union_find


def flood_fill_labels(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Reference: breadth-first flood fill, 8-connectivity, labels in raster order."""
    h, w = mask.shape
    labels = np.zeros((h, w), dtype=int)
    count = 0
    for y in range(h):
        for x in range(w):
            if mask[y, x] and not labels[y, x]:
                count += 1
                labels[y, x] = count
                todo = deque([(y, x)])
                while todo:
                    cy, cx = todo.popleft()
                    for dy in (-1, 0, 1):
                        for dx in (-1, 0, 1):
                            ny, nx = cy + dy, cx + dx
                            if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not labels[ny, nx]:
                                labels[ny, nx] = count
                                todo.append((ny, nx))
    return labels, count


@pytest.mark.parametrize("shape", [(1, 1), (1, 40), (40, 1), (23, 37), (64, 64)])
@pytest.mark.parametrize("density", [0.0, 0.2, 0.45, 0.6, 1.0])
def test_matches_flood_fill(shape, density):
    rng = np.random.default_rng(hash((shape, density)) % 2**32)
    mask = rng.random(shape) < density
    comps = label_components(mask)
    ref, count = flood_fill_labels(mask)
    assert comps.count == count
    # both number components in raster order of their first pixel: identical labels
    np.testing.assert_array_equal(comps.labels, ref)
    for k in range(1, count + 1):
        ys, xs = np.nonzero(ref == k)
        assert comps.area[k - 1] == len(ys)
        assert (comps.top[k - 1], comps.bottom[k - 1]) == (ys.min(), ys.max() + 1)
        assert (comps.left[k - 1], comps.right[k - 1]) == (xs.min(), xs.max() + 1)


def test_diagonal_touch_is_connected_but_a_gap_is_not():
    mask = np.zeros((5, 7), dtype=bool)
    mask[0, 0] = mask[1, 1] = mask[2, 2] = True  # a diagonal line: one component
    mask[0, 4] = mask[2, 4] = True  # a one-row gap: two components
    comps = label_components(mask)
    assert comps.count == 3
    assert comps.labels[0, 0] == comps.labels[2, 2] != comps.labels[0, 4] != comps.labels[2, 4]


def test_a_spiral_is_one_component():
    # the worst case for label propagation: one long path winding back on itself
    n = 61
    mask = np.zeros((n, n), dtype=bool)
    for k in range(0, n // 2, 2):
        mask[k, k : n - k] = True
        mask[k : n - k, n - 1 - k] = True
        mask[n - 1 - k, k : n - k] = True
        mask[k + 2 : n - k, k] = True
    ref, count = flood_fill_labels(mask)
    comps = label_components(mask)
    assert comps.count == count
    np.testing.assert_array_equal(comps.labels, ref)


def test_runs_of_a_row():
    rows, starts, ends = find_runs(np.array([[0, 1, 1, 0, 1], [1, 1, 1, 1, 1]], dtype=bool))
    assert rows.tolist() == [0, 0, 1] and starts.tolist() == [1, 4, 0]
    assert ends.tolist() == [3, 5, 5]


def test_union_find_joins_chains():
    roots = union_find(6, np.array([4, 3, 1]), np.array([5, 4, 0]))
    assert roots.tolist() == [0, 0, 2, 3, 3, 3]
