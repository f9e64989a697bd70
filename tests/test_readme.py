"""The README's promises: its test command is what CI runs, and its commands exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quick_start_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section, flags=re.S)


def test_quick_start_has_exactly_two_commands():
    commands = quick_start_commands()
    assert len(commands) == 2 and all("\n" not in c for c in commands)
    assert "digitnet train" in commands[0] and "digitnet evaluate" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert quick_start_commands()[1] in ci


def test_the_readme_engine_example_runs():
    """The README's "Use the engine directly" block: one training step on MNIST."""
    import os

    import pytest

    data_dir = os.environ.get("DIGITNET_DATA_DIR")
    if not data_dir or not any(Path(data_dir).glob("t10k-images*")):
        pytest.skip("no MNIST files (DIGITNET_DATA_DIR)")
    text = (ROOT / "README.md").read_text()
    section = text.split("**Use the engine directly**", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.+?)\n```", section, flags=re.S)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert 1.5 < scope["loss"] < 3.5                     # about log 10 before any training
    assert scope["opt"].steps == 1
