"""The command line run as a user runs it, for the tests: ``python -m digitnet`` in a
subprocess, with this checkout's ``src`` first on the import path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run ``python -m digitnet ARGS`` (the environment plus ``env``); returns the finished
    process with its text output."""
    full_env = dict(os.environ, **(env or {}))
    full_env["PYTHONPATH"] = SRC + os.pathsep + full_env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "digitnet", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )
