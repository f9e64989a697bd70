"""Accuracy of ``digitnet predict`` on synthetic photos of MNIST digits and numbers.

Renders MNIST digits as photos of dark ink on paper (``digitnet.data.photos``: random size,
pen width, rotation, position on a larger sheet, paper tint and texture, uneven lighting,
blur, noise, JPEG), writes them as JPEG files and runs ``digitnet predict --json`` on them,
in this process, exactly as a user would on the command line. Prints:

- the model's plain accuracy on the split's 28x28 images;
- single digits: the fraction of photos read as exactly the right digit (a photo read as
  two digits, or failing, counts as wrong);
- numbers of 4 to 6 digits composed from the split's digits with gaps of 1-8 px, or (15% of
  gaps) -1 or 0 px so that some digits touch: the fraction read exactly right.

Each photo is drawn from its own generator seeded with ``(seed, kind, index)``, so
``--offset``/``--singles`` ranges reproduce the same photos as a full run.

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/photos.py [--model MODEL.npz] \\
        [--data-dir DIR] [--split test] [--singles 10000] [--numbers 1000] [--seed 0]
        [--offset 0] [--keep DIR] [--explain-failures DIR] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from digitnet.apps.cli import main as digitnet_main
from digitnet.data import load_mnist
from digitnet.data.photos import compose_number, jpeg_bytes, render_photo
from digitnet.errors import DigitnetError
from digitnet.evaluation.evaluate import evaluate
from digitnet.modelfile import load_model
from digitnet.models import shipped_model_path

SINGLE, NUMBER = 0, 1


def write_singles(
    folder: Path, images: np.ndarray, labels: np.ndarray, indices: range, seed: int
) -> list[tuple[Path, str]]:
    """One JPEG photo per digit: ``(path, expected answer)`` pairs."""
    out = []
    for i in indices:
        rng = np.random.default_rng([seed, SINGLE, i])
        path = folder / f"digit-{i:05d}.jpg"
        path.write_bytes(jpeg_bytes(render_photo(images[i], rng), rng))
        out.append((path, str(labels[i])))
    return out


def write_numbers(
    folder: Path, images: np.ndarray, labels: np.ndarray, indices: range, seed: int
) -> tuple[list[tuple[Path, str]], np.ndarray, np.ndarray]:
    """One JPEG photo per number of 4-6 random digits of the split; also returns, per
    number, whether two of its digits touch, and the digits' indices in the split."""
    out, touching, picks = [], [], []
    for j in indices:
        rng = np.random.default_rng([seed, NUMBER, j])
        pick = rng.choice(len(labels), size=int(rng.integers(4, 7)), replace=False)
        strip, touches = compose_number(images[pick], rng)
        touching.append(touches > 0)
        picks.append(pick)
        path = folder / f"number-{j:05d}.jpg"
        path.write_bytes(jpeg_bytes(render_photo(strip, rng), rng))
        out.append((path, "".join(str(d) for d in labels[pick])))
    return out, np.array(touching), picks


def run_predict(model: str, items: list[tuple[Path, str]], extra: list[str]) -> list[dict]:
    """``digitnet predict --json`` on the files, in-process; the parsed JSON list."""
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        digitnet_main(["predict", "--model", model, "--json", *extra, *[str(p) for p, _ in items]])
    return json.loads(stdout.getvalue())


def score(items: list[tuple[Path, str]], results: list[dict]) -> dict:
    """Exact-answer accuracy, plus counts of failed images and wrong digit counts."""
    right = sum(r["prediction"] == want for (_, want), r in zip(items, results, strict=True))
    failed = sum(r["prediction"] is None for r in results)
    miscount = sum(
        r["prediction"] is not None and len(r["prediction"]) != len(want)
        for (_, want), r in zip(items, results, strict=True)
    )
    return {
        "total": len(items),
        "correct": right,
        "accuracy": right / max(len(items), 1),
        "failed": failed,
        "wrong_digit_count": miscount,
    }


def number_breakdown(
    model,
    images: np.ndarray,
    labels: np.ndarray,
    items: list,
    results: list[dict],
    touching: np.ndarray,
    picks: list,
) -> dict:
    """Numbers with and without touching digits, and the model's score on the same numbers
    as clean 28x28 digits (every digit right): the ceiling of the photo score."""
    from digitnet.evaluation.evaluate import predict_proba

    right = np.array([r["prediction"] == w for (_, w), r in zip(items, results, strict=True)])
    clean = predict_proba(model, images[np.concatenate(picks)]).argmax(axis=1)
    ok = clean == labels[np.concatenate(picks)]
    bounds = np.cumsum([0] + [len(p) for p in picks])
    all_ok = np.array([ok[a:b].all() for a, b in zip(bounds[:-1], bounds[1:], strict=True)])
    return {
        "with_touching_digits": int(touching.sum()),
        "accuracy_touching": float(right[touching].mean()) if touching.any() else None,
        "accuracy_not_touching": float(right[~touching].mean()),
        "clean_digits_all_right": float(all_ok.mean()),
    }


def explain_failures(
    model: str, items: list[tuple[Path, str]], results: list[dict], folder: str, extra: list[str]
) -> None:
    bad = [(p, w) for (p, w), r in zip(items, results, strict=True) if r["prediction"] != w]
    if bad:
        with contextlib.redirect_stdout(io.StringIO()):
            digitnet_main(
                [
                    "predict",
                    "--model",
                    model,
                    "--explain",
                    folder,
                    *extra,
                    *[str(p) for p, _ in bad],
                ]
            )
        for p, want in bad:
            print(f"  {p.name}: expected {want}", file=sys.stderr)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", help="the model file to measure (default: the shipped model)")
    p.add_argument("--data-dir", help="folder with the MNIST files")
    p.add_argument(
        "--split",
        choices=("test", "val", "train"),
        default="test",
        help="where the digits come from (default test; tune on train)",
    )
    p.add_argument("--singles", type=int, default=10000, help="single-digit photos")
    p.add_argument("--numbers", type=int, default=1000, help="photos of 4-6 digit numbers")
    p.add_argument("--offset", type=int, default=0, help="first photo index")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep", help="write the photos here instead of a temporary folder")
    p.add_argument(
        "--explain-failures",
        metavar="DIR",
        help="write --explain pictures of the misread photos into DIR",
    )
    p.add_argument("--predict-args", default="", help="extra `digitnet predict` arguments")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.model is None:
        args.model = str(shipped_model_path())
    model = load_model(args.model)
    split = getattr(load_mnist(args.data_dir), args.split)
    images, labels = split.images, split.labels
    extra = args.predict_args.split()
    report = {
        "model": args.model,
        "split": args.split,
        "seed": args.seed,
        "plain_accuracy": evaluate(model, images, labels)["accuracy"],
    }
    with contextlib.ExitStack() as stack:
        folder = (
            Path(args.keep)
            if args.keep
            else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="digitnet-photos-")))
        )
        folder.mkdir(parents=True, exist_ok=True)
        stop = min(args.offset + args.singles, len(labels))
        for kind, count in (("singles", args.singles), ("numbers", args.numbers)):
            if count <= 0:
                continue
            t0 = time.perf_counter()
            if kind == "singles":
                items = write_singles(folder, images, labels, range(args.offset, stop), args.seed)
            else:
                rng_range = range(args.offset, args.offset + count)
                items, touching, picks = write_numbers(folder, images, labels, rng_range, args.seed)
            t1 = time.perf_counter()
            results = run_predict(args.model, items, extra)
            t2 = time.perf_counter()
            report[kind] = {
                **score(items, results),
                "render_seconds": round(t1 - t0, 1),
                "predict_seconds": round(t2 - t1, 1),
            }
            if kind == "numbers":
                report[kind].update(
                    number_breakdown(model, images, labels, items, results, touching, picks)
                )
            if args.explain_failures:
                explain_failures(args.model, items, results, args.explain_failures, extra)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def format_report(r: dict) -> str:
    lines = [
        f"model {r['model']}, MNIST {r['split']} digits, seed {r['seed']}",
        f"plain {r['split']} accuracy (28x28 images): {r['plain_accuracy']:.2%}",
    ]
    if "singles" in r:
        s = r["singles"]
        lines.append(
            f"single-digit photos: {s['accuracy']:.2%} ({s['correct']} / {s['total']}; "
            f"{s['failed']} failed, {s['wrong_digit_count']} read as several digits; "
            f"render {s['render_seconds']}s, predict {s['predict_seconds']}s)"
        )
    if "numbers" in r:
        n = r["numbers"]
        lines.append(
            f"4-6 digit numbers: {n['accuracy']:.2%} exactly right ({n['correct']} / "
            f"{n['total']}; {n['failed']} failed, {n['wrong_digit_count']} with a wrong "
            f"digit count; render {n['render_seconds']}s, predict "
            f"{n['predict_seconds']}s)"
        )
        touching = f"{n['accuracy_touching']:.2%}" if n["accuracy_touching"] is not None else "-"
        lines.append(
            f"  {n['with_touching_digits']} with touching digits: {touching}; the "
            f"others: {n['accuracy_not_touching']:.2%}; the same digits as clean 28x28 "
            f"images, all read right: {n['clean_digits_all_right']:.2%}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except DigitnetError as exc:  # missing model or data: one line, not a traceback
        print(f"photos.py: error: {exc}", file=sys.stderr)
        sys.exit(1)
