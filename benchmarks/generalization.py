"""Does a model read handwriting that is not MNIST's without losing MNIST? One command, one
table (issue 17, part 2).

For each model given (default: the shipped one), in one run:

- MNIST test: plain accuracy on the 10,000 28x28 test images;
- USPS test (2,007 digits of other writers and another scanner, never trained on), read with
  ``recognise(image, single=True)`` in the forms of ``benchmarks/usps.py`` (16x16 as is,
  64x64 tight, 64x64 with a margin, 64x64 tight light on dark), with per-class accuracy and
  the most frequent confusions;
- noise: MNIST test with Gaussian pixel noise of std 0.3 (the report's robustness curve,
  ``digitnet.report.robustness``, all 10,000 test images, seed 0);
- photos: ``benchmarks/photos.py`` (synthetic photos of MNIST test digits and numbers,
  photo seed 0), single digits and 4-6 digit numbers, read by ``digitnet predict``.

Prints a Markdown table with the goals and whether each is met (the README quotes it), then
USPS's per-class accuracy; ``--out FILE`` also writes the whole result as JSON.

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/generalization.py [--model shipped --model NEW.npz]
        [--data-dir DIR] [--usps-dir ../shared/datasets/usps]
        [--photo-singles 10000] [--photo-numbers 1000] [--out result.json]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

USPS_FORMS = ("16x16", "64x64 tight", "64x64 margin", "64x64 tight, light on dark")
#: (row, key, goal, higher is better); the goals of issue 17, part 2
GOALS = [
    ("MNIST test", "mnist", 0.9965),
    *[(f"USPS test, {f}", f"usps:{f}", 0.985) for f in USPS_FORMS],
    ("USPS test, network alone (plain)", "usps:plain", None),
    ("MNIST test, noise std 0.3", "noise", 0.95),
    ("photos: single digits", "photo_singles", 0.9935),
    ("photos: 4-6 digit numbers", "photo_numbers", 0.952),
]


def measure(model_arg: str, args: argparse.Namespace, mnist, usps) -> dict:
    import photos
    import usps as usps_bench

    from digitnet.evaluation.evaluate import evaluate
    from digitnet.modelfile import load_model
    from digitnet.models import load_shipped_checker, load_shipped_model, shipped_model_path
    from digitnet.report.robustness import PERTURBATIONS, robustness_curves

    path = str(shipped_model_path()) if model_arg == "shipped" else model_arg
    model = load_shipped_model() if model_arg == "shipped" else load_model(path)
    out: dict = {"model": model_arg, "preset": model.meta.get("preset"), "seconds": {}}
    t = time.perf_counter()
    out["mnist"] = evaluate(model, mnist.test.images, mnist.test.labels)["accuracy"]

    t, out["seconds"]["mnist"] = time.perf_counter(), time.perf_counter() - t
    images, labels = usps
    usps_result = usps_bench.measure(model, load_shipped_checker(), images, labels)
    out["usps"] = usps_result
    for form, r in usps_result.items():
        out[f"usps:{form}"] = r["accuracy"]

    t, out["seconds"]["usps"] = time.perf_counter(), time.perf_counter() - t
    noise = next(p for p in PERTURBATIONS if p.name == "noise")
    curve = robustness_curves(
        model,
        mnist.test.images,
        mnist.test.labels,
        rng=np.random.default_rng(0),
        perturbations=(dataclasses.replace(noise, levels=(0.3,)),),
    )
    out["noise"] = curve["noise"]["accuracy"][0]

    t, out["seconds"]["noise"] = time.perf_counter(), time.perf_counter() - t
    if args.photo_singles or args.photo_numbers:
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            photos.main(
                [
                    "--model",
                    path,
                    "--singles",
                    str(args.photo_singles),
                    "--numbers",
                    str(args.photo_numbers),
                    "--json",
                    *(["--data-dir", args.data_dir] if args.data_dir else []),
                ]
            )
        report = json.loads(buf.getvalue())
        out["photos"] = report
        for kind in ("singles", "numbers"):
            if kind in report:
                out[f"photo_{kind}"] = report[kind]["accuracy"]
    out["seconds"]["photos"] = time.perf_counter() - t
    return out


def table(results: list[dict]) -> str:
    head = (
        "| measure | goal | "
        + " | ".join(
            f"{r['model']}" + (f" ({r['preset']})" if r["preset"] else "") for r in results
        )
        + " |"
    )
    lines = [head, "|---|---|" + "---|" * len(results)]
    for label, key, goal in GOALS:
        cells = []
        for r in results:
            if key not in r:
                cells.append("-")
                continue
            mark = "" if goal is None else (" met" if r[key] >= goal - 1e-12 else " MISSED")
            cells.append(f"{r[key]:.2%}{mark}")
        lines.append(
            f"| {label} | {'-' if goal is None else f'>= {goal:.2%}'} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


def per_class(results: list[dict]) -> str:
    lines = [
        "",
        "USPS test, 64x64 tight: accuracy per digit and most frequent confusions (true->read)",
        "| model | " + " | ".join(str(d) for d in range(10)) + " | confusions |",
        "|---|" + "---|" * 11,
    ]
    for r in results:
        u = r["usps"]["64x64 tight"]
        lines.append(
            f"| {r['model']} | "
            + " | ".join(f"{a:.1%}" for a in u["per_class"])
            + f" | {', '.join(u['confusions'])} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--model", action="append", help="a model file, or 'shipped' (repeatable; default: shipped)"
    )
    p.add_argument("--data-dir", help="folder with the MNIST files")
    p.add_argument("--usps-dir", default=str(ROOT.parent / "shared" / "datasets" / "usps"))
    p.add_argument("--usps-limit", type=int, help="the first N USPS test digits only")
    p.add_argument("--photo-singles", type=int, default=10000)
    p.add_argument("--photo-numbers", type=int, default=1000)
    p.add_argument("--out", help="also write the results here as JSON")
    args = p.parse_args(argv)

    from digitnet.data import load_mnist
    from digitnet.data.usps import load_usps

    mnist = load_mnist(args.data_dir)
    usps = load_usps(args.usps_dir, "test")
    if args.usps_limit:
        usps = usps[0][: args.usps_limit], usps[1][: args.usps_limit]
    results = []
    for m in args.model or ["shipped"]:
        results.append(measure(m, args, mnist, usps))
        print(
            f"measured {m} in "
            + ", ".join(f"{k} {v:.0f}s" for k, v in results[-1]["seconds"].items()),
            file=sys.stderr,
        )
    print(table(results))
    print(per_class(results))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    raise SystemExit(main())
