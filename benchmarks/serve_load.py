"""Load on `digitnet serve`: requests/s, p50/p99 latency and errors, on loopback.

Starts ``digitnet serve`` on 127.0.0.1 (``--workers`` processes), sends a bounded number of
requests from ``--clients`` concurrent clients (threads with keep-alive connections), and
stops by itself. Two loads, one after the other:

- ``/api/read-pixels``: one MNIST test digit as 28x28 JSON per request;
- ``/api/read``: a 640x480 JPEG photo of one digit per request (the photo benchmark's
  generator, as in ``benchmarks/photo_speed.py``), multipart.

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/serve_load.py --data-dir DIR [--workers 2] \\
        [--clients 8] [--requests 2000] [--photos 400]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load(url: str, bodies: list, clients: int, send) -> dict:
    """Send every body once, from ``clients`` threads; latency per request."""
    import httpx

    times, errors, lock = [], [], threading.Lock()
    queue = list(range(len(bodies)))

    def work() -> None:
        with httpx.Client(timeout=30) as client:
            while True:
                with lock:
                    if not queue:
                        return
                    i = queue.pop()
                start = time.perf_counter()
                try:
                    status = send(client, url, bodies[i]).status_code
                except httpx.HTTPError as exc:
                    status = repr(exc)
                elapsed = time.perf_counter() - start
                with lock:
                    times.append(elapsed)
                    if status != 200:
                        errors.append(status)

    threads = [threading.Thread(target=work) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    ms = 1000 * np.array(times)
    return {
        "requests": len(times),
        "per_second": len(times) / wall,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "errors": len(errors),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("DIGITNET_DATA_DIR"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--photos", type=int, default=400)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from photo_speed import make_photos

    from digitnet.data import load_mnist

    test = load_mnist(args.data_dir).test
    pixels = [{"pixels": test.images[i % len(test.labels)].tolist()} for i in range(args.requests)]
    photos = [data for data, _ in make_photos(args.data_dir, args.photos)["digit 640x480"]]
    port = free_port()
    env = dict(
        os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")
    )
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "digitnet",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        import httpx

        base = f"http://127.0.0.1:{port}"
        end = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/api/model").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > end or server.poll() is not None:
                raise SystemExit("the server did not start")
            time.sleep(0.2)
        load(
            base + "/api/read-pixels", pixels[:100], args.clients, lambda c, u, b: c.post(u, json=b)
        )  # warm-up
        results = {
            "read-pixels": load(
                base + "/api/read-pixels", pixels, args.clients, lambda c, u, b: c.post(u, json=b)
            ),
            "read (640x480 JPEG)": load(
                base + "/api/read",
                photos,
                args.clients,
                lambda c, u, b: c.post(u, files={"image": ("p.jpg", b, "image/jpeg")}),
            ),
        }
    finally:
        server.terminate()
        server.wait(10)
    load1 = os.getloadavg()[0]
    if args.json:
        print(
            json.dumps(
                {
                    "workers": args.workers,
                    "clients": args.clients,
                    "load_average": load1,
                    "results": results,
                },
                indent=2,
            )
        )
        return 0
    print(
        f"digitnet serve --workers {args.workers}; {args.clients} clients; load average "
        f"{load1:.2f} at the end"
    )
    print("| endpoint | requests | requests/s | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {name} | {r['requests']} | {r['per_second']:.0f} | {r['p50_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {r['errors']} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
