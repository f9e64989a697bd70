"""Teaching the shipped model USPS's handwriting with `digitnet adapt`: 1, 5 and 10 samples per
digit from USPS train (never test), then USPS test and MNIST test accuracy, and the time.

The samples are written as an ImageFolder of 16x16 PNGs (dark ink on white, as scanned)
and adapted through the command line, exactly as a user would. USPS test is read as 16x16
PNGs through the same preprocessing (``to_mnist``) with the model alone (no checker).

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/adapt.py --data-dir DIR [--usps-dir ../shared/datasets/usps]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("DIGITNET_DATA_DIR"))
    parser.add_argument("--usps-dir", default=str(ROOT.parent / "shared" / "datasets" / "usps"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from digitnet.apps.cli import main as digitnet
    from digitnet.data import load_mnist
    from digitnet.data.usps import load_usps
    from digitnet.evaluation.evaluate import predict_proba
    from digitnet.imaging.images import to_mnist
    from digitnet.modelfile import load_model
    from digitnet.models import load_shipped_model

    mnist = load_mnist(args.data_dir)
    x_test, y_test = load_usps(args.usps_dir, "test")
    x_train, y_train = load_usps(args.usps_dir, "train")
    test_inputs = np.stack([to_mnist(255 - d) for d in x_test])

    def scores(model) -> tuple[float, float]:
        usps = (predict_proba(model, test_inputs).argmax(1) == y_test).mean()
        plain = (predict_proba(model, mnist.test.images).argmax(1) == mnist.test.labels).mean()
        return float(usps), float(plain)

    rows = [("shipped model", *scores(load_shipped_model()), 0.0)]
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as folder:
        for k in (1, 5, 10):
            samples = Path(folder) / f"k{k}"
            for d in range(10):
                (samples / str(d)).mkdir(parents=True)
                for n, i in enumerate(rng.choice(np.flatnonzero(y_train == d), k, replace=False)):
                    Image.fromarray(255 - x_train[i]).save(samples / str(d) / f"{n}.png")
            out = Path(folder) / f"k{k}.npz"
            start = time.perf_counter()
            code = digitnet(
                ["adapt", str(samples), "--out", str(out), "--data-dir", args.data_dir, "--quiet"]
            )
            seconds = time.perf_counter() - start
            assert code == 0
            rows.append(
                (f"adapted, {k} per digit ({10 * k} samples)", *scores(load_model(out)), seconds)
            )
    print("| model | USPS test | MNIST test | adapt seconds |")
    print("|---|---|---|---|")
    for name, usps, plain, seconds in rows:
        print(f"| {name} | {usps:.2%} | {plain:.2%} | {seconds:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
