"""Element-wise work split over the CPU's cores.

BLAS already runs every matrix product on all cores, but the rest of a training step --
batch normalisation, pooling, ReLU, the patch copies of a convolution -- is NumPy
element-wise work on one core, while the others wait. NumPy releases the GIL inside such
operations, so the same operation on disjoint slices of an array, run from several Python
threads, runs in parallel. Each element is computed by the same operation on the same values
as before: results are bit-for-bit those of the single-threaded code (tested).

Only independent slices are split (batch rows, blocks of rows, columns of a per-column
reduction); anything drawing random numbers stays on the caller's thread.

The number of threads is ``DIGITNET_THREADS`` if set, else the CPUs this process may use;
``1`` turns the splitting off. Work below :data:`MIN_ELEMENTS` per thread runs on the
caller's thread (handing it over costs ~20-50 microseconds).

OpenBLAS's idle threads normally spin for ~0.1 s after each matrix product, so the cores
are never free between products and split work only queues behind them (measured: no gain
on a cnn training step). ``import digitnet`` therefore sets ``OPENBLAS_THREAD_TIMEOUT``
(see :data:`digitnet.OPENBLAS_THREAD_TIMEOUT`) before NumPy loads; if NumPy was imported
first without it, the default here is one thread (``DIGITNET_THREADS`` still decides).
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import digitnet
from digitnet.errors import ConfigError

MIN_ELEMENTS = 65_536          # per part: below this, splitting costs more than it saves
PARTS_PER_THREAD = 4           # parts handed out per thread (see split)

_lock = threading.Lock()
_state = threading.local()     # .inside: this thread is running a share of a split
_pool: ThreadPoolExecutor | None = None
_pool_threads = 0


def threads() -> int:
    """How many threads element-wise work is split over (>= 1)."""
    value = os.environ.get("DIGITNET_THREADS", "").strip()
    if value:
        try:
            n = int(value)
        except ValueError:
            raise ConfigError(f"DIGITNET_THREADS must be a whole number of threads, got "
                              f"{value!r}; unset it to use every CPU") from None
        return max(1, n)
    if not digitnet.BLAS_WAIT_SET:
        return 1
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:                       # not Linux
        return max(1, os.cpu_count() or 1)


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_threads
    with _lock:
        if _pool is None or _pool_threads != workers:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(workers, thread_name_prefix="digitnet")
            _pool_threads = workers
        return _pool


def shares(n: int, elements: int) -> int:
    """Into how many parts to split ``n`` independent items holding ``elements`` values in
    all: 1 when the work is small, when splitting is off, or inside a split already."""
    if n < 2 or elements < 2 * MIN_ELEMENTS or getattr(_state, "inside", False):
        return 1                                 # (cheap checks first: MLP steps call this)
    return max(1, min(threads(), n, elements // MIN_ELEMENTS))


def split(fn: Callable[[int, int], object], n: int, elements: int) -> None:
    """Call ``fn(start, stop)`` on contiguous parts of ``range(n)``, in parallel.

    ``fn`` must only write to the part it is given. ``elements`` (the values the whole
    work touches) decides whether splitting is worth it. The range is cut into up to
    :data:`PARTS_PER_THREAD` parts per thread, which the caller's thread and the pool's
    threads take in turn until none is left: when the host pauses one virtual CPU (as on
    this project's machine), the other thread does the remaining parts instead of waiting
    for half of the work. An exception in any part stops the thread that ran it and is
    raised here once the running parts have returned; parts not yet started are skipped.
    """
    k = shares(n, elements)
    if k == 1:
        fn(0, n)
        return
    parts = max(k, min(n, k * PARTS_PER_THREAD, elements // MIN_ELEMENTS))
    bounds = [n * i // parts for i in range(parts + 1)]
    tickets = itertools.count()                  # next() is atomic under the GIL

    def drain() -> None:
        _state.inside = True
        try:
            while (i := next(tickets)) < parts:
                fn(bounds[i], bounds[i + 1])
        finally:
            _state.inside = False

    pool = _executor(k - 1)
    futures = [pool.submit(drain) for _ in range(k - 1)]
    try:
        drain()
    finally:
        # a helper that has not started yet has nothing left to do: cancel it instead of
        # waiting for it to wake up; wait for the ones that are running their part
        running = [f for f in futures if not f.cancel()]
        for f in running:
            f.exception()
    for f in running:
        f.result()                               # re-raise a worker's exception

