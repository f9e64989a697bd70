"""digitnet: handwritten digit recognition with a neural network written from scratch in NumPy."""

from __future__ import annotations

import os as _os
import sys as _sys

__version__ = "0.1.0"

#: OpenBLAS's idle threads spin for 2**28 cycles (~0.1 s) after each matrix product, holding
#: a core that digitnet's element-wise work could use (:mod:`digitnet.nn.parallel`); 2**18
#: cycles (~0.1 ms) still bridges the gaps between products. Read by OpenBLAS when NumPy is
#: first imported, so it only takes effect if digitnet is imported first (the CLI always is);
#: a value already in the environment is kept.
OPENBLAS_THREAD_TIMEOUT = "18"
#: True when OpenBLAS's threads wait briefly (the setting above, or the user's own): only
#: then does splitting element-wise work over threads pay (see digitnet.nn.parallel).
BLAS_WAIT_SET = "OPENBLAS_THREAD_TIMEOUT" in _os.environ or "numpy" not in _sys.modules
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", OPENBLAS_THREAD_TIMEOUT)

from digitnet.errors import (  # noqa: E402
    ConfigError,
    DataError,
    DigitnetError,
    DivergenceError,
    ImageError,
    ModelFileError,
)

__all__ = [
    "__version__",
    "ConfigError",
    "DataError",
    "DigitnetError",
    "DivergenceError",
    "ImageError",
    "ModelFileError",
]
