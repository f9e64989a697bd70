"""The exceptions digitnet raises for problems a user can fix, and the one way to show one.

The CLI turns any :class:`DigitnetError` into a one-line message on stderr and a non-zero
exit status, the web app into an HTTP 4xx answer with ``{"detail", "code"}``; anything else
is a bug and keeps its traceback. Messages say what is wrong, where (the file, option or
field: also kept as ``subject``), and, last, what to do; they never name a command-line flag
(the library is called from Python too).
"""

from __future__ import annotations

from digitnet import _ERRORS  # the package's one list of these names (it loads nothing)

#: the longest line :func:`one_line` returns
MAX_LINE = 200


class DigitnetError(Exception):
    """Base class: a problem with the user's input, files or settings.

    ``subject`` is what the problem is about (a file path, an option, a field), when known;
    ``hint`` what to do, when given apart (it ends the message: ``"what is wrong; hint"``),
    so that an interface can word it its own way (the CLI names its option);
    ``code`` a stable machine-readable kind, the same for every message of a class (the web
    page branches on it, never on the text).
    """

    code = "error"

    def __init__(
        self, message: str = "", *, subject: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(f"{message}; {hint}" if hint else message)
        self.subject = subject
        self.hint = hint or None


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


class PixelsError(DigitnetError, ValueError):
    """A digit given as pixel values that are not 28x28 (or 784) finite numbers in 0-255."""

    code = "bad_pixels"


class ExportError(DigitnetError):
    """A model that cannot be exported (a layer with no ONNX form, a missing package)."""

    code = "export"


class CheckpointError(DigitnetError):
    """A training checkpoint that is missing, damaged, too new, or of another run."""

    code = "checkpoint"


class BusyError(DigitnetError):
    """A file that another process is writing (it holds the file's lock)."""

    code = "busy"


def one_line(exc: BaseException, limit: int = MAX_LINE, *, hint: str | None = None) -> str:
    """The first line of ``exc``'s message (its class name when it has none), at most
    ``limit`` characters: how every error is shown to a person.

    ``hint`` replaces the error's own ``hint`` (an interface's wording of what to do). A line
    too long is shortened before its hint, which is kept whole: the hint is the error's
    ``hint``, else what follows its last ``"; "`` (the "what is wrong; what to do"
    convention), when that is short; otherwise the line is cut at the end. A cut is marked
    with an ellipsis.
    """
    text = str(exc).strip()
    line = text.splitlines()[0].strip() if text else type(exc).__name__
    own = getattr(exc, "hint", None)
    tail = own if isinstance(own, str) and line.endswith("; " + own) else None
    if hint:
        line = (line[: -len(tail)] if tail else line + "; ") + hint
        tail = hint
    if len(line) <= limit:
        return line
    if tail is None and "; " in line:
        tail = line.rpartition("; ")[2]
    if tail and len(tail) <= limit // 2:
        room = limit - len(tail) - len("…; ")
        return line[: len(line) - len(tail) - 2][:room].rstrip() + "…; " + tail
    return line[: limit - 1].rstrip() + "…"


__all__ = [*_ERRORS, "one_line"]
