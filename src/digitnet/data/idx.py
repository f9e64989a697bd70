"""The IDX format of the MNIST files: reading, validating and checksumming.

An IDX file is a big-endian header followed by the raw array::

    bytes 0-1    0x00 0x00
    byte  2      data type code (0x08 = unsigned byte, the only one MNIST uses)
    byte  3      number of dimensions d (1 for labels, 3 for images)
    4*d bytes    the size of each dimension, big-endian uint32
    the rest     prod(sizes) values in C order

so a labels file starts with the magic number 0x00000801 and an images file with 0x00000803.
Files may be gzip-compressed; compression is detected from the gzip magic bytes, not the name.
Every problem raises :class:`IdxError` (a :class:`~digitnet.errors.DataError`) whose message
names the file, what is wrong with it and what to do.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import zlib
from pathlib import Path

import numpy as np

from digitnet.data.files import MnistFile, official_spec
from digitnet.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"
UBYTE = 0x08
MAGIC_LABELS = 0x00000801
MAGIC_IMAGES = 0x00000803
IMAGE_SHAPE = (28, 28)

DEFAULT_HINT = "replace it with the official MNIST file"


class IdxError(DataError):
    """A file that is not a valid IDX file, or not the expected one.

    Attributes
    ----------
    source : str
        The file (or URL) concerned.
    problem : str
        What is wrong, without the file name or the advice.
    hint : str
        What the user should do; None when not given.
    """

    def __init__(self, source: object, problem: str, hint: str = DEFAULT_HINT) -> None:
        self.source = str(source)
        self.problem = problem
        super().__init__(f"{source}: {problem}", subject=self.source, hint=hint)


def read_idx(
    path: str | os.PathLike[str], spec: MnistFile | None = None, *, verify: bool = True
) -> np.ndarray:
    """Read an IDX file (gzip-compressed or raw) into a uint8 array.

    Parameters
    ----------
    path : path
        The file. Compression is detected from its first bytes, not its name.
    spec : MnistFile, optional
        What the file must contain (dimensions and checksum). By default it is looked up by
        file name among the official files (:data:`~digitnet.data.FILES`); a file with another
        name only gets the format checks (unsigned bytes, 1 or 3 dimensions, 28x28 images,
        payload length matching the header).
    verify : bool, default True
        Check the SHA-256 of the decompressed content against ``spec.sha256``.

    Returns
    -------
    np.ndarray
        Read-only uint8 array: ``(N, 28, 28)`` images or ``(N,)`` labels.

    Raises
    ------
    IdxError
        Missing, unreadable, truncated or malformed file, or checksum mismatch.
    """
    path = Path(path)
    if spec is None:
        spec = official_spec(path.name)
    data = read_file_bytes(path)
    array = parse_idx(data, source=path, spec=spec)
    if verify and spec is not None:
        check_sha256(data, spec.sha256, source=path)
    return array


def read_file_bytes(path: Path, *, hint: str = DEFAULT_HINT) -> bytes:
    """The decompressed content of ``path`` (gunzipped if it starts with the gzip magic)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise IdxError(path, "file not found", hint) from None
    except IsADirectoryError:
        raise IdxError(path, "is a folder, not an IDX file", hint) from None
    except OSError as e:
        raise IdxError(path, f"cannot be read ({e.strerror or e})", hint) from None
    return decompress(raw, source=path, hint=hint)


#: no IDX file digitnet reads is larger than this once decompressed (MNIST's largest is
#: 47 MB): a gzip file that would grow past it is refused as it grows (a decompression bomb)
MAX_DECOMPRESSED = 256 * 1024 * 1024


def decompress(
    raw: bytes, *, source: object, hint: str = DEFAULT_HINT, limit: int = MAX_DECOMPRESSED
) -> bytes:
    """Gunzip ``raw`` if it starts with the gzip magic bytes, else return it unchanged; at
    most ``limit`` bytes are ever produced."""
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        parts, size, rest = [], 0, raw
        while rest:  # one gzip member after another
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            parts.append(inflater.decompress(rest, limit + 1 - size))
            size += len(parts[-1])
            if size > limit:
                raise IdxError(
                    source,
                    f"decompresses to more than {limit // 2**20} MB: not "
                    "an MNIST file (a decompression bomb?)",
                    hint,
                )
            if not inflater.eof:
                raise EOFError
            rest = inflater.unused_data
        return b"".join(parts)
    except EOFError:
        problem = "truncated gzip data (the file was cut short during a download or copy)"
    except (gzip.BadGzipFile, zlib.error, OSError) as e:
        problem = f"corrupt gzip data ({e})"
    raise IdxError(source, problem, hint)


def parse_idx(
    data: bytes, *, source: object, spec: MnistFile | None = None, hint: str = DEFAULT_HINT
) -> np.ndarray:
    """Validate decompressed IDX content and view it as an array (no copy).

    Parameters
    ----------
    data : bytes
        The whole decompressed file.
    source : path or str
        Named in error messages.
    spec : MnistFile, optional
        Exact shape required; without it, labels ``(N,)`` or images ``(N, 28, 28)``.
    hint : str
        Advice appended to error messages.

    Returns
    -------
    np.ndarray
        Read-only uint8 view of ``data`` with the shape announced by the header.
    """
    dims = _parse_header(data, source, spec, hint)
    _check_dims(dims, source, spec, hint)
    header = 4 + 4 * len(dims)
    expected, actual = math.prod(dims), len(data) - header
    if actual < expected:
        raise IdxError(
            source,
            f"truncated: {actual} bytes of data, but the header announces "
            f"{_fmt(dims)} = {expected}",
            hint,
        )
    if actual > expected:
        raise IdxError(
            source,
            f"{actual - expected} unexpected bytes after the {_fmt(dims)} "
            "data (wrong count in the header, or trailing garbage)",
            hint,
        )
    return np.frombuffer(data, dtype=np.uint8, count=expected, offset=header).reshape(dims)


def check_sha256(
    data: bytes, expected: str | None, *, source: object, hint: str = DEFAULT_HINT
) -> str:
    """Return the SHA-256 of ``data``; raise :class:`IdxError` if it is not ``expected``.

    ``expected=None`` only computes the digest.
    """
    digest = hashlib.sha256(data).hexdigest()
    if expected is not None and digest != expected.lower():
        raise IdxError(
            source,
            f"checksum mismatch (sha256 of the decompressed content is "
            f"{digest[:16]}..., expected {expected[:16]}...): corrupted, or "
            "not the official MNIST file",
            hint,
        )
    return digest


def _parse_header(
    data: bytes, source: object, spec: MnistFile | None, hint: str
) -> tuple[int, ...]:
    """Check magic number and dimension count; return the dimension sizes."""
    if len(data) < 4:
        raise IdxError(source, f"too short to be an IDX file ({len(data)} bytes)", hint)
    magic = int.from_bytes(data[:4], "big")
    if data[0] or data[1]:
        raise IdxError(
            source,
            f"not an IDX file (magic number 0x{magic:08X}, expected "
            f"0x{MAGIC_LABELS:08X} for labels or 0x{MAGIC_IMAGES:08X} for "
            "images)",
            hint,
        )
    if data[2] != UBYTE:
        raise IdxError(
            source,
            f"data type code 0x{data[2]:02X} (magic number 0x{magic:08X}), "
            "expected 0x08 (unsigned byte)",
            hint,
        )
    ndim = data[3]
    allowed = (spec.ndim,) if spec is not None else (1, 3)
    if ndim not in allowed:
        wanted = " or ".join(
            f"{d} (magic 0x{0x800 + d:08X}, {'labels' if d == 1 else 'images'})" for d in allowed
        )
        raise IdxError(
            source, f"{ndim} dimensions (magic number 0x{magic:08X}), expected {wanted}", hint
        )
    if len(data) < 4 + 4 * ndim:
        raise IdxError(source, f"truncated header ({len(data)} bytes, {4 + 4 * ndim} needed)", hint)
    return tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))


def _check_dims(dims: tuple[int, ...], source: object, spec: MnistFile | None, hint: str) -> None:
    """Compare the header's sizes with what ``spec`` (or the MNIST image size) requires."""
    if spec is not None and dims[0] != spec.shape[0]:
        raise IdxError(source, f"holds {dims[0]} {spec.kind}, expected {spec.shape[0]}", hint)
    item_shape = spec.shape[1:] if spec is not None else IMAGE_SHAPE if len(dims) == 3 else ()
    if dims[1:] != item_shape:
        raise IdxError(source, f"images are {_fmt(dims[1:])}, expected {_fmt(item_shape)}", hint)


def _fmt(dims: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in dims)
