"""digitnet: handwritten digit recognition with a neural network written from scratch in NumPy.

Importing the package loads nothing else: ``import digitnet.nn`` brings the engine (NumPy
only), :mod:`digitnet.errors` the exceptions (also reachable here, loaded on first use).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_ERRORS = (
    "CheckpointError",
    "ConfigError",
    "DataError",
    "DigitnetError",
    "DivergenceError",
    "ExportError",
    "ImageError",
    "ModelFileError",
)

__all__ = ["__version__", *_ERRORS]


def __getattr__(name: str) -> Any:
    if name in _ERRORS:
        from digitnet import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'digitnet' has no attribute {name!r}")
