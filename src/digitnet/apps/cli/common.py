"""What every command shares: the parser class, argument types that name a bad value, the
options declared once (model, output, data folder) and the helpers that turn them into
library calls."""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from digitnet.errors import DigitnetError, one_line

#: exit statuses of every command: 0 done (every input answered, "not a digit" included),
#: 1 an error (a bad file or setting; with several inputs, at least one failed and the others
#: were answered), 2 a usage error (unknown option, bad value), 130 interrupted (Ctrl+C)
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def hints() -> dict[str, str]:
    """The library's hints about its ``data_dir`` argument, as the command line words them
    (imported here when needed: :mod:`digitnet.data` loads NumPy, which must wait for
    :func:`~digitnet.apps.cli.configure_runtime`)."""
    from digitnet.data.files import ENV_VAR, HINT_FOLDER, HINT_WRITABLE
    from digitnet.training.mix import HINT_EXTRA

    return {
        HINT_FOLDER: f"point --data-dir or {ENV_VAR} at a folder with the MNIST files",
        HINT_WRITABLE: f"choose a writable folder with --data-dir or {ENV_VAR}",
        HINT_EXTRA: "give --extra-dir DIR, the folder that holds usps/ and optdigits/",
    }


def error_line(command: str, exc: BaseException) -> str:
    """``digitnet COMMAND: error: what is wrong (where); what to do``: how every command
    shows a :class:`~digitnet.errors.DigitnetError` (at most 200 characters after the
    prefix, the hint whole and last, in the command line's words)."""
    own = getattr(exc, "hint", None)
    hint = hints().get(own) if own else None
    return f"digitnet {command}: error: {one_line(exc, hint=hint)}"


class HelpFormatter(argparse.HelpFormatter):
    """Each option's default, when it has one, after its help, taken from the declaration:
    the value is written once."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        unset = action.default is None or action.default is False  # not 0: a real default
        if action.option_strings and not unset and action.default != argparse.SUPPRESS:
            text += " (default: %(default)s)"
        return text


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``digitnet train: error: ...`` and exit status 2, and
    the defaults in the help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def command(
    sub: Any, name: str, run: Callable[[argparse.Namespace], int], help: str
) -> argparse.ArgumentParser:
    """The parser of ``digitnet NAME``, which ``run(args)`` carries out: ``help`` is its line
    in ``digitnet --help``, ``run``'s docstring its description (as click does)."""
    p = sub.add_parser(name, help=help, description=inspect.cleandoc(run.__doc__ or help))
    p.set_defaults(func=run)
    return p


# -- argument types: each rejects a bad value with a message naming it ---------------------


def bounded(
    kind: type, expected: str, ok: Callable[[Any], bool], *, all_word: bool = False
) -> Callable[[str], Any]:
    """An argparse ``type``: ``kind(text)`` if ``ok`` accepts it (NaN never does), else
    "expected <expected>, got '<text>'"; with ``all_word``, ``all`` gives None."""

    def parse(text: str) -> Any:
        if all_word and text.strip().lower() == "all":
            return None
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    parse.__name__ = expected
    return parse


positive_int = bounded(int, "a positive integer", lambda v: v > 0)
non_negative_int = bounded(int, "an integer >= 0", lambda v: v >= 0)
positive_float = bounded(float, "a positive number", lambda v: 0 < v < float("inf"))
fraction = bounded(float, "a number in [0, 1]", lambda v: 0.0 <= v <= 1.0)
count_or_all = bounded(int, "a positive integer or 'all'", lambda v: v > 0, all_word=True)
top_k = bounded(int, "an integer from 1 to 10", lambda v: 1 <= v <= 10)


# -- options declared once -----------------------------------------------------------------


def add_model(
    p: argparse.ArgumentParser, *, positional: bool = False, what: str = "the model file"
) -> None:
    """``--model MODEL.npz`` (default: the shipped model); with ``positional``, the older
    spelling ``digitnet COMMAND MODEL.npz`` works too."""
    p.add_argument(
        "--model", metavar="MODEL.npz", help=f"{what} (default: the model shipped with digitnet)"
    )
    if positional:
        p.add_argument("model_arg", nargs="?", metavar="MODEL.npz", help="the same as --model")


def add_output(
    p: argparse.ArgumentParser, *, json_help: str | None = None, quiet_help: str | None = None
) -> None:
    """``--json`` and/or ``--quiet``, with the command's own help."""
    if json_help is not None:
        p.add_argument("--json", action="store_true", help=json_help)
    if quiet_help is not None:
        p.add_argument("--quiet", action="store_true", help=quiet_help)


def add_out(
    p: argparse.ArgumentParser,
    metavar: str,
    help: str = "where to save it",
    *,
    default: str | None = None,
    required: bool | None = None,
) -> None:
    """``--out``, what a command writes: by default required unless it has a default."""
    required = default is None if required is None else required
    p.add_argument("--out", metavar=metavar, default=default, required=required, help=help)


def add_seed(
    p: argparse.ArgumentParser, help: str = "random seed", default: int | None = 0
) -> None:
    p.add_argument("--seed", type=non_negative_int, default=default, metavar="S", help=help)


def add_count(
    p: argparse.ArgumentParser, flag: str, help: str, default: int | None = None, **kwargs: Any
) -> None:
    """``--FLAG N``: a positive number of things (epochs, workers, images...)."""
    kwargs.setdefault("type", positive_int)
    p.add_argument(flag, default=default, metavar="N", help=help, **kwargs)


def add_extra_dir(p: argparse.ArgumentParser) -> None:
    """``--extra-dir``: where the presets that train on other handwriting find it."""
    p.add_argument(
        "--extra-dir",
        metavar="DIR",
        help="folder holding usps/ and optdigits/, for the presets that train on them "
        "(default: beside the MNIST folder)",
    )


def add_data_dir(p: argparse.ArgumentParser, help: str | None = None) -> None:
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help=help
        or "folder with the MNIST IDX files (default: $DIGITNET_DATA_DIR, "
        "then the user cache folder, downloading there if absent)",
    )


# -- helpers -------------------------------------------------------------------------------


def model_path(args: argparse.Namespace) -> Path:
    """The model file a command should use: ``--model`` or the positional one (they must
    agree when both are given), else the shipped model."""
    given = getattr(args, "model", None)
    positional = getattr(args, "model_arg", None)
    if given is not None and positional is not None and given != positional:
        raise DigitnetError(f"two models given ({positional} and --model {given}); give one")
    chosen = given if given is not None else positional
    if chosen is None:
        from digitnet.models import shipped_model_path

        return shipped_model_path()
    return Path(chosen)


def output_file(flag: str, value: str) -> Path:
    """The path a command will write, checked before any work: its folder must exist."""
    out = Path(value)
    if not out.parent.exists():
        raise DigitnetError(
            f"{flag} {out}: folder {out.parent} does not exist; create it or choose another path"
        )
    return out


def load_data(data_dir: str | None, *, quiet: bool, **kwargs: Any):
    """MNIST from --data-dir / $DIGITNET_DATA_DIR / the cache, downloading with a progress
    bar when the files are absent."""
    from digitnet.data import DownloadProgress, load_mnist

    with DownloadProgress(enabled=False if quiet else None) as bar:
        return load_mnist(data_dir, progress=bar, **kwargs)


def print_json(obj: Any) -> None:
    print(json.dumps(obj), flush=True)


def warn(command: str, message: str) -> None:
    print(f"digitnet {command}: {message}", file=sys.stderr, flush=True)
