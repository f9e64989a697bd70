"""Which of Conv2D's four input-gradient algorithms is faster, per layer shape.

``Conv2D.backward`` computes dx as one more convolution (``_input_grad_as_conv``: dy
padded, one patch copy, one matrix product), from one patch matrix of dy's rows shared by
the kernel rows (``_input_grad_by_rows``, stride 1), as one product with a banded matrix
built from the kernel (``_input_grad_banded``, stride 1), or per kernel offset
(``_input_grad_per_offset``: kh*kw small matrix products, each added onto a window of dx),
and picks one with a fixed rule (``Conv2D._input_grad_form``). This script times all four
on the shapes of the presets' layers and a few others (batch 128, float32, fastest of N,
alternating) and prints what the rule picks next to what was fastest. All four are tested
against the loop reference in ``tests/test_conv.py``; they differ only in float32
summation order.

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/conv_dx.py [--repeats 10] [--batch 128]
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import numpy as np

from digitnet.nn import Conv2D, Sequential

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
    print("| input | C_in -> C_out | kernel | padding | as conv (ms) | by rows (ms) "
          "| banded (ms) | per offset (ms) | fastest | the rule picks | layer |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for size, c_in, c_out, k, padding, where in SHAPES:
        # a 1x1 convolution first, so that the measured layer computes its input gradient
        model = Sequential([Conv2D(c_in, 1), Conv2D(c_out, k, padding=padding)],
                           (size, size, c_in), rng)
        layer = model.layers[1]
        layer.forward(rng.random((args.batch, size, size, c_in), dtype=np.float32),
                      training=True)
        dy = rng.random((args.batch, *layer.output_shape), dtype=np.float32)
        dy2 = dy.reshape(-1, c_out)
        forms = {"as conv": partial(layer._input_grad_as_conv, dy),
                 "by rows": partial(layer._input_grad_by_rows, dy),
                 "banded": partial(layer._input_grad_banded, dy),
                 "per offset": partial(layer._input_grad_per_offset, dy2)}
        best = dict.fromkeys(forms, float("inf"))
        for _ in range(2):                       # alternate, so that drift hits all
            for name, fn in forms.items():
                best[name] = min(best[name], fastest(fn, args.repeats))
        times = " | ".join(f"{best[name] * 1e3:.2f}" for name in forms)
        print(f"| {size}x{size} | {c_in} -> {c_out} | {k}x{k} | {padding} | {times} | "
              f"{min(best, key=best.get)} | {layer._input_grad_form()} | {where} |", flush=True)


if __name__ == "__main__":
    main()
