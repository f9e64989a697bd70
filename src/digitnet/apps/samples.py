"""A person's labelled samples of handwriting, kept for teaching a model (``digitnet adapt``).

The store is one SQLite database in the user's data folder (``$DIGITNET_SAMPLES``, else
``$XDG_DATA_HOME/digitnet/samples.sqlite``, else ``~/.local/share/digitnet/...``), in WAL
mode so that several processes (the web server's workers) add samples at once without
losing any. Each sample is the image as sent (PNG bytes) and its digit. Nothing is created
until a sample is added. ``digitnet samples export DIR`` writes them as an ImageFolder
(``DIR/<digit>/<id>.png``), which ``digitnet adapt DIR`` reads.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

import numpy as np

from digitnet.errors import ConfigError, DigitnetError

SCHEMA = """CREATE TABLE IF NOT EXISTS samples (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    digit INTEGER NOT NULL CHECK (digit BETWEEN 0 AND 9),
    image BLOB NOT NULL,
    created TEXT NOT NULL DEFAULT (datetime('now')))"""


def default_path() -> Path:
    if os.environ.get("DIGITNET_SAMPLES"):
        return Path(os.environ["DIGITNET_SAMPLES"])
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "digitnet" / "samples.sqlite"


class SampleStore:
    """The samples database at ``path`` (default: :func:`default_path`)."""

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(SCHEMA)
        return db

    def add(self, digit: int, image: bytes) -> int:
        """Store one sample (the image file's bytes); returns its id."""
        if isinstance(digit, bool) or not isinstance(digit, int) or not 0 <= digit <= 9:
            raise ConfigError(f"a sample's digit must be 0-9, got {digit!r}")
        db = self._connect()
        try:
            with db:
                cur = db.execute(
                    "INSERT INTO samples (digit, image) VALUES (?, ?)",
                    (digit, sqlite3.Binary(image)),
                )
            return int(cur.lastrowid)
        finally:
            db.close()

    def delete(self, sample_id: int | None = None) -> int:
        """Remove the sample ``sample_id``, or every sample when None; returns how many
        were removed (0 for an id that is not there)."""
        if not self.path.exists():
            return 0
        db = self._connect()
        try:
            with db:
                cur = (
                    db.execute("DELETE FROM samples")
                    if sample_id is None
                    else db.execute("DELETE FROM samples WHERE id = ?", (int(sample_id),))
                )
            return int(cur.rowcount)
        finally:
            db.close()

    def counts(self) -> list[int]:
        """Samples per digit, 0 to 9 (all zero when the store does not exist yet)."""
        if not self.path.exists():
            return [0] * 10
        db = self._connect()
        try:
            rows = db.execute("SELECT digit, COUNT(*) FROM samples GROUP BY digit").fetchall()
        finally:
            db.close()
        out = [0] * 10
        for digit, n in rows:
            out[digit] = n
        return out

    def load(self) -> tuple[np.ndarray, np.ndarray, str]:
        """Every sample as the network's input: ``(images (N, 28, 28) uint8, labels (N,),
        sha256 of the stored images)``; N is 0 when nothing is kept yet."""
        from digitnet.imaging.images import to_mnist

        images, labels, digest = [], [], hashlib.sha256()
        if self.path.exists():
            db = self._connect()
            try:
                rows = db.execute("SELECT id, digit, image FROM samples ORDER BY id").fetchall()
            finally:
                db.close()
            for sample_id, digit, image in rows:
                try:
                    images.append(to_mnist(bytes(image)))
                except DigitnetError as exc:
                    raise ConfigError(
                        f"{self.path}: sample {sample_id} cannot be read ({exc})"
                    ) from None
                labels.append(int(digit))
                digest.update(bytes(image))
        return (
            np.stack(images) if images else np.zeros((0, 28, 28), np.uint8),
            np.array(labels, dtype=np.int64),
            digest.hexdigest(),
        )

    def export(self, folder: str | os.PathLike) -> int:
        """Write every sample as ``folder/<digit>/<id>.png`` (built beside ``folder`` and
        renamed into place; ``folder`` must not exist); returns the count."""
        out = Path(folder)
        if out.exists():
            raise ConfigError(f"{out} already exists: export into a new folder")
        if not out.parent.is_dir():
            raise ConfigError(f"{out}: folder {out.parent} does not exist")
        if not self.path.exists():
            raise ConfigError(
                f"no samples yet ({self.path} does not exist): press \"that's "
                'wrong" on the `digitnet serve` page to keep some'
            )
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
        db = self._connect()
        try:
            n = 0
            for sample_id, digit, image in db.execute("SELECT id, digit, image FROM samples"):
                (tmp / str(digit)).mkdir(exist_ok=True)
                (tmp / str(digit) / f"{sample_id}.png").write_bytes(image)
                n += 1
            os.replace(tmp, out)
            return n
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        finally:
            db.close()
