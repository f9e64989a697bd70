"""One forward + backward step of each recipe's convolution layers, digitnet against PyTorch.

For every Conv2D of the given presets (its input shape, filters, kernel, padding and bias,
as the preset builds it) and each batch size, this times one training step of the layer
alone, as the preset's network runs it: forward (training mode), then backward with a fixed
dy (dW, db and, unless the layer is the network's first, dx). A convolution that runs as one
step with the 2x2 max-pool after it (:class:`digitnet.nn.conv.PooledConv2D`) is timed with
its pool, and PyTorch's with ``max_pool2d`` too. PyTorch runs the same layer (``nn.Conv2d``
on NCHW, the input requiring a gradient exactly when digitnet computes dx), same threads.
The two alternate round by round in one process; each round is the median of ``--inner``
steps, the figure the median of ``--rounds`` rounds, and the ratio digitnet / PyTorch the
median of the per-round ratios (so a disturbance of the shared machine hits both sides of a
round).

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/conv_kernels.py [--presets fast-99,fast-995]
        [--batches 128,256] [--rounds 7] [--inner 10] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "18")  # as the CLI does, before NumPy

import numpy as np  # noqa: E402


def conv_layers(preset: str) -> list[dict]:
    """The preset's Conv2D layers as its network runs them: input shape (H, W, C), the
    layer, whether it is the first with parameters, whether its max-pool runs with it."""
    from digitnet.nn import Conv2D
    from digitnet.nn.conv import PooledConv2D
    from digitnet.training import presets

    model, _ = presets.build(preset, 0)
    first_layer = model.layers[model._first_param_layer]
    out = []
    for step in model._run:
        conv = step.conv if isinstance(step, PooledConv2D) else step
        if isinstance(conv, Conv2D):
            out.append(
                {
                    "layer": conv,
                    "first": conv is first_layer,
                    "input": conv.input_shape,
                    "pooled": isinstance(step, PooledConv2D),
                }
            )
    return out


def describe(spec: dict) -> str:
    layer = spec["layer"]
    h, w, c = spec["input"]
    return (
        f"{h}x{w}x{c} -> {layer.describe()}"
        + (" + max-pool 2x2" if spec["pooled"] else "")
        + (" (first)" if spec["first"] else "")
    )


def _median_of(fn, inner: int) -> float:
    times = []
    for _ in range(inner):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def step_pair(spec: dict, batch: int):
    """(digitnet step, torch step) closures for one layer shape."""
    import torch

    from digitnet.nn import Conv2D, MaxPool2D, Sequential

    src = spec["layer"]
    layer = Conv2D(src.filters, src.kernel_size, src.stride, src.padding, src.init, bias=src.bias)
    layers = [layer, MaxPool2D(2)] if spec["pooled"] else [layer]
    model = Sequential(layers, spec["input"], np.random.default_rng(0))
    layer.needs_input_grad = not spec["first"]
    (step,) = model._run  # the layer, or the layer and its pool as one step
    assert type(step).__name__ == ("PooledConv2D" if spec["pooled"] else "Conv2D")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch, *spec["input"]), dtype=np.float32)
    ho, wo, f = step.output_shape
    dy = rng.standard_normal((batch, ho, wo, f), dtype=np.float32)

    def ours():
        step.forward(x, training=True)
        step.backward(dy.copy())

    conv = torch.nn.Conv2d(spec["input"][2], f, src.kernel_size, src.stride, src.pad, bias=src.bias)
    xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).requires_grad_(not spec["first"])
    dyt = torch.from_numpy(dy.transpose(0, 3, 1, 2).copy())

    pool = torch.nn.functional.max_pool2d if spec["pooled"] else (lambda t, k: t)

    def theirs():
        conv.zero_grad(set_to_none=True)
        xt.grad = None
        pool(conv(xt), 2).backward(dyt)

    return ours, theirs


def run(presets: list[str], batches: list[int], rounds: int, inner: int) -> list[dict]:
    rows, seen = [], set()
    for preset in presets:
        for spec in conv_layers(preset):
            key = (describe(spec), spec["input"])
            if key in seen:
                continue
            seen.add(key)
            for batch in batches:
                ours, theirs = step_pair(spec, batch)
                ours(), theirs()  # warm-up: buffers, oneDNN primitives
                a, b, r = [], [], []
                for _ in range(rounds):
                    ta = _median_of(ours, inner)
                    tb = _median_of(theirs, inner)
                    a.append(ta), b.append(tb), r.append(ta / tb)
                rows.append(
                    {
                        "preset": preset,
                        "layer": describe(spec),
                        "batch": batch,
                        "digitnet_ms": 1e3 * statistics.median(a),
                        "torch_ms": 1e3 * statistics.median(b),
                        "ratio": statistics.median(r),
                    }
                )
    return rows


def table(rows: list[dict]) -> str:
    out = [
        "| preset | layer | batch | digitnet ms | PyTorch ms | digitnet / PyTorch |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['preset']} | {r['layer']} | {r['batch']} | {r['digitnet_ms']:.2f} | "
            f"{r['torch_ms']:.2f} | {r['ratio']:.2f} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--presets", default="fast-99,fast-995")
    p.add_argument("--batches", default="128,256")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--inner", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    import torch

    from digitnet.nn.runtime import set_threads

    torch.set_num_threads(args.threads)
    set_threads(args.threads)
    print(f"load average {os.getloadavg()[0]:.2f} at the start", flush=True)
    rows = run(
        args.presets.split(","), [int(b) for b in args.batches.split(",")], args.rounds, args.inner
    )
    print(table(rows))
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
