"""Handwriting that is not MNIST's: USPS test digits read as a user's image files.

Each of USPS's 2,007 test digits (16x16, ink filling the box; ``digitnet.data.usps``) is
saved as a PNG in several forms and read with ``recognise(image, single=True)`` (the shipped
model and checker), as ``digitnet predict --single`` reads a user's file:

- ``16x16``: the scan as is, dark ink on white;
- ``64x64 tight``: enlarged 4x (bicubic), the ink touching the edges, dark on white;
- ``64x64 margin``: the 16x16 digit enlarged 2.5x in the middle of a white 64x64 image;
- ``64x64 tight, light on dark``: the tight form inverted;
- ``plain``: the 16x16 digit put straight into MNIST's frame (cropped to its ink, 20 px box,
  centre of mass), no image file and no ink finding: what the network alone makes of it.

Prints, per form: the accuracy, how many digits were refused ("no ink found", ...), and the
most frequent confusions.

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/usps.py [--usps-dir ../shared/datasets/usps] [--json]
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def forms(digit: np.ndarray) -> dict[str, bytes]:
    """The encoded image files of one (16, 16) uint8 digit (255 = ink)."""
    dark = Image.fromarray(255 - digit)  # dark ink on white paper
    tight = dark.resize((64, 64), Image.Resampling.BICUBIC)
    margin = Image.new("L", (64, 64), 255)
    margin.paste(dark.resize((40, 40), Image.Resampling.BICUBIC), (12, 12))
    out = {}
    for name, img in (
        ("16x16", dark),
        ("64x64 tight", tight),
        ("64x64 margin", margin),
        ("64x64 tight, light on dark", Image.fromarray(255 - np.asarray(tight))),
    ):
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        out[name] = buf.getvalue()
    return out


def measure(model, checker, images: np.ndarray, labels: np.ndarray) -> dict[str, dict]:
    """Read every digit in every form: ``{form: {"accuracy", "refused", "not_a_digit",
    "total", "confusions", "per_class"}}``; ``refused`` counts the images the reading could
    not use, ``not_a_digit`` the share answered "not a digit" (both count as wrong);
    ``per_class[d]`` is the accuracy on the digits ``d``."""
    from digitnet.errors import ImageError
    from digitnet.evaluation.evaluate import predict_proba
    from digitnet.imaging.images import normalise_digit
    from digitnet.reading.recognise import recognise

    answers: dict[str, list] = collections.defaultdict(list)
    refused: collections.Counter = collections.Counter()
    not_digit: collections.Counter = collections.Counter()
    for digit in images:
        for name, data in forms(digit).items():
            try:
                read = recognise(data, model, single=True, checker=checker).prediction
                answers[name].append(-1 if read is None else int(read))
                not_digit[name] += read is None
            except ImageError:
                answers[name].append(-1)
                refused[name] += 1
    plain = np.stack([normalise_digit(d / np.float32(255), d > 102) for d in images])
    answers["plain"] = list(predict_proba(model, plain).argmax(axis=1))
    results = {}
    for name, got in answers.items():
        got = np.asarray(got)
        wrong = collections.Counter(
            (int(t), int(g)) for t, g in zip(labels, got, strict=True) if t != g and g >= 0
        )
        results[name] = {
            "accuracy": float((got == labels).mean()),
            "refused": refused[name],
            "not_a_digit": not_digit[name] / len(labels),
            "total": len(labels),
            "confusions": [f"{t}->{g}: {n}" for (t, g), n in wrong.most_common(5)],
            "per_class": [float((got[labels == d] == d).mean()) for d in range(10)],
        }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--usps-dir", default=str(ROOT.parent / "shared" / "datasets" / "usps"))
    parser.add_argument("--limit", type=int, help="the first N test digits only")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from digitnet.data.usps import load_usps
    from digitnet.models import load_shipped_checker, load_shipped_model

    images, labels = load_usps(args.usps_dir, "test")
    if args.limit:
        images, labels = images[: args.limit], labels[: args.limit]
    results = measure(load_shipped_model(), load_shipped_checker(), images, labels)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(
        f"USPS test, {len(labels):,} digits, read with recognise(single=True), shipped model "
        "and checker"
    )
    print("| form | accuracy | refused | most frequent confusions (true->read) |")
    print("|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['accuracy']:.2%} | {r['refused']} | {', '.join(r['confusions'])} |")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    raise SystemExit(main())
