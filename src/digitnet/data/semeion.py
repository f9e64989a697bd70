"""Semeion: 1,593 digits of about 80 Italian writers (continental handwriting), scanned,
stretched to fill 16x16 and thresholded (UCI "Semeion Handwritten Digit").

A measure of how well digitnet reads another culture's handwriting, and the few-shot teaching
benchmark: **never train or tune the shipped model on it**. The file is gzip text, one digit
per line: 256 values 0/1 (row by row, 1 = ink), then the one-hot label.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from digitnet.data.checked import number_table, read_checked
from digitnet.errors import DataError

FILE = "semeion.data.gz"
COUNT = 1593
SHA256 = "79fb6b490cc6caf728920c59379ab2b3f40e81b0f4c7a6798f8493e6aba3aebe"


def load_semeion(folder: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """``(images (1593, 16, 16) uint8, 255 = ink, labels (1593,) int64)``.

    Raises
    ------
    DataError
        A missing file, a checksum or a format that is not semeion's.
    """
    path = Path(folder) / FILE
    values = number_table(read_checked(path, SHA256, "semeion"), path, "semeion", (COUNT, 266))
    onehot = values[:, 256:]
    if not np.all(onehot.sum(axis=1) == 1):
        raise DataError(f"{path}: a label is not one-hot")
    images = (values[:, :256] > 0.5).astype(np.uint8) * np.uint8(255)
    return images.reshape(-1, 16, 16), onehot.argmax(axis=1).astype(np.int64)
