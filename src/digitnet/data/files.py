"""The four MNIST files: what they are (names, shapes, checksums) and where to find them.

The data folder is resolved in this order: an explicit argument (``data_dir``), the
``DIGITNET_DATA_DIR`` environment variable, then the user cache folder
(``$XDG_CACHE_HOME/digitnet/mnist``, by default ``~/.cache/digitnet/mnist``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from digitnet.errors import ConfigError

ENV_VAR = "DIGITNET_DATA_DIR"

#: Where a data folder came from, as returned by :func:`resolve_data_dir` (identifiers kept
#: stable for ``mnist_info``'s JSON: the first is the CLI's name for the ``data_dir`` argument)
SOURCE_ARGUMENT = "--data-dir"
SOURCE_ENV = ENV_VAR
SOURCE_CACHE = "cache"

_SOURCE_TEXT = {
    SOURCE_ARGUMENT: "the folder given",
    SOURCE_ENV: f"from {ENV_VAR}",
    SOURCE_CACHE: "the default cache folder",
}

#: what to do when the MNIST files are neither in the data folder nor downloadable, and when
#: the folder cannot be written: the ``hint`` of those errors (an interface may word it its
#: own way: the CLI names its --data-dir option)
HINT_FOLDER = f"point data_dir or {ENV_VAR} at a folder with the MNIST files"
HINT_WRITABLE = f"choose a writable data folder (data_dir or {ENV_VAR})"


@dataclass(frozen=True)
class MnistFile:
    """One IDX file of the database and what its content must be.

    Parameters
    ----------
    name : str
        Decompressed file name, e.g. ``"train-images-idx3-ubyte"``.
    shape : tuple of int
        Array shape the header must announce: ``(N, 28, 28)`` for images, ``(N,)`` for labels.
    sha256 : str or None
        SHA-256 of the *decompressed* content; None for a file with no known checksum
        (synthetic test data).
    gz_md5 : str or None
        MD5 of the official ``.gz`` archive, checked on downloads only (copies of the data may
        be re-compressed, which changes the archive but not its content).
    """

    name: str
    shape: tuple[int, ...]
    sha256: str | None
    gz_md5: str | None = None

    @property
    def ndim(self) -> int:
        """Number of dimensions: 3 for images, 1 for labels."""
        return len(self.shape)

    @property
    def kind(self) -> str:
        """``"images"`` or ``"labels"``."""
        return "images" if self.ndim == 3 else "labels"

    @property
    def gz_name(self) -> str:
        """Name of the compressed file, as published by the mirrors."""
        return self.name + ".gz"

    @property
    def nbytes(self) -> int:
        """Size of the decompressed file: 4-byte magic, 4 bytes per dimension, then the data."""
        return 4 + 4 * self.ndim + math.prod(self.shape)

    def candidates(self) -> tuple[str, ...]:
        """File names accepted for this file, in the order they are looked for.

        The compressed and raw forms of the official name, then the same with the common
        variant spelling ``train-images.idx3-ubyte``.
        """
        head, sep, tail = self.name.rpartition("-idx")
        names = [self.gz_name, self.name]
        if sep:
            dotted = f"{head}.idx{tail}"
            names += [dotted + ".gz", dotted]
        return tuple(names)


FILES: Mapping[str, MnistFile] = MappingProxyType(
    {
        "train_images": MnistFile(
            "train-images-idx3-ubyte",
            (60000, 28, 28),
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        ),
        "train_labels": MnistFile(
            "train-labels-idx1-ubyte",
            (60000,),
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "d53e105ee54ea40749a09fcbcd1e9432",
        ),
        "test_images": MnistFile(
            "t10k-images-idx3-ubyte",
            (10000, 28, 28),
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "9fb629c4189551a2d022fa330f9573f3",
        ),
        "test_labels": MnistFile(
            "t10k-labels-idx1-ubyte",
            (10000,),
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            "ec29112dd5afa0611ce80d1b7f02629c",
        ),
    }
)
"""The official files, keyed by role: ``train_images``, ``train_labels``, ``test_images``,
``test_labels``. Functions that take a ``files`` table expect these four keys."""


def official_spec(filename: str) -> MnistFile | None:
    """The official file a name refers to (any accepted spelling), or None."""
    for spec in FILES.values():
        if filename in spec.candidates():
            return spec
    return None


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/digitnet/mnist``, or ``~/.cache/digitnet/mnist``.

    A relative ``XDG_CACHE_HOME`` is ignored, as the XDG specification requires.
    """
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "digitnet" / "mnist"


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> tuple[Path, str]:
    """Choose the MNIST folder: ``data_dir``, then ``$DIGITNET_DATA_DIR``, then the cache.

    Parameters
    ----------
    data_dir : path, optional
        Explicit folder; wins when given.

    Returns
    -------
    folder : Path
        Absolute path of the folder (it may not exist yet).
    source : str
        Where it came from: :data:`SOURCE_ARGUMENT`, :data:`SOURCE_ENV` or
        :data:`SOURCE_CACHE`.
    """
    if data_dir is not None:
        if not isinstance(data_dir, str | os.PathLike) or not os.fspath(data_dir):
            raise ConfigError(f"data_dir must be a folder path, got {data_dir!r}")
        return Path(data_dir).expanduser().absolute(), SOURCE_ARGUMENT
    env = os.environ.get(ENV_VAR, "")
    if env.strip():
        return Path(env).expanduser().absolute(), SOURCE_ENV
    return default_cache_dir().absolute(), SOURCE_CACHE


def describe_source(source: str) -> str:
    """Human text for a folder source, e.g. ``"from DIGITNET_DATA_DIR"``."""
    return _SOURCE_TEXT.get(source, source)


def find_file(folder: Path, spec: MnistFile) -> Path | None:
    """The first accepted spelling of ``spec`` present in ``folder``, or None."""
    for name in spec.candidates():
        path = folder / name
        if path.is_file():
            return path
    return None


def missing_files(folder: Path, files: Iterable[MnistFile]) -> list[MnistFile]:
    """The files of ``files`` that :func:`find_file` cannot find in ``folder``."""
    return [spec for spec in files if find_file(folder, spec) is None]
