"""Train every preset with its documented command and record what it reaches.

    python benchmarks/presets.py [--data-dir DIR] [--models DIR] [--only NAME,...]
                                 [--out benchmarks/presets.md]

Each preset runs as ``digitnet train --preset NAME --seed 0 --json --out MODELS/NAME.npz``
(plus ``--ensemble N`` and the row's extra options for the ensemble rows) in a subprocess,
exactly as a user would, and the table (test accuracy, epochs, training seconds, wall-clock
seconds) goes to ``presets.md`` and ``presets.json``. Results are merged into an existing JSON
file, so presets can be run one at a time (``--only cnn``). Not a test: a full run takes hours
on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))

from digitnet.training import presets  # noqa: E402

#: row name -> (preset, networks, extra `digitnet train` options)
ENSEMBLES = {"cnn-ensemble": ("cnn", 5, ()), "cnn-ensemble-60k": ("cnn", 4, ("--val-size", "0"))}
ENSEMBLE_TARGET = 0.997


def default_data_dir() -> str:
    return os.environ.get("DIGITNET_DATA_DIR") or str(ROOT.parent / "shared" / "datasets" / "mnist")


def run_one(row: str, data_dir: str, models: Path, seed: int) -> dict:
    preset, n, extra = ENSEMBLES.get(row, (row, 1, ()))
    out = models / f"{row}.npz"
    cmd = [
        sys.executable,
        "-m",
        "digitnet",
        "train",
        "--preset",
        preset,
        "--seed",
        str(seed),
        "--data-dir",
        data_dir,
        "--out",
        str(out),
        "--json",
        *extra,
    ]
    if n > 1:
        cmd += ["--ensemble", str(n)]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        return {
            "row": row,
            "command": documented_command(preset, seed, n, f"{row}.npz", extra),
            "error": proc.stderr.strip()[-500:],
        }
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    epochs = [x for x in lines if x.get("event") == "epoch"]
    result = lines[-1]
    return {
        "row": row,
        "preset": preset,
        "ensemble": n,
        "seed": seed,
        "command": documented_command(preset, seed, n, f"{row}.npz", extra),
        "test_accuracy": result["test_accuracy"],
        "test_correct": result["test_correct"],
        "epochs": len(epochs) // n,
        "train_seconds": result["train_seconds"],
        "wall_seconds": wall,
        "best_val_accuracy": max(
            (e["val_accuracy"] for e in epochs if "val_accuracy" in e), default=None
        ),
        "target": ENSEMBLE_TARGET if n > 1 else presets.get(preset).target,
        "model": str(out),
    }


def documented_command(preset: str, seed: int, n: int, out: str, extra=()) -> str:
    """The command as a user types it (the data folder comes from the usual lookup)."""
    ensemble = f" --ensemble {n}" if n > 1 else ""
    options = "".join(f" {a}" for a in extra)
    return f"digitnet train --preset {preset} --seed {seed}{ensemble}{options} --out {out}"


def table(results: dict[str, dict]) -> str:
    rows = [
        "| preset | test accuracy | target | met | epochs | training time | command |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results.values():
        if "error" in r:
            rows.append(f"| {r['row']} | failed: {r['error'][:80]} | | | | | `{r['command']}` |")
            continue
        met = "yes" if r["test_accuracy"] >= r["target"] else "**no**"
        rows.append(
            f"| {r['row']} | {r['test_accuracy']:.2%} | {r['target']:.1%} | {met} | "
            f"{r['epochs']}{' x ' + str(r['ensemble']) if r['ensemble'] > 1 else ''} | "
            f"{duration(r['train_seconds'])} | `{r['command']}` |"
        )
    return "\n".join(rows) + "\n"


def duration(seconds: float) -> str:
    """``9.4 s`` under two minutes, else ``13.6 min``."""
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=default_data_dir())
    p.add_argument("--models", default=str(ROOT / "runs" / "presets"))
    p.add_argument("--only", help="comma-separated rows (presets, or cnn-ensemble)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(HERE / "presets.md"))
    args = p.parse_args()
    rows = args.only.split(",") if args.only else [*presets.PRESETS, *ENSEMBLES]
    models = Path(args.models)
    models.mkdir(parents=True, exist_ok=True)
    out = Path(args.out)
    store = out.with_suffix(".json")
    results = json.loads(store.read_text()) if store.exists() else {}
    for row in rows:
        print(f"training {row} ...", flush=True)
        results[row] = run_one(row, args.data_dir, models, args.seed)
        print(json.dumps(results[row]), flush=True)
        write_atomic(store, json.dumps(results, indent=2))
        write_atomic(out, "# Presets: measured\n\n" + table(results))
    return 0 if all("error" not in r for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
