"""Bulk reading throughput: `digitnet read-all` on photos from the photo benchmark's generator.

Writes ``--photos`` single-digit JPEG photos (``digitnet.data.photos``, as
``benchmarks/photos.py`` draws them) into a temporary folder, then reads the folder with
:func:`digitnet.apps.bulk.run` three ways: 1 local worker process, 2 local worker processes, and
a Dask LocalCluster of 2 worker processes. Prints images/s (in all, and after the first
batch came back, which leaves out starting the processes and loading the model), the
1 -> 2 scaling, the Dask path against local processes, and the peak memory of a worker
process (RSS).

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/bulk.py --data-dir DIR [--photos 2000]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("DIGITNET_DATA_DIR"))
    parser.add_argument("--photos", type=int, default=2000)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from photos import write_singles

    from digitnet.apps.bulk import Results, run
    from digitnet.data import load_mnist

    test = load_mnist(args.data_dir).test
    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        (folder / "in").mkdir()
        write_singles(folder / "in", test.images, test.labels, range(args.photos), 0)
        for name, kwargs in (
            ("1 local worker", {"workers": 1}),
            ("2 local workers", {"workers": 2}),
            ("Dask LocalCluster, 2 workers", {"workers": 2, "dask": "local"}),
        ):
            out = folder / f"{len(rows)}.jsonl"
            results = Results(out)
            first: list[tuple[float, int]] = []

            def seen(n: int, first=first) -> None:
                if not first:
                    first.append((time.perf_counter(), n))

            start = time.perf_counter()
            counts = run(folder / "in", results, progress=seen, **kwargs)
            end = time.perf_counter()
            results.close()
            total = counts["read"] + counts["errors"]
            rows[name] = (total / (end - start), (total - first[0][1]) / (end - first[0][0]))
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    (one, one_s), (two, two_s), (dask, dask_s) = rows.values()
    print(f"{args.photos:,} single-digit JPEG photos; load average {os.getloadavg()[0]:.2f}")
    for name, (rate, steady) in rows.items():
        print(
            f"  {name}: {rate:,.0f} images/s in all; {steady:,.0f} images/s after the first "
            "batch came back (start-up excluded)"
        )
    print(
        f"  scaling 1 -> 2 workers: {two / one:.2f}x ({two_s / one_s:.2f}x after start-up); "
        f"Dask / local at 2 workers: {dask / two:.2f} ({dask_s / two_s:.2f} after start-up); "
        f"peak RSS of a worker process: {peak:,.0f} MB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
