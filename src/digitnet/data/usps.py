"""USPS: 9,298 handwritten digits scanned from US envelopes, 16x16 grey (another source of
handwriting than MNIST, for measuring how the models generalise; never shipped, never
trained on its test split).

The files are those of "The Elements of Statistical Learning" (``zip.train.gz``,
``zip.test.gz``: one digit per line, the label then 256 values in [-1, 1], -1 background, +1
full ink). :func:`load_usps` verifies their SHA-256 and returns uint8 images with MNIST's
convention: 0 background, 255 ink.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np

from digitnet.errors import DataError

FILES = {"train": ("zip.train.gz", 7291,
                   "66ebf231ab51f2cf6ac1a892d0f98ccffee1079d7a5db638c1f11f366046ca16"),
         "test": ("zip.test.gz", 2007,
                  "8dacc3c6e136af6c3488de9e5113a7daf140c8c2f1f0b61c54ee02f03f1a962f")}


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
    if not path.is_file():
        raise DataError(f"{path}: USPS file not found (the folder should hold {name})")
    raw = path.read_bytes()
    if hashlib.sha256(raw).hexdigest() != sha:
        raise DataError(f"{path}: checksum mismatch: not the USPS file expected")
    try:
        values = np.loadtxt(gzip.decompress(raw).decode().splitlines(), dtype=np.float64)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not USPS's format ({exc})") from None
    if values.shape != (count, 257):
        raise DataError(f"{path}: expected {count} lines of 257 numbers, got {values.shape}")
    labels = values[:, 0].astype(np.int64)
    images = np.rint((np.clip(values[:, 1:], -1, 1) + 1) * 127.5).astype(np.uint8)
    return images.reshape(-1, 16, 16), labels
