"""Reading the other digit sets' files (USPS, semeion, optdigits): each must be present and
have its published checksum, and parse as its format; otherwise one DataError line names the
file and what is wrong."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np

from digitnet.errors import DataError


def read_checked(path: Path, sha256: str, what: str) -> bytes:
    """The gunzipped content of ``path``, the ``what`` file (e.g. "USPS"), once its SHA-256
    is ``sha256``."""
    if not path.is_file():
        raise DataError(f"{path}: {what} file not found (the folder should hold {path.name})")
    raw = path.read_bytes()
    if hashlib.sha256(raw).hexdigest() != sha256:
        raise DataError(f"{path}: checksum mismatch: not the {what} file expected")
    return gzip.decompress(raw)  # a file with the expected checksum decompresses


def number_table(data: bytes, path: Path, what: str, shape: tuple[int, int]) -> np.ndarray:
    """``data``, lines of numbers, as a float64 array of ``shape`` (rows, numbers a line)."""
    try:
        values = np.loadtxt(data.decode().splitlines(), dtype=np.float64)
    except ValueError as exc:  # not UTF-8, or not numbers
        raise DataError(f"{path}: not {what}'s format ({exc})") from None
    if values.shape != shape:
        raise DataError(
            f"{path}: expected {shape[0]} lines of {shape[1]} numbers, got {values.shape}"
        )
    return values
