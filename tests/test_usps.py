"""The USPS loader (a second source of handwriting, for measuring only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from digitnet.data.usps import load_usps
from digitnet.errors import DataError

USPS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "usps"


@pytest.mark.skipif(not (USPS / "zip.test.gz").is_file(), reason="needs ../shared/datasets/usps")
def test_the_test_split_loads_verified_with_mnists_conventions():
    images, labels = load_usps(USPS, "test")
    assert images.shape == (2007, 16, 16) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [359, 264, 198, 166, 200, 160, 170, 147, 166, 177]
    assert images.min() == 0 and images.max() == 255
    assert (images[:, 0, :] == 0).mean() > 0.5          # background 0, as in MNIST


def test_bad_folders_and_files_are_one_line(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_usps(tmp_path)
    (tmp_path / "zip.test.gz").write_bytes(b"not usps")
    with pytest.raises(DataError, match="checksum"):
        load_usps(tmp_path)
    with pytest.raises(DataError, match="split"):
        load_usps(tmp_path, "validation")
