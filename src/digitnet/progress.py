"""Progress bars for long-running steps (training, downloads, evaluation, adapting): a thin
wrapper over tqdm, so every bar of digitnet looks and behaves the same.

A bar draws on stderr only when stderr is a terminal, so piped output and ``--json`` stay
clean; disabled, it costs nothing.
"""

from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm


class ProgressBar:
    """One progress bar: ``label  45%|####      | 512/1000 [00:03<00:04, 150it/s]``.

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
    unit : str
        ``"B"`` counts bytes (shown as kB, MB); anything else counts steps.
    """

    def __init__(
        self,
        total: int,
        label: str = "",
        *,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        unit: str = "",
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = enabled
        self.total = int(total)
        self._bar = tqdm(
            total=self.total if self.total > 0 else None,
            desc=label,
            file=self.stream,
            disable=not enabled,
            leave=False,
            unit="B" if unit == "B" else "it",
            unit_scale=unit == "B",
            dynamic_ncols=True,
            mininterval=0.1,
        )

    @property
    def count(self) -> int:
        return int(self._bar.n)

    def update(self, n: int = 1) -> None:
        """Advance by ``n`` steps (the bar is drawn at once when it reaches its total)."""
        self._bar.update(n)
        if self.enabled and self._bar.total and self._bar.n >= self._bar.total:
            self._bar.refresh()

    def set(self, done: int, total: int) -> None:
        """Show ``done`` of ``total`` (for callbacks that report both)."""
        if total != self._bar.total:
            self._bar.total = total
        self.update(done - self._bar.n)

    def note(self, text: str) -> None:
        """Text after the bar (e.g. the time left of the whole run)."""
        self._bar.set_postfix_str(text, refresh=False)

    def close(self) -> None:
        """Erase the bar so the next line of output starts clean."""
        self._bar.close()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
