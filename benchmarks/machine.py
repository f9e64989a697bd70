"""What the benchmarks ran on: CPU, memory, versions, thread settings, and the measured
float32 matrix-multiply rate (the practical ceiling of the efficiency figures)."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

THREAD_VARS = (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "DIGITNET_THREADS",
    "OPENBLAS_THREAD_TIMEOUT",
)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError):
        pass
    return None


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def git_revision(repo: Path) -> str | None:
    try:
        rev = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return rev.strip() + ("+uncommitted changes in src" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def blas_info() -> dict[str, Any]:
    """NumPy's BLAS and the thread pools actually in use (threadpoolctl, when installed)."""
    import numpy as np

    info: dict[str, Any] = {}
    try:
        deps = np.show_config(mode="dicts").get("Build Dependencies", {})
        blas = deps.get("blas", {})
        info["numpy_blas"] = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # older NumPy: no dicts mode
        info["numpy_blas"] = "unknown"
    try:
        from threadpoolctl import threadpool_info

        info["threadpools"] = [
            {
                "library": p.get("internal_api"),
                "threads": p.get("num_threads"),
                "file": Path(p.get("filepath", "")).name,
            }
            for p in threadpool_info()
        ]
    except ImportError:
        info["threadpools"] = "threadpoolctl not installed"
    return info


def versions() -> dict[str, str | None]:
    import numpy as np

    import digitnet

    out: dict[str, str | None] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "digitnet": getattr(digitnet, "__version__", "?"),
    }
    for name in ("torch", "sklearn"):
        try:
            out[name] = __import__(name).__version__
        except ImportError:
            out[name] = None
    return out


def sgemm_gflops(n: int, repeats: int) -> dict[str, Any]:
    """Best-of-``repeats`` rate of an (n x n) @ (n x n) float32 product, NumPy and PyTorch
    (each with its own BLAS), in GFLOPS."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), np.float32)
    flop = 2.0 * n**3

    def best(fn) -> float:
        fn()  # warm-up: thread pool start-up
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return round(flop / min(times) / 1e9, 1)

    out: dict[str, Any] = {
        "size": n,
        "repeats": repeats,
        "numpy": best(lambda: np.matmul(a, b, out=c)),
    }
    try:
        import torch
    except ImportError:
        out["torch"] = None
    else:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        tc = torch.empty((n, n), dtype=torch.float32)
        time.sleep(0.25)  # let OpenBLAS's spinning threads sleep
        out["torch"] = best(lambda: torch.mm(ta, tb, out=tc))
    return out


def describe(threads: int, repo: Path) -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "usable_cpus": usable_cpus(),
        "memory_gb": memory_gb(),
        "os": platform.platform(),
        "threads": threads,
        "thread_env": {v: os.environ.get(v) for v in THREAD_VARS},
        "versions": versions(),
        "blas": blas_info(),
        "git": git_revision(repo),
        "load_average_at_start": load_average(),
    }
