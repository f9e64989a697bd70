"""The README's scikit-learn example runs as printed."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_grid_search_example_runs():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Use it from the ecosystem: scikit-learn", 1)[1].split("\n## ")[0]
    (code,) = re.findall(r"```python\n(.+?)\n```", section, flags=re.S)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    best, score = out.getvalue().strip().rsplit(" ", 1)
    assert "digitnetclassifier__hidden" in best
    assert float(score) >= 0.95
    printed = re.search(r"prints `(.+?)` here", section).group(1)
    assert printed.split("}")[0] == best.split("}")[0]  # the same choice as quoted
