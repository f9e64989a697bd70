"""Writing files so that a crash never leaves a half-written one under its final name, and
so that two processes never write one at once."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from digitnet.errors import BusyError

if sys.platform != "win32":
    import fcntl


def atomic_write(path: str | os.PathLike, write) -> None:
    """Call ``write(fileobj)`` on a temporary file beside ``path``, then rename it into place.

    On any error the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a saved file is not secret
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class FileLock:
    """An exclusive lock on ``path`` for this process, so that two processes never write it
    at once: the sidecar file ``.NAME.lock`` beside it, locked with ``flock(2)`` and holding
    the holder's process id. The kernel releases the lock when its process ends, however it
    ends, so a killed run leaves no stale lock; :meth:`release` also removes the sidecar.

    ``FileLock(path).acquire()`` raises :class:`~digitnet.errors.BusyError` at once, naming the
    holder's process id, when another process holds the lock; it is also a context manager.
    Without ``fcntl`` (Windows) it locks nothing.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(f".{self.path.name}.lock")
        self._fd: int | None = None

    def acquire(self) -> FileLock:
        if sys.platform == "win32" or self._fd is not None:
            return self
        while True:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
                os.close(fd)
                raise BusyError(
                    f"{self.path} is being written by another process "
                    f"(pid {holder or 'unknown'}, lock {self.lock_path.name}); wait for it to "
                    "end, or write elsewhere",
                    subject=str(self.path),
                ) from None
            except BaseException:
                os.close(fd)
                raise
            if _same_file(fd, self.lock_path):
                break
            os.close(fd)  # its holder released and removed it meanwhile: lock the new one
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Remove the sidecar and unlock (in that order: a process that opened the old
        sidecar meanwhile sees that it is gone and locks a new one)."""
        if self._fd is None:
            return
        try:
            self.lock_path.unlink()
        except FileNotFoundError:
            pass
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
