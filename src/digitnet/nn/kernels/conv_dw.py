"""The weight gradient dW of a convolution: the registered forms and the rule between them.

Every form takes the patch matrix ``cols`` (M, K) of the forward pass (M = N*Ho*Wo,
K = kH*kW*C), dy as (M, F), the gradient array ``gw`` (K, F) to overwrite and the layer's
scratch buffers, and writes dW = cols.T @ dy into ``gw``.

- ``one_product``: cols.T @ dy. The cnn preset's layers.
- ``transposed``: dW.T = dy.T @ cols, which OpenBLAS runs faster for few input channels and
  many filters (LeNet's 6 -> 16: 1.1 vs 1.9 ms, two threads).
- ``blocked``: few filters and a long batch axis (LeNet's first layer: 6 filters, 100,352
  rows): summed over blocks of :data:`~rules.DW_BLOCK_ROWS` rows that stay in cache
  (1.25 -> 0.55 ms). Equal to the single product up to float32 rounding.
- ``reference``: float64 sum of outer products, row by row (tests).
"""

from __future__ import annotations

import numpy as np

from digitnet.nn.kernels import rules
from digitnet.nn.runtime import Buffers


def one_product(cols: np.ndarray, dy2: np.ndarray, gw: np.ndarray, buf: Buffers) -> None:
    np.matmul(cols.T, dy2, out=gw)  # (K, M) @ (M, F)


def transposed(cols: np.ndarray, dy2: np.ndarray, gw: np.ndarray, buf: Buffers) -> None:
    np.matmul(dy2.T, cols, out=gw.T)  # (F, M) @ (M, K) into dW.T


def blocked(cols: np.ndarray, dy2: np.ndarray, gw: np.ndarray, buf: Buffers) -> None:
    step, m = rules.DW_BLOCK_ROWS, dy2.shape[0]
    part = buf.get("dwpart", gw.shape, dy2.dtype)
    np.matmul(cols[:step].T, dy2[:step], out=gw)
    for s in range(step, m, step):
        np.matmul(cols[s : s + step].T, dy2[s : s + step], out=part)
        gw += part


def reference(cols: np.ndarray, dy2: np.ndarray, gw: np.ndarray, buf: Buffers) -> None:
    total = np.zeros(gw.shape, np.float64)
    for row, d in zip(cols.astype(np.float64), dy2.astype(np.float64), strict=True):
        total += np.outer(row, d)
    gw[...] = total


FORMS = {
    "reference": reference,
    "one_product": one_product,
    "transposed": transposed,
    "blocked": blocked,
}


def choose(channels: int, filters: int, rows: int) -> str:
    """``transposed`` for many filters on few (2..15) input channels; ``one_product`` for
    many filters or a short batch axis; ``blocked`` for few filters and many rows."""
    if filters >= rules.DW_MANY_FILTERS and 1 < channels < rules.DW_FEW_CHANNELS:
        return "transposed"
    if filters >= rules.DW_MANY_FILTERS or rows <= 2 * rules.DW_BLOCK_ROWS:
        return "one_product"
    return "blocked"
