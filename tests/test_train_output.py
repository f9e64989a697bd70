"""What `digitnet train` shows as it goes: piped to a file, the start line at once and each
epoch's line as the epoch ends; on a terminal, a progress bar with "Epoch k/N" and the time
left of the whole run. Deterministic: the epochs are counted as they start, and each piece of
output is tagged with the count at the moment it reached the pipe."""

from __future__ import annotations

import io
import sys

import pytest

from digitnet.apps.cli import common, main
from digitnet.training import loop


class Pipe(io.RawIOBase):
    """The raw end of a pipe: records each chunk that reaches it, with the number of epochs
    started by then."""

    def __init__(self, started: list[int]) -> None:
        self.started, self.chunks = started, []

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.chunks.append((bytes(b).decode(), len(self.started)))
        return len(b)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def started(monkeypatch, digits_data):
    """Train on scikit-learn's digits (no MNIST needed); the list grows as epochs start."""
    begun: list[int] = []
    epoch = loop._train_epoch

    def counting(*args, **kwargs):
        begun.append(1)
        return epoch(*args, **kwargs)

    monkeypatch.setattr(loop, "_train_epoch", counting)
    monkeypatch.setattr(common, "load_data", lambda *args, **kwargs: digits_data)
    return begun


def train(tmp_path, *extra: str) -> int:
    return main(
        ["train", "--preset", "relu-128-64", "--epochs", "3", "--out", str(tmp_path / "m.npz")]
        + list(extra)
    )


def test_piped_the_start_line_comes_at_once_and_each_epoch_as_it_ends(
    tmp_path, monkeypatch, started
):
    pipe = Pipe(started)
    # what a pipe gives a Python process: block-buffered text, not a terminal
    stdout = io.TextIOWrapper(io.BufferedWriter(pipe, buffer_size=1 << 16), encoding="utf-8")
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stdout", stdout)
    monkeypatch.setattr(sys, "stderr", stderr)
    assert train(tmp_path) == 0
    stdout.flush()
    lines = [(line, n) for text, n in pipe.chunks for line in text.splitlines()]
    assert lines[0][0].startswith("Training preset 'relu-128-64' on 1,200 MNIST images")
    assert lines[0][1] == 0  # in the pipe before the first epoch began
    epochs = [(line, n) for line, n in lines if line.startswith("Epoch ")]
    assert [line.split(":")[0] for line, _ in epochs] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    assert [n for _, n in epochs] == [1, 2, 3]  # each in the pipe before the next began
    assert all(" / 297  train loss " in line for line, _ in epochs)
    assert lines[-1][0] == f"Saved {tmp_path / 'm.npz'}"
    assert stderr.getvalue() == ""  # no progress bar when stderr is not a terminal


def test_on_a_terminal_the_bar_shows_the_epoch_and_the_run_time_left(
    tmp_path, monkeypatch, capsys, started
):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert train(tmp_path) == 0
    drawn = terminal.getvalue()
    for k in (1, 2, 3):
        assert f"Epoch {k}/3" in drawn
    assert "run ~" in drawn and "s left" in drawn
    assert "Epoch 3/3: " in capsys.readouterr().out  # the lines themselves go to stdout
