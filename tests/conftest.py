"""Shared fixtures: where the real MNIST files are, and MNIST loaded once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from digitnet.data import FILES, MNIST, find_file, load_mnist

# ../shared/datasets/mnist relative to the repository root (see DESIGN.md).
SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mnist"


def _has_all_files(folder: Path) -> bool:
    return folder.is_dir() and all(find_file(folder, spec) for spec in FILES.values())


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """A folder with the four official MNIST files: ``$DIGITNET_DATA_DIR``, else
    ``../shared/datasets/mnist``; the test is skipped when neither has them."""
    candidates = (
        [Path(os.environ["DIGITNET_DATA_DIR"])] if os.environ.get("DIGITNET_DATA_DIR") else []
    )
    candidates.append(SHARED_MNIST)
    for folder in candidates:
        if _has_all_files(folder):
            return folder
    pytest.skip(
        "needs the MNIST files: not found in "
        + " or ".join(str(c) for c in candidates)
        + "; set DIGITNET_DATA_DIR to a folder with the four IDX files"
    )


@pytest.fixture(scope="session")
def mnist(mnist_dir: Path) -> MNIST:
    """The real MNIST, default split (50,000 / 10,000 / 10,000), loaded without network.

    Its arrays are read-only, so tests cannot alter what the others see.
    """
    return load_mnist(mnist_dir, download=False)


# -- small trained models and a report on real handwriting, without the MNIST files --------


@pytest.fixture(scope="session")
def digits_data() -> MNIST:
    """scikit-learn's 1,797 handwritten digits as 28x28 MNIST-style splits (1,200 train /
    297 validation / 300 test); skipped without scikit-learn."""
    pytest.importorskip("sklearn")
    from digitnet.data import Split, load_digits_28

    images, labels = load_digits_28()
    images.flags.writeable = False
    parts = [Split(images[a:b], labels[a:b]) for a, b in ((0, 1200), (1200, 1497), (1497, 1797))]
    return MNIST(*parts, data_dir=Path("sklearn-digits"), checksums={"digits": "0" * 64})


@pytest.fixture(scope="session")
def digits_mlp(digits_data):
    """relu-128-64 trained for 3 epochs on the digits (about 90% on their test split), with
    the metadata `digitnet train` records."""
    from digitnet.training.jobs import train_preset

    return train_preset("relu-128-64", digits_data, seed=0, epochs=3, progress=False)


@pytest.fixture(scope="session")
def digits_report(digits_mlp, digits_data, tmp_path_factory) -> Path:
    """The report folder of :func:`digits_mlp` (written once per session)."""
    from digitnet.report import ReportConfig, write_report

    out = tmp_path_factory.mktemp("reports") / "mlp"
    write_report(
        digits_mlp,
        digits_data,
        out,
        model_path="digits-mlp.npz",
        config=ReportConfig(robustness_images=150, gallery=12),
        progress=False,
    )
    return out
