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
    assert (images[:, 0, :] == 0).mean() > 0.5  # background 0, as in MNIST


def test_bad_folders_and_files_are_one_line(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_usps(tmp_path)
    (tmp_path / "zip.test.gz").write_bytes(b"not usps")
    with pytest.raises(DataError, match="checksum"):
        load_usps(tmp_path)
    with pytest.raises(DataError, match="split"):
        load_usps(tmp_path, "validation")


@pytest.mark.skipif(not (USPS / "zip.test.gz").is_file(), reason="needs ../shared/datasets/usps")
def test_usps_digits_become_what_the_network_sees_of_a_users_16x16_file():
    """usps_as_read is the reading of each digit saved as a 16x16 image file (what
    `digitnet predict` does with it), not a plain resize."""
    import io

    from PIL import Image

    from digitnet.data.usps import usps_as_read
    from digitnet.imaging.images import to_mnist

    images, _ = load_usps(USPS, "test")
    read = usps_as_read(images[:20])
    assert read.shape == (20, 28, 28) and read.dtype == np.uint8
    buf = io.BytesIO()
    Image.fromarray(255 - images[3]).save(buf, format="PNG")
    assert np.array_equal(read[3], to_mnist(buf.getvalue()))
    assert usps_as_read(images[:0]).shape == (0, 28, 28)


def test_usps_train_is_appended_to_the_training_split_only(monkeypatch, digits_data):
    from digitnet.data import usps

    rng = np.random.default_rng(0)
    fake = np.zeros((5, 16, 16), np.uint8)
    fake[:, 3:13, 6:10] = rng.integers(180, 256, size=(5, 10, 4))  # five bars: 1s
    monkeypatch.setattr(usps, "load_usps", lambda folder, split: (fake, np.ones(5, np.int64)))
    data = usps.add_usps_train(digits_data, "somewhere")
    n = len(digits_data.train.labels)
    assert len(data.train.labels) == n + 5 and data.train.labels[n:].tolist() == [1] * 5
    assert np.array_equal(data.train.images[:n], digits_data.train.images)
    assert data.val is digits_data.val and data.test is digits_data.test
    assert data.checksums["zip.train.gz"] == usps.FILES["train"][2]
    assert not data.train.images.flags.writeable
