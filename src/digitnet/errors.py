"""The exceptions digitnet raises for problems a user can fix, and the one way to show one.

The CLI turns any :class:`DigitnetError` into a one-line message on stderr and a non-zero
exit status, the web app into an HTTP 4xx answer with ``{"detail", "code"}``; anything else
is a bug and keeps its traceback. Messages say what is wrong, where (the file, option or
field: also kept as ``subject``), and, last, what to do; they never name a command-line flag
(the library is called from Python too).
"""

from __future__ import annotations

#: the longest line :func:`one_line` returns
MAX_LINE = 200


class DigitnetError(Exception):
    """Base class: a problem with the user's input, files or settings.

    ``subject`` is what the problem is about (a file path, an option, a field), when known;
    ``code`` a stable machine-readable kind, the same for every message of a class (the web
    page branches on it, never on the text).
    """

    code = "error"

    def __init__(self, message: str = "", *, subject: str | None = None) -> None:
        super().__init__(message)
        self.subject = subject


class ConfigError(DigitnetError, ValueError):
    """An invalid argument, option or hyper-parameter."""

    code = "bad_setting"


class DataError(DigitnetError):
    """MNIST files missing, unreadable, malformed or failing their checksum."""

    code = "data"


class ModelFileError(DigitnetError):
    """A model file that is missing, truncated, corrupted, foreign or too new."""

    code = "model_file"


class DivergenceError(DigitnetError):
    """Training produced a non-finite loss (usually a learning rate that is too high)."""

    code = "diverged"


class ImageError(DigitnetError):
    """A user image that cannot be read or contains no digit."""

    code = "bad_image"


class NoInkError(ImageError):
    """An image with nothing on it: blank, uniform, too faint, or only specks."""

    code = "no_ink"


class ExportError(DigitnetError):
    """A model that cannot be exported (a layer with no ONNX form, a missing package)."""

    code = "export"


class CheckpointError(DigitnetError):
    """A training checkpoint that is missing, damaged, too new, or of another run."""

    code = "checkpoint"


def one_line(exc: BaseException, limit: int = MAX_LINE) -> str:
    """The first line of ``exc``'s message (its class name when it has none), at most
    ``limit`` characters (cut with an ellipsis): how every error is shown to a person."""
    text = str(exc).strip()
    line = text.splitlines()[0].strip() if text else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataError",
    "DigitnetError",
    "DivergenceError",
    "ExportError",
    "ImageError",
    "ModelFileError",
    "one_line",
]
