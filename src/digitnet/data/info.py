"""What ``digitnet data info`` reports: the data folder and the state of each file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from digitnet.data.files import (
    FILES,
    HINT_FOLDER,
    MnistFile,
    describe_source,
    find_file,
    resolve_data_dir,
)
from digitnet.data.idx import IdxError, check_sha256, parse_idx, read_file_bytes


def mnist_info(
    data_dir: str | os.PathLike[str] | None = None, *, files: Mapping[str, MnistFile] = FILES
) -> dict[str, Any]:
    """Describe the MNIST folder and verify each file in it (about a second for the full set).

    Parameters
    ----------
    data_dir : path, optional
        Folder to inspect; resolved like :func:`~digitnet.data.resolve_data_dir`.
    files : mapping of str to MnistFile
        The expected files.

    Returns
    -------
    dict
        JSON-serialisable: ``data_dir`` (str), ``source`` (``"--data-dir"`` for a folder
        given, ``"DIGITNET_DATA_DIR"`` or ``"cache"``), ``exists`` (bool), ``ok`` (all files present
        and valid) and ``files``: one dict per file with ``name``, ``status`` (``"ok"``,
        ``"bad"`` or ``"missing"``), ``path`` and ``size`` (bytes on disk; None when missing),
        ``sha256`` (of the decompressed content; None unless ok) and ``problem``
        (None when ok).
    """
    folder, source = resolve_data_dir(data_dir)
    entries = [_file_info(find_file(folder, spec), spec) for spec in files.values()]
    return {
        "data_dir": str(folder),
        "source": source,
        "exists": folder.is_dir(),
        "ok": all(entry["status"] == "ok" for entry in entries),
        "files": entries,
    }


def _file_info(path: os.PathLike[str] | None, spec: MnistFile) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": spec.name,
        "status": "missing",
        "path": None,
        "size": None,
        "sha256": None,
        "problem": "not found",
    }
    if path is None:
        return entry
    entry.update(path=str(path), size=os.path.getsize(path))
    try:
        data = read_file_bytes(path, hint="")
        parse_idx(data, source=path, spec=spec, hint="")
        entry["sha256"] = check_sha256(data, spec.sha256, source=path, hint="")
    except IdxError as e:
        entry.update(status="bad", problem=e.problem)
    else:
        entry.update(status="ok", problem=None)
    return entry


def format_info(info: Mapping[str, Any], *, hint: str = f"download them, or {HINT_FOLDER}") -> str:
    """Render :func:`mnist_info` output as a table with a closing verdict (no trailing newline).

    ``hint`` is what to do about missing files (the CLI names its own command and option).

    Example::

        MNIST folder: /home/me/.cache/digitnet/mnist (the default cache folder)
        file                     status   size      path
        train-images-idx3-ubyte  ok       9.9 MB    /home/me/.cache/.../train-images-idx3-ubyte.gz
        ...
        all 4 files present and verified
    """
    lines = [
        f"MNIST folder: {info['data_dir']} ({describe_source(info['source'])})"
        + ("" if info["exists"] else " - does not exist")
    ]
    width = max([len(entry["name"]) for entry in info["files"]] + [4])
    lines.append(f"{'file':<{width}}  {'status':<7}  {'size':>9}  path")
    for entry in info["files"]:
        size = "-" if entry["size"] is None else _size(entry["size"])
        lines.append(
            f"{entry['name']:<{width}}  {entry['status']:<7}  {size:>9}  {entry['path'] or '-'}"
        )
        if entry["status"] == "bad":
            lines.append(f"{'':<{width}}  problem: {entry['problem']}")
    lines.append(_verdict(info, hint))
    return "\n".join(lines)


def _verdict(info: Mapping[str, Any], hint: str) -> str:
    n = len(info["files"])
    if info["ok"]:
        return f"all {n} files present and verified"
    missing = [e["name"] for e in info["files"] if e["status"] == "missing"]
    bad = [e["name"] for e in info["files"] if e["status"] == "bad"]
    parts = []
    if bad:
        parts.append(f"{len(bad)} bad (delete them, then download them again)")
    if missing:
        parts.append(f"{len(missing)} missing ({hint})")
    return f"{n - len(bad) - len(missing)} of {n} files ok; " + "; ".join(parts)


def _size(nbytes: int) -> str:
    if nbytes >= 1e6:
        return f"{nbytes / 1e6:.1f} MB"
    if nbytes >= 1e3:
        return f"{nbytes / 1e3:.1f} kB"
    return f"{nbytes} B"
