"""Load MNIST as arrays: find (or download) the files, verify them, split train/validation."""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitnet.data.download import DownloadError, ProgressCallback, download_mnist
from digitnet.data.files import (
    ENV_VAR,
    FILES,
    HINT_FOLDER,
    SOURCE_CACHE,
    SOURCE_ENV,
    MnistFile,
    find_file,
    missing_files,
    resolve_data_dir,
)
from digitnet.data.idx import check_sha256, parse_idx, read_file_bytes
from digitnet.errors import ConfigError, DataError

VAL_SPLITS = ("last", "random")
ROLES = ("train_images", "train_labels", "test_images", "test_labels")


#: validation images held out from the end of the training file (the seeds' 50k/10k split)
DEFAULT_VAL_SIZE = 10000


@dataclass(frozen=True, eq=False)
class Split:
    """Images and their labels.

    Attributes
    ----------
    images : np.ndarray
        ``(N, 28, 28)`` uint8, as stored in the files (see :func:`~digitnet.data.to_input`).
    labels : np.ndarray
        ``(N,)`` int64 digits 0-9.
    """

    images: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        if self.images.ndim != 3 or self.labels.ndim != 1 or len(self.images) != len(self.labels):
            raise ConfigError(
                f"images must be (N, H, W) and labels (N,), got "
                f"{self.images.shape} and {self.labels.shape}"
            )

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True, eq=False)
class MNIST:
    """The MNIST database split three ways. Its arrays are read-only: copy before editing.

    Attributes
    ----------
    train : Split
        The training file minus the validation images (50,000 by default).
    val : Split
        Validation images taken from the training file (10,000 by default; may be empty).
    test : Split
        The 10,000 test images (t10k files); never used for model selection.
    data_dir : Path
        The folder the files were read from.
    checksums : dict of str to str
        File name -> SHA-256 of its decompressed content.
    """

    train: Split
    val: Split
    test: Split
    data_dir: Path
    checksums: dict[str, str]


def load_mnist(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    val_size: int = DEFAULT_VAL_SIZE,
    val_split: str = "last",
    seed: int | np.random.Generator = 0,
    download: bool = True,
    progress: ProgressCallback | None = None,
    files: Mapping[str, MnistFile] = FILES,
    mirrors: Sequence[str] | None = None,
) -> MNIST:
    """Load MNIST, downloading the files first if they are absent.

    Parameters
    ----------
    data_dir : path, optional
        Folder with the four IDX files (``.gz`` or raw); by default ``$DIGITNET_DATA_DIR``,
        then the user cache folder (see :func:`~digitnet.data.resolve_data_dir`).
    val_size : int, default :data:`DEFAULT_VAL_SIZE` (10000)
        Number of training-file images held out for validation; 0 for none.
    val_split : {"last", "random"}
        ``"last"`` holds out the last ``val_size`` images of the training file (the classic
        50,000/10,000 split); ``"random"`` draws them with ``np.random.default_rng(seed)``.
    seed : int or np.random.Generator, default 0
        Randomness for ``val_split="random"``.
    download : bool, default True
        Download missing files (verified) into the data folder.
    progress : callable, optional
        Download progress callback, see :func:`~digitnet.data.download_mnist`.
    files, mirrors
        The file table and mirror list (tests inject small synthetic ones).

    Returns
    -------
    MNIST
        ``train``, ``val`` and ``test`` splits: images ``(N, 28, 28)`` uint8, labels ``(N,)``
        int64, all read-only; both subsets of the training file keep the file order.

    Raises
    ------
    ConfigError
        Invalid argument.
    DataError
        Files missing (and not downloadable), malformed or failing their checksum.
    """
    _check_load_args(val_size, val_split, seed, download, files)
    folder, source = resolve_data_dir(data_dir)
    paths = _locate(folder, source, files, download, progress, mirrors)
    arrays, checksums = _read_files(paths, files, _hint(source))
    train, val = split_train_val(
        arrays["train_images"],
        arrays["train_labels"],
        val_size=val_size,
        val_split=val_split,
        seed=seed,
    )
    test = Split(arrays["test_images"], arrays["test_labels"])
    return MNIST(train, val, test, folder, checksums)


def split_train_val(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    val_size: int,
    val_split: str = "last",
    seed: int | np.random.Generator = 0,
) -> tuple[Split, Split]:
    """Hold out ``val_size`` of ``images``/``labels`` ``(N, 28, 28)``/``(N,)`` for validation.

    Returns read-only ``(train, val)``; each keeps the original order of its items.
    """
    n = len(labels)
    train_idx: slice | np.ndarray
    val_idx: slice | np.ndarray
    if not 0 <= val_size < n:
        raise ConfigError(
            f"val_size must be between 0 and {n - 1} (the training file holds "
            f"{n} images), got {val_size}"
        )
    if val_split == "last":
        train_idx, val_idx = slice(0, n - val_size), slice(n - val_size, n)
    else:
        order = np.random.default_rng(seed).permutation(n)
        val_idx, train_idx = np.sort(order[:val_size]), np.sort(order[val_size:])
    return (
        Split(_frozen(images[train_idx]), _frozen(labels[train_idx])),
        Split(_frozen(images[val_idx]), _frozen(labels[val_idx])),
    )


def _check_load_args(
    val_size: object,
    val_split: object,
    seed: object,
    download: object,
    files: Mapping[str, MnistFile],
) -> None:
    if sorted(files) != sorted(ROLES):
        raise ConfigError(f"files must have the keys {', '.join(ROLES)}, got {sorted(files)}")
    n_train = files["train_images"].shape[0]
    if (
        isinstance(val_size, bool)
        or not isinstance(val_size, numbers.Integral)
        or not 0 <= int(val_size) < n_train
    ):
        raise ConfigError(
            f"val_size must be an integer between 0 and {n_train - 1} (the "
            f"training file holds {n_train} images), got {val_size!r}"
        )
    if val_split not in VAL_SPLITS:
        raise ConfigError(f"val_split must be 'last' or 'random', got {val_split!r}")
    if not isinstance(seed, np.random.Generator) and (
        isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0
    ):
        raise ConfigError(f"seed must be a non-negative integer or a numpy Generator, got {seed!r}")
    if not isinstance(download, bool):
        raise ConfigError(f"download must be True or False, got {download!r}")


def _locate(
    folder: Path,
    source: str,
    files: Mapping[str, MnistFile],
    download: bool,
    progress: ProgressCallback | None,
    mirrors: Sequence[str] | None,
) -> dict[str, Path]:
    """Path of each file, downloading the missing ones if allowed."""
    missing = missing_files(folder, files.values())
    if missing and download:
        try:
            download_mnist(folder, mirrors=mirrors, files=files, progress=progress)
        except DownloadError as e:
            raise _missing(
                folder, source, missing, f"the download failed ({e.summary()})"
            ) from None
    elif missing:
        raise _missing(folder, source, missing, "downloading is off")
    paths: dict[str, Path] = {}
    for role, spec in files.items():
        path = find_file(folder, spec)
        if path is None:  # removed since it was downloaded
            raise _missing(folder, source, [spec], "it was removed")
        paths[role] = path
    return paths


def _missing(folder: Path, source: str, missing: list[MnistFile], why: str) -> DataError:
    """``no MNIST files in FOLDER and the download failed (reason); HINT`` (or the file
    missing, or how many), one line of at most about 200 characters."""
    where = f"{folder}" + (f" ({ENV_VAR})" if source == SOURCE_ENV else "")
    if len(missing) == 1:
        what = f"MNIST file {missing[0].name} missing from {where}"
    elif len(missing) == len(ROLES):
        what = f"no MNIST files in {where}"
    else:
        what = f"{len(missing)} MNIST files missing from {where}"
    return DataError(f"{what} and {why}", subject=str(folder), hint=HINT_FOLDER)


def _read_files(
    paths: Mapping[str, Path], files: Mapping[str, MnistFile], hint: str
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Parse and verify each file; labels become int64. All arrays are read-only."""
    arrays, checksums = {}, {}
    for role, spec in files.items():
        data = read_file_bytes(paths[role], hint=hint)
        array = parse_idx(data, source=paths[role], spec=spec, hint=hint)
        checksums[spec.name] = check_sha256(data, spec.sha256, source=paths[role], hint=hint)
        if spec.kind == "labels":
            if array.size and array.max() > 9:
                raise DataError(
                    f"{paths[role]}: label {array.max()} found, labels must be 0-9; {hint}"
                )
            array = _frozen(array.astype(np.int64))
        arrays[role] = array
    return arrays, checksums


def _hint(source: str) -> str:
    """What to do about a bad file, depending on who chose its folder."""
    if source == SOURCE_CACHE:
        return "delete it: the next load downloads it again"
    if source == SOURCE_ENV:
        return f"replace it with the official file, or point {ENV_VAR} at the official files"
    return "replace it with the official file, or use a folder with the official files"


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array
