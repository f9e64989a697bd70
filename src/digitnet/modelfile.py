"""Model files: one ``.npz`` archive holding the arrays and a JSON document, never pickle.

Layout of ``model.npz``:

- ``layers.<i>.<name>``: each parameter and buffer, float32;
- ``__digitnet__``: uint8 bytes of a UTF-8 JSON document with ``format``,
  ``format_version``, ``digitnet_version``, ``architecture`` (``Sequential.get_config()``),
  and free-form metadata (``meta``: preset, training config and history, data checksums,
  test accuracy...).

Files are written atomically (temporary file in the same folder, fsync, rename), so a crash
never leaves a half-written file under the final name. Loading uses ``allow_pickle=False`` and
turns every kind of bad file into one :class:`ModelFileError` line.
"""

from __future__ import annotations

import json
import math
import os
import struct
import tokenize
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from digitnet import __version__
from digitnet.errors import DigitnetError, ModelFileError, one_line
from digitnet.files import atomic_write
from digitnet.nn import Ensemble, Sequential

FORMAT = "digitnet-model"
FORMAT_VERSION = 1
META_KEY = "__digitnet__"


def save_model(
    path: str | os.PathLike, model: Sequential | Ensemble, meta: dict[str, Any] | None = None
) -> Path:
    """Write ``model`` (architecture, weights, buffers) and ``meta`` to ``path`` atomically.

    ``meta`` defaults to ``model.meta``; it must be JSON-serialisable.
    """
    path = Path(path)
    if not path.parent.exists():
        raise ModelFileError(f"cannot write {path}: folder {path.parent} does not exist")
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "digitnet_version": __version__,
        "architecture": model.get_config(),
        "num_parameters": model.num_parameters(),
        "meta": model.meta if meta is None else meta,
    }
    payload = json.dumps(doc, allow_nan=False, default=_json_default).encode("utf-8")
    # dict[str, Any]: numpy's stub types savez's keywords as arrays beside `allow_pickle`
    arrays: dict[str, Any] = {
        name: np.ascontiguousarray(a) for name, a in model.state_dict().items()
    }
    arrays[META_KEY] = np.frombuffer(payload, dtype=np.uint8)
    try:
        atomic_write(path, lambda f: np.savez_compressed(f, **arrays))
    except OSError as exc:
        raise ModelFileError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"cannot store {type(o).__name__} in model metadata")


def load_model(path: str | os.PathLike) -> Sequential | Ensemble:
    """Read a model written by :func:`save_model`; its metadata is in ``model.meta``.

    Raises
    ------
    ModelFileError
        Missing, truncated, corrupted, foreign or newer-format file (one line, with the fix).
    """
    path = Path(path)
    arrays = read_npz(
        path,
        ModelFileError,
        missing=f"model file {path} not found; check the path, or train one (digitnet train)",
        damaged=f"{path} is not a readable digitnet model (truncated, corrupted or another "
        "kind of file: {cause}); re-create or re-download it",
    )
    if META_KEY not in arrays:
        raise ModelFileError(
            f"{path} is an .npz archive but not a digitnet model (no digitnet metadata)",
            subject=str(path),
        )
    doc = _read_doc(path, arrays.pop(META_KEY))
    return _build(path, doc, arrays)


def read_npz(
    path: Path, error: type[DigitnetError], *, missing: str, damaged: str
) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` archive ``path`` (model files and checkpoints), read
    without pickle and only after its zip directory and array headers were checked (bombs,
    forged sizes). Raises ``error``: ``missing`` when there is no such file, ``damaged``
    (its ``{cause}`` filled in) when it cannot be read."""
    if not path.is_file():
        raise error(missing, subject=str(path))
    try:
        unpacked_size(path, MAX_UNPACKED, error)
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except DigitnetError:
        raise
    except NPZ_ERRORS as exc:
        raise error(damaged.format(cause=one_line(exc, 80)), subject=str(path)) from None


#: what reading a damaged .npz can raise: zip and zlib errors, NumPy's header parser
#: (tokenize / SyntaxError on a mangled header dict), unsupported zip features
NPZ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    KeyError,
    tokenize.TokenError,
    SyntaxError,
    struct.error,
    NotImplementedError,
)

#: a model file's arrays, unpacked, are at most this large (the shipped model: 1.3 MB); a
#: larger archive is refused before anything is unpacked (a zip bomb)
MAX_UNPACKED = 1024 * 1024 * 1024


def unpacked_size(path: Path, limit: int, error: type[Exception]) -> int:
    """The total unpacked size of the members of the zip archive ``path`` (an .npz), from
    its directory; ``error`` (one line) when it is above ``limit``."""
    with zipfile.ZipFile(path) as archive:
        total = sum(info.file_size for info in archive.infolist())
        if total > limit:
            raise error(
                f"{path}: its arrays would take {total / 2**20:,.0f} MB unpacked, more "
                f"than the {limit / 2**20:,.0f} MB a digitnet file may hold (a zip bomb?)"
            )
        for info in archive.infolist():
            if info.filename.endswith(".npy"):
                _check_declared_size(path, archive, info, error)
    return total


def _check_declared_size(
    path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, error: type[Exception]
) -> None:
    """Refuse an array whose header declares more bytes than its member holds, before NumPy
    allocates the declared size (a 4 TB array announced in a 100-byte file)."""
    fmt = np.lib.format
    with archive.open(info) as f:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = fmt.read_array_header_2_0(f)
        else:
            raise error(
                f"{path}: array {info.filename} has .npy format {version[0]}.{version[1]}, "
                "which digitnet does not read; re-create the file with digitnet"
            )
    declared = math.prod(int(n) for n in shape) * dtype.itemsize
    if declared > info.file_size:
        raise error(
            f"{path}: array {info.filename} declares shape {tuple(shape)} but holds "
            f"{info.file_size:,} bytes (truncated or forged); re-create or re-download it"
        )


def _read_doc(path: Path, raw: np.ndarray) -> dict[str, Any]:
    try:
        doc = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(
            f"{path}: the model metadata is corrupted ({one_line(exc, 80)}); "
            "re-create or re-download the file"
        ) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelFileError(
            f"{path} is not a digitnet model file (format "
            f"{doc.get('format') if isinstance(doc, dict) else None!r})"
        )
    version = doc.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ModelFileError(f"{path}: invalid model format version {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} uses model format {version}, newer than this digitnet "
            f"({__version__}) reads (format {FORMAT_VERSION}): upgrade digitnet"
        )
    return doc


def _build(path: Path, doc: dict[str, Any], arrays: dict[str, np.ndarray]) -> Sequential | Ensemble:
    model: Sequential | Ensemble
    try:
        arch = doc["architecture"]
        # built without drawing initial weights: the file's replace them all
        if arch.get("type") == "Ensemble":
            model = Ensemble.from_config(arch, initialise=False)
        else:
            model = Sequential.from_config(arch, initialise=False)
        model.load_state_dict(arrays)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ModelFileError(
            f"{path}: the architecture and weights do not fit together "
            f"({one_line(exc, 80)}); the file is corrupted or was edited"
        ) from None
    model.meta = doc.get("meta") or {}
    model.saved_with = doc.get("digitnet_version")
    return model
