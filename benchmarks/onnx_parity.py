"""The exported ONNX graph against digitnet itself: same readings, same probabilities, speed.

Exports a model (default: the shipped one) with ``digitnet.interop.to_onnx`` and runs both on
the MNIST test set: how many of the 10,000 test digits get the same label, the largest
difference between the probabilities, each one's accuracy, and images per second at batch
1000 for each (median of ``--repeats`` passes, same threads).

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/onnx_parity.py --data-dir DIR [--model MODEL.npz] \\
        [--input-type uint8] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("DIGITNET_DATA_DIR"))
    parser.add_argument("--model", help="a model file (default: the shipped model)")
    parser.add_argument("--input-type", choices=("float", "uint8"), default="uint8")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    import onnxruntime as ort

    from digitnet.data import load_mnist
    from digitnet.evaluation.evaluate import predict_proba
    from digitnet.interop import to_onnx
    from digitnet.modelfile import load_model
    from digitnet.models import shipped_model_path

    test = load_mnist(args.data_dir).test
    model = load_model(args.model or shipped_model_path())
    session = ort.InferenceSession(
        to_onnx(model, input_type=args.input_type).SerializeToString(),
        providers=["CPUExecutionProvider"],
    )
    x = test.images if args.input_type == "uint8" else test.images / np.float32(255)

    def ours() -> np.ndarray:
        return predict_proba(model, test.images, batch_size=1000)

    def theirs() -> np.ndarray:
        return np.concatenate(
            [
                session.run(["probabilities"], {"pixels": x[i : i + 1000]})[0]
                for i in range(0, len(x), 1000)
            ]
        )

    times: dict[str, list[float]] = {"digitnet": [], "onnxruntime": []}
    for _ in range(args.repeats):  # alternate, so load hits both alike
        for name, fn in (("digitnet", ours), ("onnxruntime", theirs)):
            start = time.perf_counter()
            out = fn()
            times[name].append(time.perf_counter() - start)
            if name == "digitnet":
                a = out
            else:
                b = out
    labels = np.asarray(test.labels)
    n = len(labels)
    print(f"model: {args.model or 'shipped'}; input {args.input_type}; {n:,} MNIST test digits")
    print(f"same label: {int((a.argmax(1) == b.argmax(1)).sum()):,} / {n:,}")
    print(f"largest probability difference: {float(np.abs(a - b).max()):.2g}")
    print(
        f"accuracy: digitnet {(a.argmax(1) == labels).mean():.4f}, onnxruntime "
        f"{(b.argmax(1) == labels).mean():.4f}"
    )
    rate = {k: n / float(np.median(v)) for k, v in times.items()}
    print(
        f"images/s at batch 1000 (median of {args.repeats}): digitnet "
        f"{rate['digitnet']:,.0f}, onnxruntime {rate['onnxruntime']:,.0f} "
        f"(onnxruntime / digitnet {rate['onnxruntime'] / rate['digitnet']:.2f}x)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
