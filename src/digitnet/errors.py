"""The exceptions digitnet raises for problems a user can fix.

The CLI turns any :class:`DigitnetError` into a one-line message on stderr and a
non-zero exit status; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class DigitnetError(Exception):
    """Base class: a problem with the user's input, files or settings."""


class ConfigError(DigitnetError, ValueError):
    """An invalid argument, option or hyper-parameter."""


class DataError(DigitnetError):
    """MNIST files missing, unreadable, malformed or failing their checksum."""


class ModelFileError(DigitnetError):
    """A model file that is missing, truncated, corrupted, foreign or too new."""


class DivergenceError(DigitnetError):
    """Training produced a non-finite loss (usually a learning rate that is too high)."""


class ImageError(DigitnetError):
    """A user image that cannot be read or contains no digit."""


class ExportError(DigitnetError):
    """A model that cannot be exported (a layer with no ONNX form, a missing package)."""


class CheckpointError(DigitnetError):
    """A training checkpoint that is missing, damaged, too new, or of another run."""
