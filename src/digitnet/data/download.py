"""Download the MNIST files from public mirrors, verified, into the data folder.

Each missing file is streamed into a temporary file in the target folder, its ``.gz`` MD5 and
decompressed SHA-256 are checked, and only then is it renamed into place (``os.replace`` is
atomic), so an interrupted or corrupted download never leaves a file that looks valid. A mirror
that fails (unreachable, HTTP error, timeout, bad checksum) is skipped for the next one.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TextIO

from digitnet import __version__
from digitnet.data.files import (
    FILES,
    HINT_FOLDER,
    HINT_WRITABLE,
    MnistFile,
    describe_source,
    find_file,
    resolve_data_dir,
)
from digitnet.data.idx import IdxError, check_sha256, decompress, parse_idx
from digitnet.errors import ConfigError, DataError
from digitnet.progress import ProgressBar

MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
"""Public mirrors, tried in order; the original site comes last (it often refuses bots)."""

MIRRORS_ENV_VAR = "DIGITNET_MIRRORS"
"""Comma-separated base URLs that replace :data:`MIRRORS` (a local or company mirror, or a
``file:///`` folder)."""


def default_mirrors() -> tuple[str, ...]:
    """``$DIGITNET_MIRRORS`` split on commas when set, else the public :data:`MIRRORS`."""
    env = os.environ.get(MIRRORS_ENV_VAR, "").strip()
    if env:
        return tuple(
            m.strip() if m.strip().endswith("/") else m.strip() + "/"
            for m in env.split(",")
            if m.strip()
        )
    return MIRRORS


ProgressCallback = Callable[[int, int, str], None]
"""``progress(bytes_done, bytes_total, filename)``; ``bytes_total`` is 0 when unknown."""

_CHUNK = 1 << 16
# What a failing mirror can raise: URLError/HTTPError/timeouts/resets are OSError;
# IncompleteRead and friends are HTTPException; a malformed mirror URL is a ValueError.
_NETWORK_ERRORS = (OSError, http.client.HTTPException, ValueError)


class DownloadError(DataError):
    """A file that no mirror could provide.

    Attributes
    ----------
    spec : MnistFile
        The file concerned.
    folder : Path
        Where it was to be written.
    failures : list of str
        One ``"url (reason)"`` entry per mirror tried.
    reasons : list of str
        The distinct reasons, in the order met (what the message shows).
    """

    def __init__(
        self, spec: MnistFile, folder: Path, failures: list[str], reasons: list[str] | None = None
    ) -> None:
        self.spec, self.folder, self.failures = spec, folder, failures
        self.reasons = list(dict.fromkeys(reasons or failures))
        super().__init__(
            f"could not download {spec.gz_name} into {folder} ({self.summary()})",
            subject=str(folder),
            hint=HINT_FOLDER,
        )

    def summary(self, limit: int = 60) -> str:
        """The first reason, at most ``limit`` characters, and how many mirrors failed."""
        first = self.reasons[0] if self.reasons else "no mirror"
        first = first if len(first) <= limit else first[: limit - 1].rstrip() + "…"
        n = len(self.failures)
        return first if n <= 1 else f"{first}; {n} mirrors"


class _MirrorFailed(Exception):
    """One mirror failed for one file; ``unreachable`` means skip it for later files too."""

    def __init__(self, reason: str, *, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.unreachable = reason, unreachable


@dataclass(frozen=True)
class DownloadResult:
    """What :func:`download_mnist` did.

    Attributes
    ----------
    data_dir : Path
        The folder the files are in.
    source : str
        Where the folder came from (see :func:`~digitnet.data.resolve_data_dir`).
    downloaded : tuple of Path
        Files fetched by this call.
    present : tuple of Path
        Files that were already there (left untouched, not re-verified).
    """

    data_dir: Path
    source: str
    downloaded: tuple[Path, ...]
    present: tuple[Path, ...]


def download_mnist(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    mirrors: Sequence[str] | None = None,
    files: Mapping[str, MnistFile] = FILES,
    progress: ProgressCallback | None = None,
    timeout: float = 30,
) -> DownloadResult:
    """Download the MNIST files missing from the data folder.

    Parameters
    ----------
    data_dir : path, optional
        Target folder; by default resolved like :func:`~digitnet.data.resolve_data_dir`.
        Created if needed.
    mirrors : sequence of str, optional
        Base URLs tried in order; a file's URL is ``mirror + name + ".gz"``. Default:
        :func:`default_mirrors` (``$DIGITNET_MIRRORS``, else the public mirrors).
    files : mapping of str to MnistFile
        The files to get, with their checksums (tests pass small synthetic tables).
    progress : callable, optional
        ``progress(bytes_done, bytes_total, filename)`` called as bytes arrive; pass a
        :class:`DownloadProgress` to draw progress bars.
    timeout : float
        Seconds to wait for a connection or for data before giving up on a mirror.

    Returns
    -------
    DownloadResult

    Raises
    ------
    DownloadError
        Every mirror failed for a file (the files already fetched are kept).
    DataError
        The folder cannot be created or written.
    """
    if mirrors is None:
        mirrors = default_mirrors()
    _check_download_args(mirrors, timeout, progress)
    folder, source = resolve_data_dir(data_dir)
    present: list[Path] = []
    downloaded: list[Path] = []
    unreachable: dict[str, str] = {}  # mirror -> reason; not retried for the following files
    created: list[Path] = []  # folders this call made, deepest last
    try:
        for spec in files.values():
            found = find_file(folder, spec)
            if found is not None:
                present.append(found)
                continue
            created = created or _make_folder(folder, source)
            downloaded.append(_download_file(spec, folder, mirrors, unreachable, progress, timeout))
    except BaseException:
        _remove_empty(created)  # a failed download leaves no empty cache folder behind
        raise
    return DownloadResult(folder, source, tuple(downloaded), tuple(present))


def _check_download_args(
    mirrors: Sequence[str], timeout: float, progress: ProgressCallback | None
) -> None:
    if isinstance(mirrors, str) or not mirrors or not all(isinstance(m, str) for m in mirrors):
        raise ConfigError(f"mirrors must be a non-empty sequence of URLs, got {mirrors!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ConfigError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if progress is not None and not callable(progress):
        raise ConfigError(f"progress must be a callable or None, got {progress!r}")


def _make_folder(folder: Path, source: str) -> list[Path]:
    """Create ``folder`` and its missing parents; return those it created, outermost first."""
    new = [p for p in (folder, *folder.parents) if not p.exists()][::-1]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        _remove_empty(new)
        raise DataError(
            f"cannot create the data folder {folder} ({describe_source(source)}): "
            f"{e.strerror or e}",
            subject=str(folder),
            hint=HINT_WRITABLE,
        ) from None
    return new


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders of ``folders`` (outermost first) that are empty, deepest first."""
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:  # not empty (a file was kept) or already gone: leave it
            return


def _download_file(
    spec: MnistFile,
    folder: Path,
    mirrors: Sequence[str],
    unreachable: dict[str, str],
    progress: ProgressCallback | None,
    timeout: float,
) -> Path:
    """Try each mirror in turn for one file; return its final path."""
    failures, reasons = [], []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + spec.gz_name
        if mirror in unreachable:
            failures.append(f"{url} (skipped, unreachable: {unreachable[mirror]})")
            reasons.append(unreachable[mirror])
            continue
        try:
            return _fetch_verified(url, spec, folder, progress, timeout)
        except _MirrorFailed as e:
            failures.append(f"{url} ({e.reason})")
            reasons.append(e.reason)
            if e.unreachable:
                unreachable[mirror] = e.reason
    raise DownloadError(spec, folder, failures, reasons)


def _fetch_verified(
    url: str, spec: MnistFile, folder: Path, progress: ProgressCallback | None, timeout: float
) -> Path:
    """Stream ``url`` to a temp file in ``folder``, verify it, rename it into place."""
    try:
        tmp = tempfile.NamedTemporaryFile(
            dir=folder, prefix=f".{spec.gz_name}.", suffix=".part", delete=False
        )
    except OSError as e:
        raise DataError(
            f"cannot write into the data folder {folder}: {e.strerror or e}",
            subject=str(folder),
            hint=HINT_WRITABLE,
        ) from None
    tmp_path = Path(tmp.name)
    try:
        with tmp:
            md5 = _stream(url, tmp, spec.gz_name, progress, timeout)
            tmp.flush()
            os.fsync(tmp.fileno())
        _verify(tmp_path, md5, spec)
        os.chmod(tmp_path, 0o644)  # NamedTemporaryFile creates 0600
        dest = folder / spec.gz_name
        os.replace(tmp_path, dest)
    except OSError as e:  # network errors were turned into _MirrorFailed: this one is local
        tmp_path.unlink(missing_ok=True)
        raise DataError(
            f"cannot write {folder / spec.gz_name}: {e.strerror or e}; free some space",
            subject=str(folder / spec.gz_name),
            hint=HINT_WRITABLE,
        ) from None
    except BaseException:  # including KeyboardInterrupt: never leave a partial file behind
        tmp_path.unlink(missing_ok=True)
        raise
    return dest


def _stream(
    url: str, out: IO[bytes], name: str, progress: ProgressCallback | None, timeout: float
) -> str:
    """Copy the body of ``url`` into ``out``; return its MD5 hex digest."""
    try:
        request = urllib.request.Request(url, headers={"User-Agent": f"digitnet/{__version__}"})
        response = urllib.request.urlopen(request, timeout=timeout)
    except _NETWORK_ERRORS as e:
        raise _failure(e, timeout) from None
    md5 = hashlib.md5(usedforsecurity=False)
    with response:
        total = _content_length(response)
        done = 0
        if progress is not None:
            progress(0, total, name)
        while True:
            try:
                chunk = response.read(_CHUNK)
            except _NETWORK_ERRORS as e:
                raise _failure(e, timeout) from None
            if not chunk:
                break
            md5.update(chunk)
            out.write(chunk)  # a local write error (disk full) is not the mirror's fault
            done += len(chunk)
            if progress is not None:
                progress(done, total, name)
    return md5.hexdigest()


def _content_length(response: http.client.HTTPResponse) -> int:
    try:
        return max(int(response.headers.get("Content-Length") or 0), 0)
    except ValueError:
        return 0


def _failure(error: BaseException, timeout: float) -> _MirrorFailed:
    """Turn a network exception into a short reason."""
    if isinstance(error, urllib.error.HTTPError):
        error.close()
        return _MirrorFailed(f"HTTP {error.code} {error.reason}")
    if isinstance(error, urllib.error.URLError) and isinstance(error.reason, BaseException):
        error = error.reason  # the socket error behind it: refused, DNS failure, timeout
    if isinstance(error, TimeoutError):
        return _MirrorFailed(f"no response within {timeout:g} s", unreachable=True)
    if isinstance(error, urllib.error.URLError):
        return _MirrorFailed(str(error.reason), unreachable=True)
    if isinstance(error, OSError):
        return _MirrorFailed(error.strerror or str(error) or type(error).__name__, unreachable=True)
    return _MirrorFailed(f"{type(error).__name__}: {error}")


def _verify(path: Path, md5: str, spec: MnistFile) -> None:
    """Check the archive MD5 and the decompressed content (format and SHA-256)."""
    if spec.gz_md5 is not None and md5 != spec.gz_md5.lower():
        raise _MirrorFailed(f"md5 of the download is {md5}, expected {spec.gz_md5}")
    try:
        data = decompress(path.read_bytes(), source=path.name, hint="")
        parse_idx(data, source=path.name, spec=spec, hint="")
        check_sha256(data, spec.sha256, source=path.name, hint="")
    except IdxError as e:
        raise _MirrorFailed(f"bad content: {e.problem}") from None


class DownloadProgress:
    """A download ``progress`` callback that draws one :class:`ProgressBar` per file.

    Use it as a context manager so the last bar is erased::

        with DownloadProgress() as bar:
            download_mnist(progress=bar)

    Parameters
    ----------
    stream : file, optional
        Where to draw (default ``sys.stderr``).
    enabled : bool, optional
        Force drawing on or off; by default only on a terminal.
    """

    def __init__(self, *, stream: TextIO | None = None, enabled: bool | None = None) -> None:
        self.stream, self.enabled = stream, enabled
        self._bar: ProgressBar | None = None
        self._name: str | None = None

    def __call__(self, done: int, total: int, name: str) -> None:
        if self._bar is None or name != self._name:
            self.close()
            self._bar = ProgressBar(
                total, f"downloading {name}", stream=self.stream, enabled=self.enabled, unit="B"
            )
            self._name = name
        self._bar.update(done - self._bar.count)

    def close(self) -> None:
        """Erase the current bar, if any."""
        if self._bar is not None:
            self._bar.close()
        self._bar, self._name = None, None

    def __enter__(self) -> DownloadProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
