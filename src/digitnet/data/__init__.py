"""Files -> arrays: the MNIST database (IDX parsing, checksums, download, splits) and the one
preprocessing step every model uses.

Typical use::

    from digitnet.data import load_mnist, to_input

    mnist = load_mnist()                    # --data-dir / DIGITNET_DATA_DIR / cache; downloads
    x = to_input(mnist.train.images)        # (50000, 1, 28, 28) float32 in [0, 1]
    y = mnist.train.labels                  # (50000,) int64
"""

from __future__ import annotations

from digitnet.data.digits import load_digits_28
from digitnet.data.download import (
    MIRRORS,
    MIRRORS_ENV_VAR,
    DownloadError,
    DownloadProgress,
    DownloadResult,
    default_mirrors,
    download_mnist,
)
from digitnet.data.files import (
    ENV_VAR,
    FILES,
    MnistFile,
    default_cache_dir,
    find_file,
    resolve_data_dir,
)
from digitnet.data.idx import IdxError, read_idx
from digitnet.data.info import format_info, mnist_info
from digitnet.data.mnist import MNIST, Split, load_mnist, split_train_val
from digitnet.data.preprocess import to_input

__all__ = [
    "ENV_VAR",
    "FILES",
    "MIRRORS",
    "MIRRORS_ENV_VAR",
    "MNIST",
    "DownloadError",
    "DownloadProgress",
    "DownloadResult",
    "IdxError",
    "MnistFile",
    "Split",
    "default_cache_dir",
    "default_mirrors",
    "download_mnist",
    "find_file",
    "format_info",
    "load_digits_28",
    "load_mnist",
    "mnist_info",
    "read_idx",
    "resolve_data_dir",
    "split_train_val",
    "to_input",
]
