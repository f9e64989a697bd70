"""Error messages: one line of at most about 200 characters, what to do last and kept whole
when a line is shortened, no command-line flag named by the library, and one list of the
exceptions."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import digitnet
from digitnet import errors
from digitnet.errors import DataError, DigitnetError, one_line

PACKAGE = Path(digitnet.__file__).parent
#: a placeholder of an f-string counted as this many characters (a path, a number)
PLACEHOLDER = 20
FLAG = re.compile(r"(?<![\w-])--[a-z]")


def test_one_line_keeps_the_hint_whole_when_it_shortens():
    exc = DataError("x" * 300, hint="do this")
    line = one_line(exc)
    assert len(line) == 200 and line.endswith("x…; do this")
    assert one_line(DataError("short", hint="do this")) == "short; do this"


def test_one_line_keeps_what_follows_the_last_semicolon_without_a_hint():
    line = one_line(ValueError("a; " + "y" * 300 + "; delete it"))
    assert len(line) == 200 and line.endswith("y…; delete it")
    line = one_line(ValueError("z" * 300))  # nothing to keep: cut at the end
    assert len(line) == 200 and line.endswith("z…")


def test_one_line_words_the_hint_as_the_caller_asks():
    exc = DataError("no files", hint="set data_dir")
    assert one_line(exc, hint="use --data-dir") == "no files; use --data-dir"
    assert one_line(exc.__class__("no files"), hint="use --data-dir") == "no files; use --data-dir"
    assert one_line(ValueError("first\nsecond")) == "first"
    assert one_line(ValueError()) == "ValueError"


def _raises(path: Path):
    """``(line, message node)`` of each ``raise SomeError(message, ...)`` in ``path``."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
            yield node.lineno, node.exc.args[0]


def _text(node: ast.AST) -> str | None:
    """A message's text, each placeholder as PLACEHOLDER dots; None when not a literal."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            v.value if isinstance(v, ast.Constant) else "." * PLACEHOLDER for v in node.values
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left), _text(node.right)
        return None if left is None or right is None else left + right
    return None


def _messages():
    for path in sorted(PACKAGE.rglob("*.py")):
        for line, node in _raises(path):
            text = _text(node)
            if text is not None:
                yield f"{path.relative_to(PACKAGE)}:{line}", text


def test_error_messages_fit_on_one_short_line():
    long = [(where, len(text)) for where, text in _messages() if len(text) > 200 or "\n" in text]
    assert long == []


#: library modules whose messages still name a flag (none now)
KNOWN_FLAGS: set[str] = set()


def test_the_library_names_no_command_line_flag():
    """Outside apps/ the messages (and the data hints) say what to do in words a Python
    caller can use too; the CLI adds its own option (apps.cli.common.hints)."""
    named = [
        (where, text)
        for where, text in _messages()
        if not where.startswith("apps/")
        and where.split(":")[0] not in KNOWN_FLAGS
        and FLAG.search(text)
    ]
    from digitnet.data import files, idx

    hints = [files.HINT_FOLDER, files.HINT_WRITABLE, idx.DEFAULT_HINT]
    assert named == [] and not any(FLAG.search(h) for h in hints)


def test_the_cli_words_every_data_hint_with_its_option():
    from digitnet.apps.cli.common import hints
    from digitnet.data import files
    from digitnet.training.mix import HINT_EXTRA

    words = hints()
    assert set(words) == {files.HINT_FOLDER, files.HINT_WRITABLE, HINT_EXTRA}
    assert "--data-dir" in words[files.HINT_FOLDER] and "--data-dir" in words[files.HINT_WRITABLE]
    assert "--extra-dir" in words[HINT_EXTRA]


def test_every_exception_is_listed_once_and_reachable_from_the_package():
    classes = {
        name
        for name, obj in vars(errors).items()
        if isinstance(obj, type) and issubclass(obj, DigitnetError)
    }
    assert set(digitnet._ERRORS) == classes
    assert errors.__all__ == [*digitnet._ERRORS, "one_line"]
    for name in classes:
        assert getattr(digitnet, name) is getattr(errors, name)


@pytest.mark.parametrize("name", digitnet._ERRORS)
def test_every_exception_has_its_own_code(name):
    codes = [getattr(errors, n).code for n in digitnet._ERRORS]
    assert codes.count(getattr(errors, name).code) == 1
