"""Small synthetic IDX files and file tables for the data-layer tests."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np

from digitnet.data import MnistFile

NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def idx_bytes(
    array: np.ndarray, *, magic: bytes | None = None, dims: tuple[int, ...] | None = None
) -> bytes:
    """IDX content of a uint8 array; ``magic``/``dims`` override the header to make bad files."""
    array = np.asarray(array, dtype=np.uint8)
    dims = array.shape if dims is None else dims
    magic = bytes([0, 0, 0x08, len(dims)]) if magic is None else magic
    header = magic + b"".join(d.to_bytes(4, "big") for d in dims)
    return header + array.tobytes()


def gz(data: bytes) -> bytes:
    """Deterministic gzip (fixed mtime), so MD5s of archives are stable."""
    return gzip.compress(data, mtime=0)


def spec_for(name: str, array: np.ndarray, *, gz_md5: bool = False) -> MnistFile:
    """A file table entry matching ``array`` (its sha256, and optionally its .gz md5)."""
    data = idx_bytes(array)
    md5 = hashlib.md5(gz(data)).hexdigest() if gz_md5 else None
    return MnistFile(name, array.shape, hashlib.sha256(data).hexdigest(), md5)


def make_arrays(n_train: int = 60, n_test: int = 20, seed: int = 0) -> dict[str, np.ndarray]:
    """Random images whose pixels (0, 0) and (0, 1) encode the item's index; labels 0-9."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        images[:, 0, 0], images[:, 0, 1] = np.arange(n) // 256, np.arange(n) % 256
        arrays[f"{split}_images"] = images
        arrays[f"{split}_labels"] = rng.integers(0, 10, size=n, dtype=np.uint8)
    return arrays


def image_ids(images: np.ndarray) -> np.ndarray:
    """Recover the indices encoded by :func:`make_arrays`."""
    return images[:, 0, 0].astype(np.int64) * 256 + images[:, 0, 1]


def table_for(arrays: dict[str, np.ndarray], *, gz_md5: bool = False) -> dict[str, MnistFile]:
    return {role: spec_for(NAMES[role], arrays[role], gz_md5=gz_md5) for role in NAMES}


def write_mnist(
    folder: Path, arrays: dict[str, np.ndarray], *, compress: bool = True, dotted: bool = False
) -> dict[str, MnistFile]:
    """Write the four files into ``folder``; return the matching file table."""
    folder.mkdir(parents=True, exist_ok=True)
    table = table_for(arrays)
    for role, spec in table.items():
        name = spec.name.replace("-idx", ".idx") if dotted else spec.name
        data = idx_bytes(arrays[role])
        if compress:
            (folder / f"{name}.gz").write_bytes(gz(data))
        else:
            (folder / name).write_bytes(data)
    return table
