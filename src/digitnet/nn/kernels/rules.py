"""The one table of thresholds that choose between the kernels' forms.

Each value was measured on this project's 2-core machines (``benchmarks/conv_dx.py``, the
preset epochs of ``benchmarks/run.py``; the figures are in ``docs/performance.md``).
"""

from __future__ import annotations

#: conv dx: below this many input channels a stride-1 layer computes dx as one banded
#: product (the per-offset products would have too few columns for BLAS: LeNet's 6 -> 16)
DX_FEW_CHANNELS = 16
#: ... but only while the output is narrow, Wo <= this * kW (the banded form does Wo/kW
#: times the arithmetic of a direct form)
DX_BANDED_MAX_WO_PER_KW = 2
#: conv dW: with at least DW_MANY_FILTERS filters and 2..DW_FEW_CHANNELS-1 input channels,
#: dW.T = dy.T @ patches is the faster product (LeNet's 6 -> 16: 1.1 vs 1.9 ms)
DW_MANY_FILTERS = 16
DW_FEW_CHANNELS = 16
#: conv dW with fewer filters than DW_MANY_FILTERS and more than 2 * this many patch rows:
#: summed over blocks of this many rows that stay in cache (LeNet's conv1: 1.25 -> 0.55 ms)
DW_BLOCK_ROWS = 2048
#: 2x2 max-pool forward: below this many channels the left and right columns are moved
#: apart first (C = 6: 1.28 -> 0.57 ms; C >= 16: no gain)
POOL_APART_BELOW = 16
#: conv inference runs in slices of the batch whose patch matrix stays below this many bytes
INFERENCE_COLS_BYTES = 16 << 20
#: a convolution directly followed by a 2x2 / stride-2 max-pool runs as one step with its
#: patch rows in pool order (kernels.conv_pool) when it has at least this many filters: the
#: fast-99 network's layers (24 and 32 filters; its training step 0.85-0.87 of the layers
#: run one by one) and fast-995's first and last (32, 64). Fewer filters were not measured
#: (lenet5's 6 and 16 keep the separate layers and their pool's few-channel column form)
POOL_FUSE_MIN_FILTERS = 24
