"""Where one training step's time goes: pyinstrument over a run of steps, and a per-step
timer of each step of the network's run order.

The network is given by name (``fast-99``: conv 24@5x5, pool, ReLU, conv 32@3x3, pool,
ReLU, dense 256, 10, Adam; ``fast-995``: the fast-995 and fast-996 presets' network,
Nesterov; ``fast-995-before``: their network before issue 28, with a third convolution), built
from layers rather than from the presets so that the same script profiles older versions of
the code (``PYTHONPATH=OLD/src``) for a before/after comparison. Random images and labels, no
augmentation: the engine's step only (forward, loss, backward, optimizer).

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/profile_step.py [--net fast-99] [--batch 256]
        [--steps 40] [--threads 2] [--html FILE]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "18")  # as the CLI does, before NumPy

import numpy as np  # noqa: E402


def network(name: str):
    from digitnet.nn import BatchNorm, Conv2D, Dense, Flatten, MaxPool2D, ReLU

    if name == "fast-99":
        return [
            Conv2D(24, 5),
            MaxPool2D(2),
            ReLU(),
            Conv2D(32, 3),
            MaxPool2D(2),
            ReLU(),
            Flatten(),
            Dense(256),
            ReLU(),
            Dense(10),
        ], "adam"
    if name == "fast-995":  # also fast-996's
        return [
            Conv2D(32, 5, bias=False),
            MaxPool2D(2),
            BatchNorm(),
            ReLU(),
            Conv2D(64, 3, bias=False),
            MaxPool2D(2),
            BatchNorm(),
            ReLU(),
            Flatten(),
            Dense(256, bias=False),
            BatchNorm(),
            ReLU(),
            Dense(10),
        ], "nesterov"
    if name == "fast-995-before":  # the fast-995 and fast-996 network before issue 28
        return [
            Conv2D(32, 5, bias=False),
            MaxPool2D(2),
            BatchNorm(),
            ReLU(),
            Conv2D(64, 3, bias=False),
            BatchNorm(),
            ReLU(),
            Conv2D(64, 3, bias=False),
            MaxPool2D(2),
            BatchNorm(),
            ReLU(),
            Flatten(),
            Dense(256, bias=False),
            BatchNorm(),
            ReLU(),
            Dense(10),
        ], "nesterov"
    raise SystemExit(f"unknown network {name!r}: fast-99, fast-995 or fast-995-before")


def setup(name: str, batch: int):
    from digitnet.nn import Adam, Momentum, Sequential
    from digitnet.nn.losses import softmax_cross_entropy

    layers, opt_name = network(name)
    model = Sequential(layers, (28, 28, 1), np.random.default_rng(0))
    params = list(model.named_parameters())
    if opt_name == "adam":
        opt = Adam(params, 0.01, 0.7, 0.9)
    else:
        opt = Momentum(params, 0.1, 0.9, nesterov=True, weight_decay=5e-4)
    opt.use_flat(*model.flat_buffers())
    rng = np.random.default_rng(1)
    x = rng.random((batch, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, batch)

    def step():
        out = model.forward(x, training=True)
        _, d = softmax_cross_entropy(out, y, 0.1)
        model.backward(d)
        opt.step()

    return model, step, x, y


def per_step(model, x, y, steps: int) -> list[tuple[str, float]]:
    """Median milliseconds of each step of the run order, forward and backward."""
    from digitnet.nn.losses import softmax_cross_entropy

    run = getattr(model, "_run", model.layers)
    times: dict[str, list[float]] = {}

    def clock(key, fn, *a, **k):
        t = time.perf_counter()
        out = fn(*a, **k)
        times.setdefault(key, []).append(time.perf_counter() - t)
        return out

    for _ in range(steps):
        out = x
        for i, layer in enumerate(run):
            out = clock(f"forward {i} {layer.describe()}", layer.forward, out, training=True)
        _, g = softmax_cross_entropy(out.copy(), y, 0.1)
        for i in range(len(run) - 1, -1, -1):
            g = clock(f"backward {i} {run[i].describe()}", run[i].backward, g)
            if g is None:
                break
    return [(k, 1e3 * statistics.median(v)) for k, v in times.items()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--net", default="fast-99")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--html", help="also write pyinstrument's HTML report here")
    args = p.parse_args(argv)
    from pyinstrument import Profiler

    from digitnet.nn.runtime import set_threads

    set_threads(args.threads)
    model, step, x, y = setup(args.net, args.batch)
    for _ in range(3):
        step()
    print(f"load average {os.getloadavg()[0]:.2f}")
    times = []
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for _ in range(args.steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    profiler.stop()
    print(
        f"{args.net}, batch {args.batch}, {args.threads} threads: median step "
        f"{1e3 * statistics.median(times):.1f} ms over {args.steps} steps"
    )
    print(profiler.output_text(unicode=False, color=False, show_all=False))
    if args.html:
        with open(args.html, "w") as f:
            f.write(profiler.output_html())
    print("per step of the run order (median ms):")
    rows = per_step(model, x, y, max(5, args.steps // 2))
    for key, ms in rows:
        print(f"  {key:60s} {ms:7.2f}")
    print(f"  {'total':60s} {sum(ms for _, ms in rows):7.2f}")
    print(f"load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
