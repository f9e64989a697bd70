"""A dependency-free progress bar for long-running steps (training, downloads, evaluation).

It draws on stderr only when stderr is a terminal, so piped output and ``--json`` stay clean.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """A single-line progress bar: ``label [#####.....] 512/1000 3.2s``.

    Parameters
    ----------
    total : int
        Number of steps (or bytes) expected; 0 or less draws a counter without a bar.
    label : str
        Text shown before the bar.
    stream : file, optional
        Where to draw; defaults to ``sys.stderr``.
    enabled : bool, optional
        Force drawing on or off; by default it draws only on a terminal.
    """

    def __init__(
        self,
        total: int,
        label: str = "",
        *,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        width: int = 30,
        unit: str = "",
    ) -> None:
        self.total = int(total)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = enabled
        self.width = width
        self.unit = unit
        self.count = 0
        self.start = time.perf_counter()
        self._last_draw = 0.0

    def update(self, n: int = 1) -> None:
        """Advance by ``n`` steps and redraw at most ten times a second."""
        self.count += n
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last_draw >= 0.1 or self.count >= self.total > 0:
            self._last_draw = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = now - self.start
        if self.total > 0:
            frac = min(self.count / self.total, 1.0)
            filled = int(round(frac * self.width))
            bar = "#" * filled + "." * (self.width - filled)
            text = (
                f"\r{self.label} [{bar}] {self._fmt(self.count)}/{self._fmt(self.total)} "
                f"{elapsed:.1f}s"
            )
        else:
            text = f"\r{self.label} {self._fmt(self.count)} {elapsed:.1f}s"
        self.stream.write(text)
        self.stream.flush()

    def _fmt(self, n: int) -> str:
        if self.unit == "B":
            return f"{n / 1e6:.1f}MB"
        return str(n)

    def close(self) -> None:
        """Erase the bar so the next line of output starts clean."""
        if self.enabled:
            self.stream.write("\r" + " " * (len(self.label) + self.width + 40) + "\r")
            self.stream.flush()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
