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
    candidates = [Path(os.environ["DIGITNET_DATA_DIR"])] if os.environ.get("DIGITNET_DATA_DIR") \
        else []
    candidates.append(SHARED_MNIST)
    for folder in candidates:
        if _has_all_files(folder):
            return folder
    pytest.skip("needs the MNIST files: not found in "
                + " or ".join(str(c) for c in candidates)
                + "; set DIGITNET_DATA_DIR to a folder with the four IDX files")


@pytest.fixture(scope="session")
def mnist(mnist_dir: Path) -> MNIST:
    """The real MNIST, default split (50,000 / 10,000 / 10,000), loaded without network.

    Its arrays are read-only, so tests cannot alter what the others see.
    """
    return load_mnist(mnist_dir, download=False)
