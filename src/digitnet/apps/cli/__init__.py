"""The ``digitnet`` command: a thin adapter that parses arguments, calls the library and
prints. One module per group of commands, each with ``add_arguments(sub)`` and its
``run_*(args)`` functions; the options they share are declared once in
:mod:`~digitnet.apps.cli.common`.

Exit statuses (every command): 0 done, every input answered ("not a digit" is an answer);
1 an error (a bad file or setting; with several inputs, some failed and the rest were
answered); 2 a usage error; 130 interrupted. Errors are one line on stderr:
``digitnet COMMAND: error: what is wrong (where); what to do``.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

from digitnet import __version__
from digitnet.apps.cli.common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE, Parser, format_epoch
from digitnet.errors import ConfigError, DigitnetError, one_line

#: the command groups' modules, in the order ``digitnet --help`` lists them (imported when the
#: parser is built: some load NumPy, which must come after :func:`configure_runtime`)
GROUPS = ("train", "checker", "evaluate", "models", "serve", "read", "data")


def build_parser() -> Parser:
    parser = Parser(
        prog="digitnet",
        description="Handwritten digit recognition with a "
        "neural network written from scratch in NumPy.",
    )
    parser.add_argument("--version", action="version", version=f"digitnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in GROUPS:
        importlib.import_module(f"digitnet.apps.cli.{name}").add_arguments(sub)
    return parser


def configure_runtime() -> None:
    """The engine's threads, set explicitly: OpenBLAS's short thread wait before NumPy loads
    (see :mod:`digitnet.nn.runtime`; a value already in the environment is kept), then
    ``DIGITNET_THREADS`` (a bad value is a one-line error)."""
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "18")  # runtime.BLAS_THREAD_TIMEOUT
    value = os.environ.get("DIGITNET_THREADS", "").strip()
    if value:
        from digitnet.nn.runtime import parse_threads, set_threads

        try:
            set_threads(parse_threads(value))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    try:
        configure_runtime()  # before anything loads NumPy
    except DigitnetError as exc:
        print(f"digitnet: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.func(args)
    except DigitnetError as exc:
        print(f"digitnet {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"digitnet {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_ERROR


__all__ = ["build_parser", "configure_runtime", "format_epoch", "main"]

if __name__ == "__main__":
    sys.exit(main())
