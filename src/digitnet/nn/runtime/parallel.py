"""Element-wise work split over the CPU's cores.

BLAS already runs every matrix product on all cores, but the rest of a training step --
batch normalisation, pooling, ReLU, the patch copies of a convolution -- is NumPy
element-wise work on one core, while the others wait. NumPy releases the GIL inside such
operations, so the same operation on disjoint slices of an array, run from several Python
threads, runs in parallel. Each element is computed by the same operation on the same values
as before: results are bit-for-bit those of the single-threaded code (tested).

Only independent slices are split (batch rows, blocks of rows, columns of a per-column
reduction); anything drawing random numbers stays on the caller's thread.

Configured explicitly, never on import: :func:`set_threads` (the CLI calls it with
``DIGITNET_THREADS``), else ``DIGITNET_THREADS`` if set, else the CPUs this process may use
when OpenBLAS's threads wait only briefly after a product (``OPENBLAS_THREAD_TIMEOUT`` in the
environment: :data:`digitnet.nn.runtime.BLAS_THREAD_TIMEOUT` is the value the CLI sets
before NumPy loads), else 1. The one thing importing this module does is register a fork
hook, so that a forked child (read-all's workers) starts its own helper threads instead of
waiting on its parent's, which do not exist in it. With OpenBLAS's default ~0.1 s spin
after each product the cores are never free between products and split work only queues
behind them (measured: no gain on a cnn step). ``1`` turns the splitting off. Work below
:data:`MIN_ELEMENTS` per thread runs on the caller's thread (handing it over costs ~20-50
microseconds).

The pool is a small one of its own rather than ``concurrent.futures``: a
``ThreadPoolExecutor`` took ~18 us to hand a task over against ~14 us here, and a LeNet-5
step makes ~13 splits: its epoch ran 7-8% faster (per-round median ratios 0.928 and 0.920,
10 rounds each), above the 5% a form must earn. Its correctness does not rest on the GIL:
every shared counter is taken under a lock, so it is also right on free-threaded Python.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable

MIN_ELEMENTS = 65_536  # per part: below this, splitting costs more than it saves
PARTS_PER_THREAD = 4  # parts handed out per thread (see split)

_lock = threading.Lock()
_state = threading.local()  # .inside: this thread is running a share of a split
_jobs: queue.SimpleQueue | None = None  # tasks for the helper threads
_helpers: list[threading.Thread] = []
_cpus: int | None = None  # usable CPUs, asked once
_configured: int | None = None  # set_threads()


class _Counter:
    """``next()`` handing out 0, 1, 2, ... to any number of threads, under a lock (an
    ``itertools.count`` is only atomic under the GIL)."""

    __slots__ = ("_n", "_lock")

    def __init__(self) -> None:
        self._n = 0
        self._lock = threading.Lock()

    def __next__(self) -> int:
        with self._lock:
            n = self._n
            self._n = n + 1
        return n


class _Task:
    """One call handed to a helper thread: a lighter ``concurrent.futures.Future``.

    Whoever first claims the task runs it -- a helper -- or drops it -- the caller, through
    :meth:`cancel`, when it needs the task no more and no helper has started it yet.
    """

    __slots__ = ("fn", "args", "claimed", "finished", "error")

    def __init__(self, fn: Callable[..., object], args: tuple) -> None:
        self.fn, self.args = fn, args
        self.claimed = threading.Lock()  # acquired once: by the runner or canceller
        self.finished = threading.Lock()  # held until the task has run
        self.finished.acquire()
        self.error: BaseException | None = None

    def run(self) -> None:
        if not self.claimed.acquire(blocking=False):  # cancelled by the caller
            return
        try:
            self.fn(*self.args)
        except BaseException as exc:  # re-raised by result(), in the caller
            self.error = exc
        finally:
            self.fn = self.args = None  # type: ignore[assignment]  # free them early
            self.finished.release()

    def cancel(self) -> bool:
        """Drop the task if no helper has started it; False if one has (wait for it)."""
        return self.claimed.acquire(blocking=False)

    def result(self) -> None:
        """Wait until the task has run; its exception, if any, raised here."""
        with self.finished:
            pass
        if self.error is not None:
            raise self.error


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
                t = threading.Thread(
                    target=_help, args=(_jobs,), daemon=True, name=f"digitnet-{len(_helpers) + 1}"
                )
                t.start()
                _helpers.append(t)
    assert _jobs is not None  # threads() > 1 whenever work is split
    _jobs.put(task)
    return task


def _forget_helpers() -> None:
    """In a forked child the helper threads do not exist: start new ones when needed."""
    global _jobs, _lock
    _jobs, _lock = None, threading.Lock()
    _helpers.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_helpers)


def set_threads(n: int | None) -> None:
    """Split element-wise work over ``n`` threads (1 = off); ``None``: back to the default
    (``DIGITNET_THREADS``, else the usable CPUs when ``OPENBLAS_THREAD_TIMEOUT`` is set, else
    1)."""
    global _configured
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"threads must be a whole number >= 1, got {n!r}")
    _configured = n


def parse_threads(value: str) -> int:
    """``DIGITNET_THREADS``'s text -> a thread count (>= 1); ValueError saying what to do."""
    try:
        return max(1, int(value))
    except ValueError:
        raise ValueError(
            f"DIGITNET_THREADS must be a whole number of threads, got "
            f"{value!r}; unset it to use every CPU"
        ) from None


def usable_cpus() -> int:
    """The CPUs this process may run on (asked once per process)."""
    global _cpus
    if _cpus is None:
        try:
            _cpus = max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not Linux
            _cpus = max(1, os.cpu_count() or 1)
    return _cpus


def threads() -> int:
    """How many threads element-wise work is split over (>= 1)."""
    if _configured is not None:
        return _configured
    value = os.environ.get("DIGITNET_THREADS", "").strip()
    if value:
        return parse_threads(value)
    if "OPENBLAS_THREAD_TIMEOUT" not in os.environ:
        return 1  # OpenBLAS spins: splitting only contends
    return usable_cpus()


def shares(n: int, elements: int) -> int:
    """Into how many parts to split ``n`` independent items holding ``elements`` values in
    all: 1 when the work is small, when splitting is off, or inside a split already."""
    if n < 2 or elements < 2 * MIN_ELEMENTS or getattr(_state, "inside", False):
        return 1  # (cheap checks first: MLP steps call this)
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
    tickets = _Counter()

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
        t.result()  # re-raise a helper's exception
