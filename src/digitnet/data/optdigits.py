"""optdigits: 2,880 digits of 30 writers in Istanbul (UCI "Optical Recognition of Handwritten
Digits", the 32x32 bitmaps of its training and validation parts): continental handwriting
(flagged 1s with a foot, crossed 7s, closed 4s) that **may be used for training**.

Each file is gzip text: optional header lines, then per digit 32 lines of 32 characters
``0``/``1`` (1 = ink) and a line with the label. UCI's writer-independent test part is kept
for verification elsewhere and is not read here.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from digitnet.data.checked import read_checked
from digitnet.errors import DataError

FILES = {
    "train": (
        "optdigits-orig.tra.gz",
        1934,
        "874349ce2105e02b6ee045d96eccccc50795a3a5c69cb7b31e77cc5b8bebd1d3",
    ),
    "cv": (
        "optdigits-orig.cv.gz",
        946,
        "71b953369a050e2350d9a6934d6cb2df70284128bdf9dddd3024aab76c16d356",
    ),
}


def _parse(text: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Blocks of 32 bitmap lines followed by a label line; anything else is header."""
    lines = [ln.strip() for ln in text.splitlines()]
    images, labels, rows = [], [], []
    for ln in lines:
        if len(ln) == 32 and set(ln) <= {"0", "1"}:
            rows.append(ln)
        elif len(rows) == 32 and ln.isdigit() and len(ln) == 1:
            images.append(np.frombuffer("".join(rows).encode(), np.uint8) - ord("0"))
            labels.append(int(ln))
            rows = []
        elif rows:
            raise DataError(
                f"{path}: a bitmap of {len(rows)} rows is followed by {ln[:40]!r}; "
                "expected 32 rows and a label"
            )
    if rows:
        raise DataError(f"{path}: the file ends inside a bitmap")
    return (np.stack(images).reshape(-1, 32, 32) * np.uint8(255), np.array(labels, dtype=np.int64))


def load_optdigits(
    folder: str | os.PathLike, split: str = "train"
) -> tuple[np.ndarray, np.ndarray]:
    """One part, ``"train"`` (1,934 digits), ``"cv"`` (946, the same writers) or ``"all"``:
    ``(images (N, 32, 32) uint8, 255 = ink, labels (N,) int64)``.

    Raises
    ------
    DataError
        Unknown split, a missing file, a checksum or a format that is not optdigits'.
    """
    if split == "all":
        parts = [load_optdigits(folder, s) for s in FILES]
        return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    if split not in FILES:
        raise DataError(f"optdigits split must be one of train, cv, all, got {split!r}")
    name, count, sha = FILES[split]
    path = Path(folder) / name
    text = read_checked(path, sha, "optdigits").decode("ascii", "replace")
    images, labels = _parse(text, path)
    if len(labels) != count:
        raise DataError(f"{path}: expected {count} digits, found {len(labels)}")
    return images, labels
