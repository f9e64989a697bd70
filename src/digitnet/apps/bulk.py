"""Reading large archives: every image of a folder, a .zip or .tar(.gz) archive or a list of
paths, on every core or on a Dask cluster, streamed to a JSON Lines (or CSV) file that a
rerun resumes.

- :func:`items` lists the images of a source: a folder (walked recursively, in sorted order,
  symbolic links that lead out of it refused), an archive (members with absolute paths,
  ``..`` or links refused; members larger than :data:`MAX_MEMBER` refused), or a text file
  with one path or fsspec URL (``s3://bucket/key.jpg``) per line (relative paths from the
  list's folder); the workers read each image where it is.
- :func:`read_items` reads a batch of them with :func:`digitnet.reading.recognise.recognise`
  (the model loaded once per process) and returns one record per image; an image that
  cannot be read gives a record with ``error`` and never stops the run.
- :class:`Results` is the output file: records appended and flushed as they come; on a rerun
  the keys already answered are skipped (a line torn by a kill is dropped first). It is
  locked while open (:class:`~digitnet.files.FileLock`): a second run on the same file stops
  at once with :class:`~digitnet.errors.BusyError`, naming the process that holds it.
- :func:`run` maps :func:`read_items` over batches with local processes
  (``concurrent.futures``) or Dask's distributed scheduler, writing in order of completion.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import multiprocessing
import os
import tarfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from digitnet.errors import ConfigError, DigitnetError, one_line
from digitnet.files import FileLock, atomic_write

#: archive members larger than this (unpacked) are refused: no photo is that large
MAX_MEMBER = 64 * 1024 * 1024
FIELDS = ("path", "number", "confidence", "digits", "error", "reason")


@dataclass(frozen=True)
class Item:
    """One image to read: ``key`` names it in the results (a path, or ``archive:member``);
    ``where`` says how to get its bytes: ``("file", path)``, ``("zip", archive, member)``,
    ``("url", fsspec URL)``, ``("bytes", data)`` or ``("error", message)`` for an entry
    refused while listing."""

    key: str
    where: tuple


def items(source: str | os.PathLike) -> Iterator[Item]:
    """The images of ``source``: a folder, a .zip, a .tar / .tar.gz / .tgz, or a text file
    listing paths. Raises ConfigError when the source itself is unusable."""
    src = Path(source)
    if src.is_dir():
        yield from _folder(src)
    elif not src.is_file():
        raise ConfigError(f"{src}: no such folder, archive or list of paths")
    elif zipfile.is_zipfile(src):
        yield from _zip(src)
    elif _is_tar(src):
        yield from _tar(src)
    else:
        yield from _listed(src)


def _folder(root: Path) -> Iterator[Item]:
    real_root = root.resolve()
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = Path(folder) / name
            key = str(path.relative_to(root))
            if path.is_symlink() and not path.resolve().is_relative_to(real_root):
                yield Item(key, ("error", "a symbolic link out of the source folder: skipped"))
            else:
                yield Item(key, ("file", str(path)))


def _safe_member(name: str) -> str | None:
    """Why an archive member name is refused, or None."""
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "an absolute path in the archive: refused"
    if ".." in p.parts:
        return "a path with '..' in the archive: refused"
    return None


def _zip(archive: Path) -> Iterator[Item]:
    try:
        with zipfile.ZipFile(archive) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise ConfigError(f"{archive}: not a readable zip archive ({exc})") from None
    for info in infos:
        if info.is_dir():
            continue
        key = f"{archive.name}:{info.filename}"
        bad = _safe_member(info.filename)
        if bad is None and info.file_size > MAX_MEMBER:
            bad = f"{info.file_size:,} bytes unpacked, more than any photo: refused"
        yield Item(key, ("error", bad) if bad else ("zip", str(archive), info.filename))


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def _tar(archive: Path) -> Iterator[Item]:
    try:
        with tarfile.open(archive) as t:
            for member in t:
                if member.isdir():
                    continue
                key = f"{archive.name}:{member.name}"
                bad = _safe_member(member.name)
                if bad is None and not member.isfile():
                    bad = "a link or special file in the archive: refused"
                if bad is None and member.size > MAX_MEMBER:
                    bad = f"{member.size:,} bytes, more than any photo: refused"
                if bad:
                    yield Item(key, ("error", bad))
                    continue
                f = t.extractfile(member)
                yield Item(key, ("bytes", f.read() if f else b""))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ConfigError(f"{archive}: not a readable tar archive ({exc})") from None


def _listed(listing: Path) -> Iterator[Item]:
    try:
        text = listing.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{listing}: not a folder, an archive or a text list of paths ({exc})"
        ) from None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "://" in line:  # s3://..., gs://..., https://...: read by fsspec
            yield Item(line, ("url", line))
            continue
        path = Path(line) if Path(line).is_absolute() else listing.parent / line
        yield Item(line, ("file", str(path)))


# -- reading, in a worker ----------------------------------------------------------------------

_MODELS: dict[str | None, Any] = {}


def _model(model_path: str | None):
    """The model and checker, loaded once per process."""
    if model_path not in _MODELS:
        from digitnet.modelfile import load_model
        from digitnet.models import shipped_checker, shipped_model

        model = load_model(model_path) if model_path else shipped_model()
        _MODELS[model_path] = (model, shipped_checker())
    return _MODELS[model_path]


def read_items(batch: list[Item], model_path: str | None = None) -> list[dict[str, Any]]:
    """One record per item (``path``, ``number``, ``confidence``, ``digits``, ``error``,
    ``reason``: why an image that was read has no number, e.g. "not a digit")."""
    from digitnet.reading.recognise import recognise

    model, checker = _model(model_path)
    out = []
    for item in batch:
        record = {
            "path": item.key,
            "number": None,
            "confidence": None,
            "digits": None,
            "error": None,
            "reason": None,
        }
        try:
            data = _bytes(item)
            r = recognise(data, model, checker=checker or False)
            record.update(
                number=r.prediction,
                confidence=r.confidence,
                digits=[d.to_dict() for d in r.digits],
                reason=r.reason,
            )
        except DigitnetError as exc:
            record["error"] = one_line(exc).replace("image: ", "", 1)
        except OSError as exc:
            record["error"] = f"cannot read: {exc.strerror or exc}"
        out.append(record)
    return out


def _bytes(item: Item) -> bytes:
    kind = item.where[0]
    if kind == "error":
        raise ConfigError(item.where[1])
    if kind == "bytes":
        return item.where[1]
    if kind == "zip":
        with zipfile.ZipFile(item.where[1]) as z:
            return z.read(item.where[2])
    if kind == "url":
        return _read_url(item.where[1])
    path = Path(item.where[1])
    if not path.is_file():
        raise ConfigError("file not found" if not path.exists() else "not a file")
    return path.read_bytes()


def _read_url(url: str) -> bytes:
    """The bytes at an fsspec URL (s3://, gs://, https://, file://, ...), at most
    :data:`MAX_MEMBER` of them; needs fsspec (installed with Dask) and the protocol's own
    package (s3fs, gcsfs, ...)."""
    try:
        import fsspec
    except ImportError:
        raise ConfigError("reading URLs needs fsspec: pip install 'digitnet[dask]'") from None
    try:
        with fsspec.open(url, "rb") as f:
            data = f.read(MAX_MEMBER + 1)
    except OSError:
        raise
    except Exception as exc:  # noqa: BLE001  (any storage backend's own errors: one line)
        raise ConfigError(f"cannot read this URL ({one_line(exc, 160)})") from None
    if len(data) > MAX_MEMBER:
        raise ConfigError(f"more than {MAX_MEMBER:,} bytes, more than any photo: refused")
    return data


# -- the output file ---------------------------------------------------------------------------


class Results:
    """The results file, JSON Lines (``fmt="jsonl"``) or CSV; :attr:`done` holds the keys
    already answered (the ones with an error too, unless ``retry_errors``).

    It is locked from the start (before a torn line is cut off) until :meth:`close`: another
    process opening it raises :class:`~digitnet.errors.BusyError` at once. Use it as a
    context manager, or call :meth:`close`."""

    def __init__(
        self, path: str | os.PathLike, fmt: str = "jsonl", *, retry_errors: bool = False
    ) -> None:
        if fmt not in ("jsonl", "csv"):
            raise ConfigError(f"format must be jsonl or csv, got {fmt!r}")
        self.path, self.fmt = Path(path), fmt
        if not self.path.parent.is_dir():
            raise ConfigError(
                f"{self.path}: folder {self.path.parent} does not exist; create it or "
                "choose another results file"
            )
        self._lock = FileLock(self.path).acquire()
        try:
            records = self._read_back()
            if retry_errors:
                records = [r for r in records if not r.get("error")]
                self._rewrite(records)
            self.done = {r["path"] for r in records}
            new = not self.path.exists() or self.path.stat().st_size == 0
            self._file = open(self.path, "a", encoding="utf-8", newline="")
        except BaseException:
            self._lock.release()
            raise
        self._csv = csv.DictWriter(self._file, FIELDS) if fmt == "csv" else None
        if self._csv is not None and new:
            self._csv.writeheader()

    def _read_back(self) -> list[dict[str, Any]]:
        """The complete records already written; a torn last line (a kill mid-write) is cut
        off the file."""
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):  # a torn last line
            with open(self.path, "r+b") as f:
                f.truncate(end)
        text = data[:end].decode("utf-8", errors="replace")
        if self.fmt == "csv":
            rows = list(csv.DictReader(io.StringIO(text)))
            return [r for r in rows if r.get("path")]
        out = []
        for n, line in enumerate(text.splitlines(), 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise ConfigError(
                    f"{self.path}, line {n}: not a results line; choose another results "
                    "file, or delete this one to start again"
                ) from None
            if isinstance(record, dict) and "path" in record:
                out.append(record)
        return out

    def _rewrite(self, records: list[dict[str, Any]]) -> None:
        def write(f):
            text = io.StringIO()
            if self.fmt == "csv":
                w = csv.DictWriter(text, FIELDS)
                w.writeheader()
                w.writerows(records)
            else:
                for r in records:
                    text.write(json.dumps(r) + "\n")
            f.write(text.getvalue().encode())

        atomic_write(self.path, write)

    def add(self, record: dict[str, Any]) -> None:
        if self._csv is not None:
            row = dict(record)
            row["digits"] = "".join(str(d["digit"]) for d in record["digits"] or [])
            self._csv.writerow(row)
        else:
            self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        self.done.add(record["path"])

    def close(self) -> None:
        """Flush and sync the file, close it and release its lock (again: nothing)."""
        if self._file.closed:
            return
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
        finally:
            self._lock.release()

    def __enter__(self) -> Results:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- running -----------------------------------------------------------------------------------


def batches(todo: Iterable[Item], size: int) -> Iterator[list[Item]]:
    batch: list[Item] = []
    for item in todo:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def run(
    source: str | os.PathLike,
    results: Results,
    *,
    workers: int = 0,
    dask: str | None = None,
    model_path: str | None = None,
    batch_size: int = 16,
    progress: Callable[[int], None] | None = None,
    on_todo: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Read every image of ``source`` not yet in ``results``; returns counts (read, errors,
    skipped). ``dask``: a scheduler address, or ``"local"`` for a LocalCluster of
    ``workers`` processes; else ``workers`` local processes (0: in this process).
    ``on_todo(n)`` is told how many images are left to read (a progress bar's total), and
    ``progress(k)`` each time ``k`` more are written. Raises ConfigError when ``results``
    already holds answers but none for an image of ``source`` (another source's file)."""
    all_items = list(items(source))
    keys = {i.key for i in all_items}
    if results.done and all_items and not results.done & keys:
        raise ConfigError(
            f"{results.path} holds answers for another source, none for an "
            f"image of {source}; choose another results file"
        )
    todo = [i for i in all_items if i.key not in results.done]
    if on_todo is not None:
        on_todo(len(todo))
    counts = {
        "images": len(all_items),
        "skipped": len(all_items) - len(todo),
        "read": 0,
        "errors": 0,
    }

    def take(records: list[dict[str, Any]]) -> None:
        for r in records:
            results.add(r)
            counts["errors" if r["error"] else "read"] += 1
        if progress is not None:
            progress(len(records))

    chunks = batches(todo, batch_size)
    if dask is not None:
        _run_dask(chunks, take, dask, workers, model_path)
    elif workers <= 0:
        for chunk in chunks:
            take(read_items(chunk, model_path))
    else:
        with (
            _one_thread_each(),
            ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("spawn"), initializer=_one_thread
            ) as pool,
        ):
            pending: set = set()
            for chunk in chunks:
                pending.add(pool.submit(read_items, chunk, model_path))
                if len(pending) >= 4 * workers:  # bounded memory
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for f in finished:
                        take(f.result())
            for f in _as_they_come(pending):
                take(f.result())
    return counts


@contextlib.contextmanager
def _one_thread_each():
    """Worker processes started meanwhile use one BLAS thread and one engine thread each:
    N processes on N cores, not N x N threads (spawned processes read the environment
    before NumPy loads)."""
    saved = {k: os.environ.get(k) for k in ONE_THREAD}
    os.environ.update(ONE_THREAD)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


ONE_THREAD = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "DIGITNET_THREADS": "1",
}


def _one_thread() -> None:
    """A worker's start: one engine thread, and (on Linux) ask to be stopped when the
    process that started it dies, so that a killed `read-all` leaves no orphans."""
    from digitnet.nn.runtime import set_threads

    set_threads(1)
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _as_they_come(pending: set):
    while pending:
        finished, pending = wait(pending, return_when=FIRST_COMPLETED)
        yield from finished


def _run_dask(chunks, take, address: str, workers: int, model_path: str | None) -> None:
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ConfigError("reading on Dask needs Dask: pip install 'digitnet[dask]'") from None
    import dask

    cluster = None
    if address == "local":
        # the workers' stack sampling costs a share of a small machine's cores
        dask.config.set({"distributed.worker.profile.enabled": False})
        with _one_thread_each():
            cluster = LocalCluster(
                n_workers=max(1, workers),
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
        client = Client(cluster)
    else:
        try:
            client = Client(address, timeout="20s")
        except OSError as exc:
            raise ConfigError(f"cannot reach the Dask scheduler {address} ({exc})") from None
    try:
        futures = as_completed()
        inflight = 0
        limit = 4 * max(1, len(client.scheduler_info().get("workers", {})) or workers)
        for chunk in chunks:
            futures.add(client.submit(read_items, chunk, model_path, pure=False))
            inflight += 1
            if inflight >= limit:
                take(next(futures).result())
                inflight -= 1
        for f in futures:
            take(f.result())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
