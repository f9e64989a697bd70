"""Element-wise work split over threads (digitnet.nn.runtime.parallel): bit-identical results."""

from __future__ import annotations

import copy
import os
import signal
import threading
import time

import numpy as np
import pytest

from digitnet.errors import ConfigError
from digitnet.nn import BatchNorm, Conv2D, MaxPool2D, ReLU
from digitnet.nn.conv import PooledConv2D
from digitnet.nn.kernels import rows as wide
from digitnet.nn.kernels.rows import LONG_ROW, long_rows, row_blocks
from digitnet.nn.runtime import parallel


@pytest.fixture
def split_everything(monkeypatch):
    """Split even the smallest work three ways."""
    monkeypatch.setenv("DIGITNET_THREADS", "3")
    monkeypatch.setattr(parallel, "MIN_ELEMENTS", 1)


def test_split_covers_every_index_once_on_several_threads(split_everything):
    seen, lock, met = [], threading.Lock(), set()
    barrier = threading.Barrier(3)

    def fn(a, b):
        name = threading.current_thread().name
        if name not in met:  # each thread's first part waits for the others:
            met.add(name)  # fails (times out) unless 3 threads take parts
            barrier.wait(timeout=10)
        with lock:
            seen.append((a, b))

    parallel.split(fn, 10, 10)
    seen.sort()
    assert seen[0][0] == 0 and seen[-1][1] == 10 and len(seen) == 10
    assert all(seen[i][1] == seen[i + 1][0] for i in range(9))  # contiguous, no overlap
    assert len(met) == 3


def test_a_paused_thread_leaves_its_share_to_the_others(split_everything):
    """Parts are handed out in turn: if one thread is slow, the others do the rest."""
    seen, lock = [], threading.Lock()

    def fn(a, b):
        if threading.current_thread().name.startswith("digitnet"):
            time.sleep(0.3)  # a pool thread stalls on its first part
        with lock:
            seen.append((a, b, threading.current_thread().name))

    assert parallel.threads() == 3
    parallel.split(fn, 12, 12)
    caller = threading.current_thread().name
    assert sorted(a for a, _, _ in seen) == list(range(12))
    assert sum(name == caller for _, _, name in seen) >= 8  # the caller took most parts


def test_split_runs_serially_when_small_or_off_or_nested(monkeypatch):
    calls = []
    parallel.split(lambda a, b: calls.append((a, b)), 10, 100)  # far below MIN_ELEMENTS
    assert calls == [(0, 10)]
    monkeypatch.setenv("DIGITNET_THREADS", "1")
    monkeypatch.setattr(parallel, "MIN_ELEMENTS", 1)
    calls.clear()
    parallel.split(lambda a, b: calls.append((a, b)), 10, 10)
    assert calls == [(0, 10)]
    monkeypatch.setenv("DIGITNET_THREADS", "2")
    inner = []

    def outer(a, b):
        parallel.split(lambda c, d: inner.append((c, d)), 4, 4)  # inside a part: serial

    parallel.split(outer, 2, 2)
    assert sorted(inner) == [(0, 4), (0, 4)]


def test_split_raises_an_exception_from_any_part(split_everything):
    done = []

    def fn(a, b):
        if a > 0:
            raise RuntimeError(f"part {a}")
        done.append(a)

    with pytest.raises(RuntimeError, match="part"):
        parallel.split(fn, 9, 9)
    assert done == [0]


def test_bad_thread_count_is_a_clear_error(monkeypatch):
    """The engine raises ValueError (it imports nothing of digitnet); the CLI turns it into
    a ConfigError, one line and exit status 1."""
    from digitnet.apps.cli import configure_runtime

    monkeypatch.setenv("DIGITNET_THREADS", "two")
    with pytest.raises(ValueError, match="DIGITNET_THREADS must be a whole number"):
        parallel.threads()
    with pytest.raises(ConfigError, match="DIGITNET_THREADS must be a whole number"):
        configure_runtime()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_split_works_in_a_forked_child(split_everything):
    """The parent's pool threads do not exist in a fork; split must still finish there."""
    parallel.split(lambda a, b: None, 6, 6)  # the parent has a pool now
    pid = os.fork()
    if pid == 0:  # child: 10 s to finish
        signal.alarm(10)
        out = np.zeros(6)
        parallel.split(lambda a, b: out.__setitem__(slice(a, b), 1), 6, 6)
        os._exit(0 if out.sum() == 6 else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_long_rows_regroup_whole_rows_into_a_view():
    x = np.arange(3072 * 768, dtype=np.float32).reshape(3072, 768)
    v = long_rows(x)
    assert np.shares_memory(v, x) and v.shape[1] % 768 == 0 and v.shape[1] <= LONG_ROW
    assert v.shape == (96, 24576)
    assert long_rows(np.zeros((7, 5))).shape == (1, 35)  # 7 is prime: all rows
    assert long_rows(np.zeros((3, 40000))).shape == (3, 40000)  # already long
    blocks = row_blocks(3, 20, 1000)
    assert blocks[0].start == 3 and blocks[-1].stop == 20
    assert sum(b.stop - b.start for b in blocks) == 17


def _run(layer, x, dy, training=True):
    y = layer.forward(x.copy(), training=training)
    dx = layer.backward(dy.copy()) if training else None
    return y, dx


def _layers():
    rng = np.random.default_rng(0)
    cases = [
        (Conv2D(4, 3, padding="same"), (5, 7, 7, 1)),  # one channel: slab im2col
        (Conv2D(6, 3, dw_form="blocked"), (40, 9, 9, 1)),  # dW in blocks
        (Conv2D(6, 5, padding="same"), (5, 9, 9, 3)),  # few channels: dx banded
        (Conv2D(4, 3, padding="same", dx_form="banded"), (5, 12, 12, 3)),  # banded, wide
        (Conv2D(20, 3, padding="same"), (4, 6, 6, 20)),  # dx per offset, same
        (Conv2D(5, 3, stride=2, padding=1), (4, 9, 9, 17)),  # dx per offset, stride 2
        (Conv2D(8, 3), (6, 8, 8, 16)),  # dx per offset, valid
        (MaxPool2D(2), (5, 8, 8, 3)),
        (MaxPool2D(2), (5, 9, 7, 3)),  # odd sizes: borders dropped
        (BatchNorm(), (6, 5, 4, 3)),
        (BatchNorm(), (7, 11)),
        (ReLU(), (5, 6, 6, 2)),
        ((Conv2D(6, 3), MaxPool2D(2)), (5, 10, 10, 1)),  # conv + pool as one step, slabs
        ((Conv2D(5, 3, padding=1), MaxPool2D(2)), (4, 8, 6, 3)),  # ... patches, with dx
    ]
    for layer, shape in cases:
        if isinstance(layer, tuple):  # a convolution and its pool, run as one step
            conv, pool = layer
            conv.build(shape[1:], np.random.default_rng(1))
            pool.build(conv.output_shape, np.random.default_rng(1))
            layer = PooledConv2D(conv, pool)
            layer.conv.needs_input_grad = True
        else:
            layer.build(shape[1:], np.random.default_rng(1))
            layer.needs_input_grad = True
        for p in getattr(layer, "conv", layer).params.values():  # BatchNorm: not 1 and 0
            p[...] = rng.standard_normal(p.shape)
        x = rng.standard_normal(shape).astype(np.float32)
        if isinstance(layer, (MaxPool2D, PooledConv2D)):
            x = np.round(x, 1)  # ties, to test their rule
        y = layer.forward(x.copy(), training=True)
        dy = rng.standard_normal(y.shape).astype(np.float32)
        yield layer, x, dy


@pytest.mark.parametrize("index", range(len(list(_layers()))))
def test_layers_give_the_same_bits_split_or_not(monkeypatch, index):
    layer, x, dy = list(_layers())[index]
    twin = copy.deepcopy(layer)
    monkeypatch.setenv("DIGITNET_THREADS", "1")
    one = _run(layer, x, dy) + _run(layer, x, dy, training=False)[:1]
    monkeypatch.setenv("DIGITNET_THREADS", "3")
    monkeypatch.setattr(parallel, "MIN_ELEMENTS", 1)
    monkeypatch.setattr(wide, "LONG_ROW", 12)  # many rows and blocks to split
    monkeypatch.setattr(wide, "BLOCK", 24)
    three = _run(twin, x, dy) + _run(twin, x, dy, training=False)[:1]
    for a, b in zip(one, three, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    grads, twin_grads = getattr(layer, "conv", layer).grads, getattr(twin, "conv", twin).grads
    for k, g in grads.items():
        assert np.array_equal(g, twin_grads[k])
    for k, buf in getattr(layer, "buffers", {}).items():
        assert np.array_equal(buf, twin.buffers[k])


def test_thread_count_is_configured_explicitly(monkeypatch):
    """set_threads wins, then DIGITNET_THREADS; by default one thread unless OpenBLAS's
    threads wait only briefly (OPENBLAS_THREAD_TIMEOUT set): splitting would otherwise only
    queue behind OpenBLAS's spinning threads."""
    monkeypatch.delenv("DIGITNET_THREADS", raising=False)
    monkeypatch.delenv("OPENBLAS_THREAD_TIMEOUT", raising=False)
    monkeypatch.setattr(parallel, "_configured", None)
    assert parallel.threads() == 1
    monkeypatch.setenv("OPENBLAS_THREAD_TIMEOUT", "18")
    assert parallel.threads() == parallel.usable_cpus()
    monkeypatch.setenv("DIGITNET_THREADS", "2")  # the user's choice wins
    assert parallel.threads() == 2
    parallel.set_threads(3)  # an explicit call wins
    assert parallel.threads() == 3
    parallel.set_threads(None)
    assert parallel.threads() == 2
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="threads must be a whole number"):
            parallel.set_threads(bad)


def test_importing_digitnet_changes_nothing_and_the_cli_sets_the_openblas_wait():
    import subprocess
    import sys

    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OPENBLAS_THREAD_TIMEOUT", "DIGITNET_THREADS")
    }
    code = (
        "import os, digitnet, digitnet.nn, digitnet.reading, digitnet.apps.cli; "
        "print('OPENBLAS_THREAD_TIMEOUT' in os.environ)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["False"]
    code = (
        "import os; from digitnet.apps import cli; cli.configure_runtime(); "
        "from digitnet.nn.runtime import threads; "
        "print(os.environ['OPENBLAS_THREAD_TIMEOUT'], "
        "threads() == len(os.sched_getaffinity(0)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["18", "True"]
