"""How fast one photo is read: milliseconds per photo, one process, decode included.

Photos come from the photo benchmark's generator (``digitnet.data.photos``: MNIST test
digits drawn as ink on paper, with lighting, blur, noise and JPEG), brought to the sizes a
user gives, and encoded as files are (PNG or JPEG bytes, decoded inside the timing):

- ``digit 256x256``: one digit, PNG;
- ``digit 640x480``: the same, JPEG;
- ``number 540x220``: a 4-6 digit number (some digits touching), JPEG;
- ``digit 28x28`` and ``digit 16x16``: an MNIST test digit as a small PNG;
- ``phone 4032x3024``: a number photo at a phone camera's size, JPEG (fewer of these).

Each photo is read by :func:`digitnet.reading.recognise.recognise` with the shipped model and
checker, and timed alone. The 256x256 digits are read once more through the public call with
no model given, ``recognise(photo)`` (row ``... recognise(photo)``), which uses the shipped
model and checker loaded once per process (:func:`digitnet.models.shipped_model`); the
first such call, which loads them, is reported apart (``first_call_ms``). The table gives
the median and 90th percentile per kind, and the fraction read right. ``--reference`` also
reads each photo the slow way (``exhaustive=True``: every candidate segment normalised and
read) and counts the photos whose reading differs: the fast path must choose the same
readings.
Each thread count runs in its own process (``OPENBLAS_NUM_THREADS`` and ``DIGITNET_THREADS``
set before NumPy loads).

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/photo_speed.py --data-dir DIR [--photos 200] \\
        [--threads 1,2] [--reference] [--json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import time

KINDS = (
    "digit 256x256",
    "digit 640x480",
    "number 540x220",
    "digit 28x28",
    "digit 16x16",
    "phone 4032x3024",
)
#: the 256x256 digits read by the public call, recognise(photo), with no model given
PUBLIC = "digit 256x256, recognise(photo)"
#: phone photos are big to make and hold: this many at most
PHONE_PHOTOS = 40


def make_photos(data_dir: str, count: int, seed: int = 0) -> dict[str, list[tuple[bytes, str]]]:
    """``kind -> [(encoded image, expected reading)]``, the same for every run."""
    import numpy as np
    from PIL import Image

    from digitnet.data import load_mnist
    from digitnet.data.photos import compose_number, jpeg_bytes, render_photo

    test = load_mnist(data_dir).test
    photos: dict[str, list[tuple[bytes, str]]] = {k: [] for k in KINDS}

    def fit(img: Image.Image, size: tuple[int, int]) -> Image.Image:
        """Scaled to fit ``size`` (keeping its aspect), the rest filled by repeating the
        photo's edge pixels (paper)."""
        scale = min(size[0] / img.width, size[1] / img.height)
        inner = img.resize(
            (max(1, round(img.width * scale)), max(1, round(img.height * scale))),
            Image.Resampling.BICUBIC if scale > 1 else Image.Resampling.BOX,
        )
        a = np.asarray(inner)
        dy, dx = size[1] - a.shape[0], size[0] - a.shape[1]
        pad = ((dy // 2, dy - dy // 2), (dx // 2, dx - dx // 2), (0, 0))
        return Image.fromarray(np.pad(a, pad[: a.ndim], mode="edge"))

    def png(img: Image.Image) -> bytes:
        out = io.BytesIO()
        img.save(out, format="PNG")
        return out.getvalue()

    for i in range(count):
        rng = np.random.default_rng([seed, 0, i])
        label = str(test.labels[i])
        shot = render_photo(test.images[i], rng)
        photos["digit 256x256"].append((png(fit(shot, (256, 256))), label))
        photos["digit 640x480"].append((jpeg_bytes(fit(shot, (640, 480)), rng), label))
        digit = Image.fromarray(test.images[i])
        photos["digit 28x28"].append((png(digit), label))
        photos["digit 16x16"].append((png(digit.resize((16, 16), Image.Resampling.BOX)), label))
        rng = np.random.default_rng([seed, 1, i])
        pick = rng.choice(len(test.labels), size=int(rng.integers(4, 7)), replace=False)
        strip, _ = compose_number(test.images[pick], rng)
        number = render_photo(strip, rng)
        answer = "".join(str(d) for d in test.labels[pick])
        photos["number 540x220"].append((jpeg_bytes(fit(number, (540, 220)), rng), answer))
        if i < min(count, PHONE_PHOTOS):
            big = fit(number, (4032, 3024))
            out = io.BytesIO()
            big.save(out, format="JPEG", quality=90)
            photos["phone 4032x3024"].append((out.getvalue(), answer))
    return photos


def measure(data_dir: str, count: int, reference: bool) -> dict:
    """Time every kind in this process: ``{kind: {median_ms, p90_ms, accuracy, ...}}``."""
    import numpy as np

    from digitnet.models import load_shipped_checker, load_shipped_model
    from digitnet.reading.recognise import recognise

    model, checker = load_shipped_model(), load_shipped_checker()
    photos = make_photos(data_dir, count)
    out = {PUBLIC: public_call(photos["digit 256x256"])}
    for kind in KINDS:
        items = photos[kind]
        for data, _ in items[:3]:  # warm-up
            recognise(data, model, checker=checker)
        times, right, differ, slow = [], 0, 0, []
        for data, answer in items:
            start = time.perf_counter()
            try:
                got = recognise(data, model, checker=checker)
                reading = got.prediction
            except Exception as exc:  # noqa: BLE001
                reading = f"error: {exc}"
            times.append(time.perf_counter() - start)
            right += reading == answer
            if reference:
                start = time.perf_counter()
                try:
                    ref = recognise(data, model, checker=checker, exhaustive=True).prediction
                except Exception as exc:  # noqa: BLE001
                    ref = f"error: {exc}"
                slow.append(time.perf_counter() - start)
                differ += ref != reading
        row = {
            "photos": len(items),
            "median_ms": 1000 * float(np.median(times)),
            "p90_ms": 1000 * float(np.percentile(times, 90)),
            "accuracy": right / len(items),
        }
        if reference:
            row["reference_median_ms"] = 1000 * float(np.median(slow))
            row["readings_differing_from_reference"] = differ
        out[kind] = row
    return out


def public_call(items: list[tuple[bytes, str]]) -> dict:
    """``recognise(photo)`` with no model: the first call (which loads the shipped model and
    checker) timed apart, then every photo."""
    import numpy as np

    from digitnet.reading.recognise import recognise

    start = time.perf_counter()
    recognise(items[0][0])
    first = time.perf_counter() - start
    times, right = [], 0
    for data, answer in items:
        start = time.perf_counter()
        try:
            reading = recognise(data).prediction
        except Exception as exc:  # noqa: BLE001
            reading = f"error: {exc}"
        times.append(time.perf_counter() - start)
        right += reading == answer
    return {
        "photos": len(items),
        "median_ms": 1000 * float(np.median(times)),
        "p90_ms": 1000 * float(np.percentile(times, 90)),
        "accuracy": right / len(items),
        "first_call_ms": 1000 * first,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("DIGITNET_DATA_DIR"),
        help="folder with the MNIST files",
    )
    parser.add_argument("--photos", type=int, default=200, help="photos of each kind")
    parser.add_argument("--threads", default="1,2", help="thread counts, one process each")
    parser.add_argument(
        "--reference",
        action="store_true",
        help="also time the exhaustive reading and compare the readings",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.data_dir:
        parser.error("--data-dir (or DIGITNET_DATA_DIR) is needed: the MNIST folder")
    if args.child:
        print(json.dumps(measure(args.data_dir, args.photos, args.reference)))
        return 0
    results = {}
    for n in [int(t) for t in args.threads.split(",")]:
        env = dict(
            os.environ,
            OPENBLAS_NUM_THREADS=str(n),
            DIGITNET_THREADS=str(n),
            OPENBLAS_THREAD_TIMEOUT="18",
        )
        cmd = [
            sys.executable,
            __file__,
            "--child",
            "--data-dir",
            args.data_dir,
            "--photos",
            str(args.photos),
        ] + (["--reference"] if args.reference else [])
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        results[n] = json.loads(done.stdout.strip().splitlines()[-1])
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(format_table(results))
    return 0


def format_table(results: dict) -> str:
    threads = list(results)
    head = (
        "| photo | "
        + " | ".join(f"ms, {n} thread{'s' * (n > 1)} (median, p90)" for n in threads)
        + " | read right |"
    )
    lines = [head, "|" + "---|" * (len(threads) + 2)]
    for kind in (*KINDS, PUBLIC):
        cells = []
        for n in threads:
            r = results[n][kind]
            cell = f"{r['median_ms']:.1f}, {r['p90_ms']:.1f}"
            if "first_call_ms" in r:
                cell += f" (first call {r['first_call_ms']:.0f})"
            if "reference_median_ms" in r:
                cell += (
                    f" (reference {r['reference_median_ms']:.1f}; "
                    f"{r['readings_differing_from_reference']} differ)"
                )
            cells.append(cell)
        r = results[threads[0]][kind]
        lines.append(
            f"| {kind} ({r['photos']}) | " + " | ".join(cells) + f" | {r['accuracy']:.1%} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
    raise SystemExit(main())
