"""USPS: 9,298 handwritten digits scanned from US envelopes, 16x16 grey (another source of
handwriting than MNIST, for measuring how the models generalise; never shipped, never
trained on its test split; its training split may be added to MNIST's training digits with
``digitnet train --add-usps DIR``, :func:`add_usps_train`).

The files are those of "The Elements of Statistical Learning" (``zip.train.gz``,
``zip.test.gz``: one digit per line, the label then 256 values in [-1, 1], -1 background, +1
full ink). :func:`load_usps` verifies their SHA-256 and returns uint8 images with MNIST's
convention: 0 background, 255 ink.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from digitnet.data.checked import number_table, read_checked
from digitnet.errors import DataError

FILES = {
    "train": (
        "zip.train.gz",
        7291,
        "66ebf231ab51f2cf6ac1a892d0f98ccffee1079d7a5db638c1f11f366046ca16",
    ),
    "test": (
        "zip.test.gz",
        2007,
        "8dacc3c6e136af6c3488de9e5113a7daf140c8c2f1f0b61c54ee02f03f1a962f",
    ),
}


def load_usps(folder: str | os.PathLike, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """One USPS split: ``(images (N, 16, 16) uint8, 0 = background, labels (N,) int64)``.

    Raises
    ------
    DataError
        Unknown split, a missing file, a checksum or format that is not USPS's.
    """
    if split not in FILES:
        raise DataError(f"USPS split must be one of {', '.join(FILES)}, got {split!r}")
    name, count, sha = FILES[split]
    path = Path(folder) / name
    values = number_table(read_checked(path, sha, "USPS"), path, "USPS", (count, 257))
    labels = values[:, 0].astype(np.int64)
    images = np.rint((np.clip(values[:, 1:], -1, 1) + 1) * 127.5).astype(np.uint8)
    return images.reshape(-1, 16, 16), labels


def usps_as_read(images: np.ndarray) -> np.ndarray:
    """USPS digits ``(N, 16, 16)`` uint8 as the network sees them when a user gives them as
    image files: each saved as a 16x16 dark-on-white picture and read by the preprocessing
    of ``digitnet predict`` (:func:`digitnet.imaging.images.to_mnist`) -> ``(N, 28, 28)``."""
    from PIL import Image

    from digitnet.imaging.images import to_mnist

    return (
        np.stack([to_mnist(Image.fromarray(255 - d)) for d in images])
        if len(images)
        else np.zeros((0, 28, 28), np.uint8)
    )


def add_usps_train(data, folder: str | os.PathLike):
    """``data`` (:class:`digitnet.data.MNIST`) with USPS's 7,291 training digits, as read
    (:func:`usps_as_read`), appended to its training split; the USPS file's checksum joins
    ``data.checksums``. Validation and test stay MNIST's."""
    import dataclasses

    from digitnet.data.mnist import Split

    images, labels = load_usps(folder, "train")
    read = usps_as_read(images)
    train = Split(
        np.concatenate([data.train.images, read]), np.concatenate([data.train.labels, labels])
    )
    for a in (train.images, train.labels):
        a.flags.writeable = False
    return dataclasses.replace(
        data, train=train, checksums={**data.checksums, FILES["train"][0]: FILES["train"][2]}
    )
