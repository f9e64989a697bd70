"""digitnet's benchmark suite: speed, accuracy-per-second and memory against PyTorch,
scikit-learn and the seed projects' per-sample loop, on one machine, in one run.

    python benchmarks/run.py [--data-dir DIR] [--threads N] [--quick] [--only SECTION,...]
                             [--out benchmarks/results.md]

writes results.md and results.json (next to it). Sections: train, inference, target, seed,
memory, efficiency (see benchmarks/README.md). PyTorch and scikit-learn are optional
(``pip install -e ".[bench]"``): a missing peer is reported as skipped.

The thread count is fixed here, before NumPy or PyTorch is imported, so every framework uses
the same number of threads: nothing at module level imports them.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SECTION_NAMES = ("train", "inference", "target", "seed", "memory", "efficiency", "augment")
#: the models of sections 1 and 2 (benchmarks/sections.py builds them)
SPEED_MODELS = ("relu-128-64", "wide-mlp", "lenet5", "cnn")
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "DIGITNET_THREADS")


def default_data_dir() -> str:
    return os.environ.get("DIGITNET_DATA_DIR") or str(REPO.parent / "shared" / "datasets" / "mnist")


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python benchmarks/run.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--data-dir",
        default=default_data_dir(),
        metavar="DIR",
        help="folder with the MNIST files (default: $DIGITNET_DATA_DIR, else "
        "../shared/datasets/mnist beside the repository)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=usable_cpus(),
        metavar="N",
        help="threads for every framework (default: the usable CPUs, %(default)s)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: partial epochs, few repeats (a couple of minutes; the "
        "numbers are not results)",
    )
    p.add_argument(
        "--only", metavar="SECTION,...", help=f"run only these sections: {','.join(SECTION_NAMES)}"
    )
    p.add_argument(
        "--models",
        metavar="NAME,...",
        help="time only these models in sections 1 and 2 (training epoch, "
        "inference): " + ",".join(SPEED_MODELS),
    )
    p.add_argument(
        "--out",
        default=str(HERE / "results.md"),
        metavar="FILE.md",
        help="Markdown report; the JSON goes next to it (default: %(default)s)",
    )
    args = p.parse_args(argv)
    if args.threads < 1:
        p.error(f"--threads must be at least 1, got {args.threads}")
    args.sections = list(SECTION_NAMES)
    if args.only:
        wanted = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = [s for s in wanted if s not in SECTION_NAMES]
        if unknown or not wanted:
            p.error(
                f"--only: unknown section(s) {', '.join(unknown) or '(none given)'}; "
                f"choose from {', '.join(SECTION_NAMES)}"
            )
        if "efficiency" in wanted and "train" not in wanted:
            wanted.append("train")  # efficiency divides by the training times
        args.sections = [s for s in SECTION_NAMES if s in wanted]
    if args.models is not None:
        args.models = tuple(m.strip() for m in args.models.split(",") if m.strip())
        unknown = [m for m in args.models if m not in SPEED_MODELS]
        if unknown or not args.models:
            p.error(
                f"--models: unknown model(s) {', '.join(unknown) or '(none given)'}; "
                f"choose from {', '.join(SPEED_MODELS)}"
            )
    return args


def fix_threads(n: int, argv: list[str]) -> None:
    """Set the thread variables; if NumPy/PyTorch were already imported (they read them at
    import), start again in a fresh interpreter."""
    wanted = {v: str(n) for v in THREAD_VARS}
    if all(os.environ.get(k) == v for k, v in wanted.items()):
        return
    os.environ.update(wanted)
    if any(m in sys.modules for m in ("numpy", "torch")):
        os.execv(sys.executable, [sys.executable, str(Path(__file__).resolve()), *argv])


def atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_results(results: dict, md_path: Path) -> None:
    import report_md

    atomic_write(md_path.with_suffix(".json"), json.dumps(results, indent=1) + "\n")
    atomic_write(md_path, report_md.render(results))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    fix_threads(args.threads, argv)
    if (REPO / "src" / "digitnet").is_dir():  # benchmark this checkout's digitnet
        sys.path.insert(0, str(REPO / "src"))
    sys.path.insert(0, str(HERE))

    start = time.perf_counter()
    # OpenBLAS's short thread wait before NumPy loads, as the CLI sets it
    # (digitnet.nn.runtime.BLAS_THREAD_TIMEOUT; OpenBLAS reads it once, at NumPy's import)
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "18")
    importlib.import_module("digitnet")
    import numpy as np  # noqa: F401  (after the thread variables are set)

    torch = None
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    try:
        import sklearn  # noqa: F401

        sklearn_ok = True
    except ImportError:
        sklearn_ok = False

    import machine
    import sections

    from digitnet.data import load_mnist

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    md_path = Path(args.out).resolve()
    if not md_path.parent.is_dir():
        log(f"error: --out {args.out}: folder {md_path.parent} does not exist")
        return 2
    data_dir = Path(args.data_dir).expanduser().resolve()
    try:
        data = load_mnist(data_dir, download=False)
    except Exception as exc:
        log(
            f"error: cannot load MNIST from {data_dir}: {exc}\n(pass --data-dir DIR, or "
            "fetch the files with `digitnet data download`)"
        )
        return 2

    plan = dataclasses.replace(sections.Plan.make(args.quick), models=args.models)
    results: dict = {
        "run": {
            "command": shlex.join(["python", "benchmarks/run.py", *argv]),
            "cwd": os.getcwd(),
            "argv": argv,
            "quick": args.quick,
            "sections": args.sections,
            "data_dir": str(data_dir),
            "date": datetime.now(UTC).astimezone().isoformat(timespec="seconds"),
            "plan": vars(plan),
        },
        "machine": machine.describe(args.threads, REPO),
        "sections": {},
    }
    if torch is not None:
        results["machine"]["torch_threads"] = torch.get_num_threads()
    log(
        f"digitnet benchmarks: {results['machine']['cpu']}, {args.threads} threads"
        f"{' (quick smoke run)' if args.quick else ''}; sections: {', '.join(args.sections)}"
    )
    rates = machine.sgemm_gflops(plan.sgemm_size, plan.sgemm_repeats)
    results["machine"]["sgemm_gflops"] = rates
    log(
        f"float32 matmul {rates['size']}^3: NumPy {rates['numpy']} GFLOPS, PyTorch "
        f"{rates['torch']} GFLOPS"
    )

    bench = sections.Bench(
        data=data,
        data_dir=data_dir,
        plan=plan,
        threads=args.threads,
        torch=torch,
        sklearn_ok=sklearn_ok,
        log=log,
        results=results,
    )
    status = 0
    try:
        for name in args.sections:
            log(f"== {name} ==")
            t0 = time.perf_counter()
            try:
                out = sections.SECTIONS[name](bench)
            except Exception as exc:
                out = sections.failed(exc)
                log(f"[{name}] ERROR {out['error']}\n{out['traceback']}")
            out["seconds"] = round(time.perf_counter() - t0, 1)
            results["sections"][name] = out
            if out.get("status") == "error":
                status = 1
            results["run"]["total_seconds"] = round(time.perf_counter() - start, 1)
            write_results(results, md_path)  # keep what is done if a later one dies
    except KeyboardInterrupt:
        results["run"]["interrupted"] = True
        write_results(results, md_path)
        log("interrupted: partial results written")
        return 130
    log(
        f"wrote {md_path} and {md_path.with_suffix('.json')} in {results['run']['total_seconds']} s"
    )
    return status


if __name__ == "__main__":
    sys.exit(main())
