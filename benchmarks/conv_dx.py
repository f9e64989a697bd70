"""Which registered input-gradient form of Conv2D is faster, per layer shape.

``Conv2D.backward`` computes dx with one of the forms in
``digitnet.nn.kernels.conv_dx.FORMS`` (the loop ``reference`` aside), chosen by
``conv_dx.choose``. This script times every fast form on the shapes of the presets' layers
and a few others (batch 128, float32, fastest of N, alternating) and prints what the rule
picks next to what was fastest. Every form is tested against the loop reference in
``tests/test_conv.py``; they differ only in float32 summation order.

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/conv_dx.py [--repeats 10] [--batch 128]
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import numpy as np

from digitnet.nn import Conv2D, Sequential
from digitnet.nn.kernels import conv_dx
from digitnet.nn.runtime import Buffers

#: (input size, C_in, C_out, kernel, padding, where it occurs)
SHAPES = [
    (12, 32, 64, 3, "valid", "cnn, 2nd conv"),
    (10, 64, 64, 3, "valid", "cnn, 3rd conv"),
    (12, 32, 64, 5, "valid", "cnn-fast, 2nd conv"),
    (14, 6, 16, 5, "valid", "lenet5, 2nd conv"),
    (28, 1, 6, 5, "same", "lenet5, 1st conv (as if it were not first)"),
    (28, 32, 32, 3, "same", ""),
    (14, 32, 64, 3, "same", ""),
    (14, 32, 64, 5, "same", ""),
    (24, 32, 64, 5, "valid", ""),
    (28, 6, 16, 5, "same", ""),
    (28, 3, 8, 3, "same", ""),
    (14, 6, 16, 3, "same", ""),
    (28, 8, 8, 3, "same", ""),
]


def fastest(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--batch", type=int, default=128)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    names = [n for n in conv_dx.FORMS if n != "reference"]
    print(
        "| input | C_in -> C_out | kernel | padding | "
        + " | ".join(f"{n} (ms)" for n in names)
        + " | fastest | the rule picks | layer |"
    )
    print("|---|---|---|---|" + "---|" * len(names) + "---|---|---|")
    for size, c_in, c_out, k, padding, where in SHAPES:
        # a 1x1 convolution first, so that the measured layer computes its input gradient
        model = Sequential(
            [Conv2D(c_in, 1), Conv2D(c_out, k, padding=padding)], (size, size, c_in), rng
        )
        layer = model.layers[1]
        layer.forward(rng.random((args.batch, size, size, c_in), dtype=np.float32), training=True)
        dy = rng.random((args.batch, *layer.output_shape), dtype=np.float32)
        shape = conv_dx.ConvShape(
            (args.batch, size, size, c_in),
            layer.kernel_size,
            layer.stride,
            layer.pad,
            layer.output_shape,
        )
        W = layer.params["W"]
        forms = {
            name: partial(fn, dy, W, shape, Buffers())
            for name, fn in conv_dx.FORMS.items()
            if name != "reference"
        }
        best = dict.fromkeys(forms, float("inf"))
        for _ in range(2):  # alternate, so that drift hits all
            for name, fn in forms.items():
                best[name] = min(best[name], fastest(fn, args.repeats))
        times = " | ".join(f"{best[name] * 1e3:.2f}" for name in forms)
        print(
            f"| {size}x{size} | {c_in} -> {c_out} | {k}x{k} | {padding} | {times} | "
            f"{min(best, key=best.get)} | {conv_dx.choose(shape)} | {where} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
