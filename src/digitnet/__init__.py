"""digitnet: handwritten digit recognition with a neural network written from scratch in NumPy."""

from __future__ import annotations

__version__ = "0.1.0"

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
