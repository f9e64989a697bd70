"""Does a model read the world's handwriting, say "not a digit" to what is not one, and learn
a writer in seconds, without losing MNIST? One command, one table (issues 17 and 31).

For each model given (default: the shipped one), in one run:

- MNIST test: accuracy on the 10,000 28x28 test images, and how many the model refuses as
  "not a digit" (its threshold, ``digitnet.evaluation.confidence``);
- USPS test (2,007 digits of other writers, never trained on), read with
  ``recognise(image, single=True)`` as ``digitnet predict --single`` reads a user's file,
  in the forms of ``benchmarks/usps.py``;
- semeion (1,593 digits of Italian writers, continental style; never trained or tuned on),
  the same way, as the 16x16 scan and framed in 96x96 (enlarged 4x, bicubic, on white);
- styles: MNIST test (the network's probabilities weighed as ``--style`` weighs them) and
  semeion read with ``style="continental"`` and ``"american"`` beside the default;
- noise: MNIST test with Gaussian pixel noise of std 0.3 (all 10,000, seed 0);
- photos: ``benchmarks/photos.py`` (photos of MNIST test digits and numbers, seed 0);
- non-digits: the ``test`` part of ``digitnet.data.nondigits`` (families and fonts training
  never saw, other draws), each drawn as a 96x96 dark-on-white image file and read like a
  user's: the share answered "not a digit" (or "blank"), per family;
- adapt: ``digitnet adapt`` run as a command (a subprocess: start-up, loading and the MNIST
  check included) on 1, 5 and 10 semeion digits per digit (seed 0), measured on the other
  semeion digits (16x16 files, the adapted model alone) and on MNIST test; its wall seconds.

Prints a Markdown table with the goals and whether each is met (the README quotes it), then
per-digit tables; ``--out FILE`` also writes everything as JSON.

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/generalization.py [--model shipped --model NEW.npz]
        [--data-dir DIR] [--datasets ../shared/datasets] [--photo-singles 10000]
        [--photo-numbers 1000] [--nondigits 2000] [--adapt 1,5,10] [--out result.json]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

USPS_FORMS = ("16x16", "64x64 tight", "64x64 margin", "64x64 tight, light on dark")
SEMEION_FORMS = ("16x16", "96x96 framed")
#: (row, key, goal, higher is better); the goals of issues 17 and 31
GOALS = [
    ("MNIST test", "mnist", 0.9965, True),
    ("MNIST test refused as not a digit", "mnist_refused", 0.003, False),
    *[(f"USPS test, {f}", f"usps:{f}", 0.985, True) for f in USPS_FORMS],
    ("USPS test refused (64x64 tight)", "usps_refused", 0.01, False),
    *[(f"semeion, {f}", f"semeion:{f}", 0.97, True) for f in SEMEION_FORMS],
    ("semeion refused (96x96 framed)", "semeion_refused", 0.01, False),
    ("MNIST test, noise std 0.3", "noise", 0.95, True),
    ("photos: single digits", "photo_singles", 0.9935, True),
    ("photos: 4-6 digit numbers", "photo_numbers", 0.952, True),
    ("non-digits refused", "nondigits", 0.95, True),
    ("adapt: semeion, 1 per digit", "adapt:1", 0.95, True),
    ("adapt: semeion, 5 per digit", "adapt:5", None, True),
    ("adapt: semeion, 10 per digit", "adapt:10", 0.985, True),
    ("adapt: MNIST test after 10 per digit", "adapt:10:mnist", 0.995, True),
    ("adapt: seconds for 100 samples (wall)", "adapt:10:seconds", 5.0, False),
]


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def semeion_forms(digit: np.ndarray) -> dict[str, bytes]:
    """The image files of one semeion digit ``(16, 16)`` uint8 (255 = ink)."""
    dark = Image.fromarray(255 - digit)
    framed = Image.new("L", (96, 96), 255)
    framed.paste(dark.resize((64, 64), Image.Resampling.BICUBIC), (16, 16))
    return {"16x16": png(dark), "96x96 framed": png(framed)}


def read_forms(model, checker, images, labels, forms, style: str = "auto") -> dict[str, dict]:
    """Read every digit in every form with ``recognise(single=True, style=style)``: per
    form the accuracy (a refusal is wrong), the share refused, per-digit accuracy,
    confusions."""
    from digitnet.errors import ImageError
    from digitnet.reading.recognise import recognise

    got: dict[str, list] = collections.defaultdict(list)
    for digit in images:
        for name, data in forms(digit).items():
            try:
                r = recognise(data, model, single=True, checker=checker, style=style)
                got[name].append(int(r.prediction) if r.prediction is not None else -1)
            except ImageError:
                got[name].append(-2)
    out = {}
    for name, answers in got.items():
        a = np.asarray(answers)
        wrong = collections.Counter(
            (int(t), int(g)) for t, g in zip(labels, a, strict=True) if t != g and g >= 0
        )
        out[name] = {
            "accuracy": float((a == labels).mean()),
            "refused": float((a == -1).mean()),
            "failed": int((a == -2).sum()),
            "per_class": [float((a[labels == d] == d).mean()) for d in range(10)],
            "confusions": [f"{t}->{g}: {n}" for (t, g), n in wrong.most_common(6)],
        }
    return out


def nondigit_refusals(model, checker, count: int) -> dict:
    """The test part of the non-digit set, each drawn as a person's image file."""
    from digitnet.data.nondigits import TEST_FONTS, TEST_ONLY_FAMILIES, TRAIN_FAMILIES, draw_canvas
    from digitnet.reading.recognise import recognise

    families = list(TRAIN_FAMILIES) + list(TEST_ONLY_FAMILIES)
    rng = np.random.default_rng(2026)
    refused: dict[str, list[bool]] = collections.defaultdict(list)
    for i in range(count):
        family = families[i % len(families)]
        canvas = draw_canvas(family, rng, TEST_FONTS)
        img = Image.fromarray(np.rint(255 - 255 * np.clip(canvas, 0, 1)).astype(np.uint8))
        r = recognise(png(img), model, single=True, checker=checker)
        refused[family].append(r.prediction is None)
    every = [x for v in refused.values() for x in v]
    return {
        "refused": float(np.mean(every)),
        "per_family": {f: float(np.mean(v)) for f, v in refused.items()},
        "test_only": sorted(TEST_ONLY_FAMILIES),
    }


def adapt_runs(model_path: str, args, sem, mnist) -> dict:
    """``digitnet adapt`` on k semeion digits per digit, as a user runs it."""
    from digitnet.evaluation.evaluate import predict_proba
    from digitnet.imaging.images import to_mnist
    from digitnet.modelfile import load_model

    images, labels = sem
    inputs = np.stack([to_mnist(255 - d) for d in images])
    out = {}
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for k in args.adapt:
        rng = np.random.default_rng(0)
        pick = np.concatenate(
            [rng.choice(np.flatnonzero(labels == d), k, replace=False) for d in range(10)]
        )
        rest = np.setdiff1d(np.arange(len(labels)), pick)
        with tempfile.TemporaryDirectory() as tmp:
            for j, i in enumerate(pick):
                folder = Path(tmp) / "s" / str(labels[i])
                folder.mkdir(parents=True, exist_ok=True)
                Image.fromarray(255 - images[i]).save(folder / f"{j}.png")
            target = Path(tmp) / "mine.npz"
            cmd = [
                sys.executable,
                "-m",
                "digitnet",
                "adapt",
                str(Path(tmp) / "s"),
                "--out",
                str(target),
                "--model",
                model_path,
                "--quiet",
            ]
            if args.data_dir:
                cmd += ["--data-dir", args.data_dir]
            start = time.perf_counter()
            subprocess.run(cmd, check=True, env=env)
            seconds = time.perf_counter() - start
            tuned = load_model(target)
        acc = float((predict_proba(tuned, inputs[rest]).argmax(1) == labels[rest]).mean())
        out[k] = {
            "accuracy": acc,
            "mnist": tuned.meta["test"]["accuracy"],
            "seconds": seconds,
            "measured_on": int(len(rest)),
        }
    return out


def measure(model_arg: str, args: argparse.Namespace, mnist, usps, sem) -> dict:
    import photos
    import usps as usps_bench

    from digitnet.evaluation.confidence import digit_or_not
    from digitnet.evaluation.evaluate import evaluate, predict_proba
    from digitnet.evaluation.styles import apply_style
    from digitnet.modelfile import load_model
    from digitnet.models import load_shipped_checker, load_shipped_model, shipped_model_path
    from digitnet.report.robustness import PERTURBATIONS, robustness_curves

    path = str(shipped_model_path()) if model_arg == "shipped" else model_arg
    model = load_shipped_model() if model_arg == "shipped" else load_model(path)
    checker = load_shipped_checker()
    out: dict = {"model": model_arg, "preset": model.meta.get("preset"), "seconds": {}}
    t = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        out["seconds"][name] = time.perf_counter() - t
        t = time.perf_counter()

    out["mnist"] = evaluate(model, mnist.test.images, mnist.test.labels)["accuracy"]
    proba = predict_proba(model, mnist.test.images)
    out["mnist_refused"] = float((~digit_or_not(proba, model)).mean())
    lap("mnist")
    out["usps"] = usps_bench.measure(model, checker, *usps)
    for form, r in out["usps"].items():
        out[f"usps:{form}"] = r["accuracy"]
    out["usps_refused"] = out["usps"]["64x64 tight"]["not_a_digit"]
    lap("usps")
    out["semeion"] = read_forms(model, checker, *sem, semeion_forms)
    for form, r in out["semeion"].items():
        out[f"semeion:{form}"] = r["accuracy"]
    out["semeion_refused"] = out["semeion"]["96x96 framed"]["refused"]
    lap("semeion")
    if args.styles:  # the reader's choice where cultures disagree, measured both ways
        out["styles"] = {
            "auto": {
                "mnist": out["mnist"],
                **{f"semeion:{f}": r["accuracy"] for f, r in out["semeion"].items()},
            }
        }
        for style in ("continental", "american"):
            styled = read_forms(model, checker, *sem, semeion_forms, style=style)
            out["styles"][style] = {
                "mnist": float((apply_style(proba, style).argmax(1) == mnist.test.labels).mean()),
                **{f"semeion:{f}": r["accuracy"] for f, r in styled.items()},
            }
        lap("styles")
    noise = next(p for p in PERTURBATIONS if p.name == "noise")
    curve = robustness_curves(
        model,
        mnist.test.images,
        mnist.test.labels,
        rng=np.random.default_rng(0),
        perturbations=(dataclasses.replace(noise, levels=(0.3,)),),
    )
    out["noise"] = curve["noise"]["accuracy"][0]
    lap("noise")
    if args.nondigits:
        out["nondigit_set"] = nondigit_refusals(model, checker, args.nondigits)
        out["nondigits"] = out["nondigit_set"]["refused"]
        lap("nondigits")
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
        lap("photos")
    if args.adapt:
        runs = adapt_runs(path, args, sem, mnist)
        out["adapt"] = runs
        for k, r in runs.items():
            out[f"adapt:{k}"] = r["accuracy"]
            out[f"adapt:{k}:mnist"] = r["mnist"]
            out[f"adapt:{k}:seconds"] = r["seconds"]
        lap("adapt")
    return out


def _cell(value: float, goal: float | None, higher: bool, seconds: bool) -> str:
    text = f"{value:.1f} s" if seconds else f"{value:.2%}"
    if goal is None:
        return text
    met = value >= goal - 1e-12 if higher else value <= goal + 1e-12
    return text + (" met" if met else " MISSED")


def table(results: list[dict]) -> str:
    head = (
        "| measure | goal | "
        + " | ".join(
            f"{r['model']}" + (f" ({r['preset']})" if r["preset"] else "") for r in results
        )
        + " |"
    )
    lines = [head, "|---|---|" + "---|" * len(results)]
    for label, key, goal, higher in GOALS:
        seconds = key.endswith(":seconds")
        cells = ["-" if key not in r else _cell(r[key], goal, higher, seconds) for r in results]
        if goal is None:
            want = "-"
        else:
            sign = ">=" if higher else "<="
            want = f"{sign} {goal:.1f} s" if seconds else f"{sign} {goal:.2%}"
        lines.append(f"| {label} | {want} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_class(results: list[dict]) -> str:
    lines = []
    for title, pick in (
        ("USPS test, 64x64 tight", lambda r: r["usps"]["64x64 tight"]),
        ("semeion, 96x96 framed", lambda r: r["semeion"]["96x96 framed"]),
    ):
        lines += [
            "",
            f"{title}: accuracy per digit and the most frequent confusions (true->read)",
            "| model | " + " | ".join(str(d) for d in range(10)) + " | confusions |",
            "|---|" + "---|" * 11,
        ]
        for r in results:
            u = pick(r)
            lines.append(
                f"| {r['model']} | "
                + " | ".join(f"{a:.1%}" for a in u["per_class"])
                + f" | {', '.join(u['confusions'])} |"
            )
    st = [r for r in results if "styles" in r]
    if st:
        keys = ["mnist", *(f"semeion:{f}" for f in SEMEION_FORMS)]
        lines += [
            "",
            "Styles (`--style`): MNIST test (the network's probabilities, weighed) and semeion",
            "| model | style | " + " | ".join(keys) + " |",
            "|---|---|" + "---|" * len(keys),
        ]
        for r in st:
            for style, v in r["styles"].items():
                lines.append(
                    f"| {r['model']} | {style} | " + " | ".join(f"{v[k]:.2%}" for k in keys) + " |"
                )
    nd = [r for r in results if "nondigit_set" in r]
    if nd:
        families = list(nd[0]["nondigit_set"]["per_family"])
        test_only = set(nd[0]["nondigit_set"]["test_only"])
        lines += [
            "",
            "Non-digits refused, per family (* never shown in training)",
            "| model | " + " | ".join(f + ("*" if f in test_only else "") for f in families) + " |",
            "|---|" + "---|" * len(families),
        ]
        for r in nd:
            fam = r["nondigit_set"]["per_family"]
            lines.append(
                f"| {r['model']} | " + " | ".join(f"{fam[f]:.0%}" for f in families) + " |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--model", action="append", help="a model file, or 'shipped' (repeatable; default: shipped)"
    )
    p.add_argument(
        "--data-dir",
        default=os.environ.get("DIGITNET_DATA_DIR"),
        help="folder with the MNIST files",
    )
    p.add_argument(
        "--datasets",
        default=str(ROOT.parent / "shared" / "datasets"),
        help="folder holding usps/ and semeion/",
    )
    p.add_argument("--usps-limit", type=int, help="the first N USPS test digits only")
    p.add_argument("--photo-singles", type=int, default=10000)
    p.add_argument("--photo-numbers", type=int, default=1000)
    p.add_argument("--nondigits", type=int, default=2000)
    p.add_argument(
        "--adapt",
        default="1,5,10",
        help="semeion digits per digit to adapt on, comma-separated ('' for none)",
    )
    p.add_argument(
        "--no-styles",
        dest="styles",
        action="store_false",
        help="skip reading MNIST and semeion in the continental and american styles",
    )
    p.add_argument("--out", help="also write the results here as JSON")
    args = p.parse_args(argv)
    args.adapt = [int(k) for k in args.adapt.split(",") if k.strip()]

    from digitnet.data import load_mnist
    from digitnet.data.semeion import load_semeion
    from digitnet.data.usps import load_usps

    mnist = load_mnist(args.data_dir)
    usps = load_usps(Path(args.datasets) / "usps", "test")
    if args.usps_limit:
        usps = usps[0][: args.usps_limit], usps[1][: args.usps_limit]
    sem = load_semeion(Path(args.datasets) / "semeion")
    results = []
    for m in args.model or ["shipped"]:
        results.append(measure(m, args, mnist, usps, sem))
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
