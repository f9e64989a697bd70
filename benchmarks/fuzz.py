"""Fuzz every parser at length: inputs tried, crashes, hangs, peak memory.

For each parser (the IDX reader, the model-file loader, the checkpoint loader, the image
reader with ``recognise``, ``digitnet adapt``'s sample-folder reader), Hypothesis generates
``--examples`` inputs from the strategies in ``tests/fuzz_inputs.py`` (valid files broken
every way: cut short, bytes flipped and inserted, odd headers, random bytes, foreign
archives; sample folders with near-miss, missing or empty digit folders, files where folders
should be, folders and named pipes called like images, broken and looping links). Each
parser runs in its own process, so the peak memory (``ru_maxrss``) is that parser's. A crash
is any exception that is not digitnet's own one-line error; a hang is an input that takes
more than ``--slow`` seconds.

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/fuzz.py [--examples 10000] [--only idx,model]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARSERS = ("idx", "model", "checkpoint", "image", "samples")


def run_one(name: str, examples: int, slow: float) -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    import tempfile

    from fuzz_inputs import idx_inputs, image_files, model_file, mutated, npz_inputs
    from hypothesis import HealthCheck, given, settings

    from digitnet.errors import DigitnetError

    if name == "idx":
        from digitnet.data.idx import decompress, parse_idx

        strategy = idx_inputs()

        def parse(data):
            parse_idx(decompress(data, source="f"), source="f")
    elif name in ("model", "checkpoint"):
        folder = Path(tempfile.mkdtemp())
        if name == "model":
            from digitnet.modelfile import load_model

            strategy, path = npz_inputs(model_file()), folder / "m.npz"

            def parse(data):
                path.write_bytes(data)
                load_model(path)
        else:
            sys.path.insert(0, str(ROOT / "tests"))
            from test_fuzz import CHECKPOINT

            from digitnet.training import checkpoint

            strategy, path = mutated([CHECKPOINT]), folder / checkpoint.FILE

            def parse(data):
                path.write_bytes(data)
                checkpoint.load(folder)
    elif name == "samples":
        from fuzz_inputs import sample_trees, write_samples

        from digitnet.errors import ConfigError
        from digitnet.training.adapt import load_samples

        images = image_files()
        strategy = sample_trees([images[k] for k in ("png", "jpeg", "bmp", "gif")])

        def parse(tree):
            with tempfile.TemporaryDirectory() as folder:
                try:
                    load_samples(write_samples(folder, tree))
                except ConfigError:
                    raise
                except DigitnetError as exc:  # the reader promises ConfigError only
                    raise RuntimeError(f"not a ConfigError: {exc!r}") from None
    else:
        from digitnet.models import load_shipped_model
        from digitnet.reading.recognise import recognise

        model = load_shipped_model()
        strategy = mutated(list(image_files().values()))

        def parse(data):
            recognise(data, model, checker=False)

    import tracemalloc

    counts = {"tried": 0, "crashes": 0, "hangs": 0, "refused": 0, "read": 0, "input_mb": 0.0}
    crashes: list[str] = []
    start = time.perf_counter()
    tracemalloc.start()

    @settings(
        max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(strategy)
    def fuzz(data):
        counts["tried"] += 1
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        t = time.perf_counter()
        try:
            parse(data)
            counts["read"] += 1
        except DigitnetError as exc:
            counts["refused"] += 1
            if "\n" in str(exc) or not str(exc):
                counts["crashes"] += 1
                crashes.append(f"not one line: {exc!r}"[:200])
        except Exception as exc:  # noqa: BLE001
            counts["crashes"] += 1
            crashes.append(f"{type(exc).__name__}: {exc}"[:200])
        if time.perf_counter() - t > slow:
            counts["hangs"] += 1
        grown = (tracemalloc.get_traced_memory()[1] - base) / 2**20
        counts["input_mb"] = round(max(counts["input_mb"], grown), 1)

    fuzz()
    counts["seconds"] = round(time.perf_counter() - start, 1)
    counts["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    counts["examples_of_crashes"] = sorted(set(crashes))[:5]
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--slow", type=float, default=5.0, help="seconds that make a hang")
    parser.add_argument("--only", default=",".join(PARSERS))
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_one(args.child, args.examples, args.slow)))
        return 0
    results = {}
    env = dict(
        os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")
    )
    for name in args.only.split(","):
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                name,
                "--examples",
                str(args.examples),
                "--slow",
                str(args.slow),
            ],
            capture_output=True,
            text=True,
            env=env,
        )
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return 1
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(
        "| parser | inputs | read | refused (one line) | crashes | hangs | most MB for one "
        "input | process peak RSS MB | seconds |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {name} | {r['tried']:,} | {r['read']:,} | {r['refused']:,} | {r['crashes']} | "
            f"{r['hangs']} | {r['input_mb']} | {r['peak_mb']} | {r['seconds']} |"
        )
        for line in r["examples_of_crashes"]:
            print(f"  crash: {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
