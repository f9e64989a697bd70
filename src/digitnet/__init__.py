"""digitnet: handwritten digit recognition with a neural network written from scratch in NumPy.

Importing the package loads nothing else: ``import digitnet.nn`` brings the engine (NumPy
only), :mod:`digitnet.errors` the exceptions (also reachable here, loaded on first use).
"""

from __future__ import annotations

from typing import Any


def _version() -> str:
    """The installed distribution's version (pyproject.toml is its one source); running from
    a source tree that was never installed gives "0+unknown"."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("digitnet")
    except PackageNotFoundError:
        return "0+unknown"


__version__ = _version()

#: the exceptions of :mod:`digitnet.errors`, reachable here too (that module's ``__all__``)
_ERRORS = (
    "BusyError",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "DigitnetError",
    "DivergenceError",
    "ExportError",
    "ImageError",
    "ModelFileError",
    "NoInkError",
    "PixelsError",
)

__all__ = ["__version__", *_ERRORS]


def __getattr__(name: str) -> Any:
    if name in _ERRORS:
        from digitnet import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'digitnet' has no attribute {name!r}")
