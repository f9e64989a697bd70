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
import queue
import threading
from collections.abc import Callable

import digitnet
from digitnet.errors import ConfigError

MIN_ELEMENTS = 65_536          # per part: below this, splitting costs more than it saves
PARTS_PER_THREAD = 4           # parts handed out per thread (see split)

_lock = threading.Lock()
_state = threading.local()     # .inside: this thread is running a share of a split
_jobs: queue.SimpleQueue | None = None     # tasks for the helper threads
_helpers: list[threading.Thread] = []
_cpus: int | None = None       # usable CPUs, asked once


class _Task:
    """One call handed to a helper thread: a lighter ``concurrent.futures.Future``.

    A ``ThreadPoolExecutor`` took ~18 us to hand a task over and its futures wait on
    Python-level conditions; this takes ~14 us and waits on a plain lock. A LeNet-5 step
    makes ~13 splits: its epoch ran 7-8% faster (per-round median ratios 0.928 and 0.920,
    old and new alternating, 10 rounds each).

    Whoever first claims the task runs it -- a helper -- or drops it -- the caller, through
    :meth:`cancel`, when it needs the task no more and no helper has started it yet.
    """

    __slots__ = ("fn", "args", "claims", "finished", "value", "error")

    def __init__(self, fn: Callable[..., object], args: tuple) -> None:
        self.fn, self.args = fn, args
        self.claims = itertools.count()          # next() is atomic under the GIL
        self.finished = threading.Lock()         # held until the task has run
        self.finished.acquire()
        self.value: object = None
        self.error: BaseException | None = None

    def run(self) -> None:
        if next(self.claims):                    # cancelled by the caller
            return
        try:
            self.value = self.fn(*self.args)
        except BaseException as exc:             # re-raised by result(), in the caller
            self.error = exc
        finally:
            self.fn = self.args = None
            self.finished.release()

    def cancel(self) -> bool:
        """Drop the task if no helper has started it; False if one has (wait for it)."""
        return next(self.claims) == 0

    def result(self) -> object:
        """Wait until the task has run; its value, or its exception raised here."""
        with self.finished:
            pass
        if self.error is not None:
            raise self.error
        return self.value


def _help(jobs: queue.SimpleQueue) -> None:
    while True:
        jobs.get().run()


def _submit(fn: Callable[..., object], *args: object) -> _Task:
    """Queue ``fn(*args)`` for the helper threads (started on first use, up to
    ``threads() - 1`` of them, daemons: they never keep the interpreter alive)."""
    global _jobs
    task = _Task(fn, args)
    wanted = threads() - 1
    if len(_helpers) < wanted:
        with _lock:
            if _jobs is None:
                _jobs = queue.SimpleQueue()
            while len(_helpers) < wanted:
                t = threading.Thread(target=_help, args=(_jobs,), daemon=True,
                                     name=f"digitnet-{len(_helpers) + 1}")
                t.start()
                _helpers.append(t)
    _jobs.put(task)
    return task


def _forget_helpers() -> None:
    """In a forked child the helper threads do not exist: start new ones when needed."""
    global _jobs, _lock
    _jobs, _lock = None, threading.Lock()
    _helpers.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_helpers)


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
    global _cpus
    if _cpus is None:
        try:
            _cpus = max(1, len(os.sched_getaffinity(0)))
        except AttributeError:                   # not Linux
            _cpus = max(1, os.cpu_count() or 1)
    return _cpus


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

    tasks = [_submit(drain) for _ in range(k - 1)]
    try:
        drain()
    finally:
        # a helper that has not started yet has nothing left to do: cancel it instead of
        # waiting for it to wake up; wait for the ones that are running their part
        running = [t for t in tasks if not t.cancel()]
        for t in running:
            with t.finished:
                pass
    for t in running:
        t.result()                               # re-raise a helper's exception
