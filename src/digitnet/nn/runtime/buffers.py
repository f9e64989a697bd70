"""Scratch arrays a layer keeps from one training step to the next (patch matrices,
padded copies, normalised activations): allocating 10-100 MB afresh every batch costs
page faults that take longer than the arithmetic."""

from __future__ import annotations

import threading
import weakref

import numpy as np


class Buffers:
    """Arrays reused from one training step to the next while their shape stays the same:
    a fresh 100 MB allocation every batch costs page faults, a reused one does not.

    A buffer's content is only valid until the next call that asks for it: layers use them
    for what lives between a forward and the following backward.
    """

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype, *, zeros: str = "never") -> np.ndarray:
        """``zeros``: "never" (uninitialised), "new" (zeroed when allocated), "always"."""
        arr = self._arrays.get(name)
        if arr is None or arr.shape != shape or arr.dtype != dtype:
            arr = np.zeros(shape, dtype) if zeros != "never" else np.empty(shape, dtype)
            self._arrays[name] = arr
        elif zeros == "always":
            arr.fill(0)
        return arr

    def prefix(
        self, name: str, shape: tuple[int, ...], dtype, *, zeros: str = "never"
    ) -> np.ndarray:
        """Like :meth:`get`, but a buffer with more rows (same other axes) is kept and its
        first ``shape[0]`` rows returned: a contiguous view, so batches of different sizes
        share one allocation."""
        arr = self._arrays.get(name)
        if (
            arr is not None
            and arr.dtype == dtype
            and arr.shape[1:] == shape[1:]
            and arr.shape[0] >= shape[0]
        ):
            if zeros == "always":
                arr[: shape[0]].fill(0)
            return arr[: shape[0]]
        return self.get(name, shape, dtype, zeros=zeros)


_thread = threading.local()


def thread_buffers(owner: object) -> Buffers:
    """The scratch arrays of ``owner`` (a layer) for the calling thread, so that threads
    sharing a model never write into each other's buffers (inference from a thread pool);
    they go away with the owner (weak references)."""
    table = getattr(_thread, "table", None)
    if table is None:
        table = _thread.table = weakref.WeakKeyDictionary()
    buf = table.get(owner)
    if buf is None:
        buf = table[owner] = Buffers()
    return buf
