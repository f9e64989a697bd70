"""The tutorial notebook (docs/tutorial.py, a Jupytext percent script) runs top to bottom in a
Jupyter kernel (nbclient), on a small subset, in well under a minute: once on MNIST when the
files are here, once on scikit-learn's digits as on a machine without them. The executed
notebook and its plots are saved in tests/artifacts/ to look at. Skipped without the `docs`
extra."""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("sklearn")
import nbformat  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
MNIST_DIR = os.environ.get("DIGITNET_DATA_DIR")
HAS_MNIST = bool(MNIST_DIR) and any(Path(MNIST_DIR).glob("t10k-images*"))


def run_notebook(env: dict[str, str], monkeypatch) -> tuple[nbformat.NotebookNode, float]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    src = str(ROOT / "src")
    monkeypatch.setenv("PYTHONPATH", src + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    # one BLAS thread: for a 784-128-10 network threads cost more than they save, and on a
    # busy machine OpenBLAS's spinning threads made an epoch 50 times slower
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    nb = jupytext.read(ROOT / "docs" / "tutorial.py")
    start = time.perf_counter()
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT / "docs")}}).execute()
    return nb, time.perf_counter() - start


def outputs(nb, kind: str) -> list:
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if kind == "image/png" and kind in out.get("data", {}):
                found.append(out["data"][kind])
            elif kind == "text" and out.get("output_type") == "stream":
                found.append(out["text"])
    return found


def save(nb, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    nbformat.write(nb, ARTIFACTS / f"{name}.ipynb")
    for i, png in enumerate(outputs(nb, "image/png")):
        (ARTIFACTS / f"{name}-plot{i}.png").write_bytes(base64.b64decode(png))


def check(nb, seconds: float, source: str, min_accuracy: float) -> None:
    text = "".join(outputs(nb, "text"))
    assert text.startswith(source), text[:200]
    assert "max |by hand - engine|" in text                  # the pass by hand, checked
    pngs = outputs(nb, "image/png")
    # digits, live loss plot, confusion matrix, first-layer weights, the drawn digit
    assert len(pngs) >= 5, len(pngs)
    accuracy = float(text.split("test accuracy ")[1].split("%")[0]) / 100
    assert accuracy >= min_accuracy, text
    assert seconds < 60, f"the notebook took {seconds:.1f} s"


@pytest.mark.skipif(not HAS_MNIST, reason="no MNIST files (DIGITNET_DATA_DIR)")
def test_the_tutorial_runs_on_an_mnist_subset(monkeypatch):
    nb, seconds = run_notebook({"DIGITNET_TUTORIAL_SUBSET": "5000"}, monkeypatch)
    save(nb, "tutorial-mnist")
    print(f"tutorial notebook on 5,000 MNIST images: {seconds:.1f} s")
    check(nb, seconds, "MNIST: 5000 training", 0.88)


def test_the_tutorial_runs_without_mnist(monkeypatch, tmp_path):
    nb, seconds = run_notebook({"DIGITNET_TUTORIAL_SUBSET": "1000",
                                "DIGITNET_DATA_DIR": str(tmp_path)}, monkeypatch)
    save(nb, "tutorial-load-digits")
    print(f"tutorial notebook on scikit-learn's digits: {seconds:.1f} s")
    check(nb, seconds, "MNIST not available", 0.85)
