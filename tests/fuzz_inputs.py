"""Inputs for fuzzing the parsers: valid files of each kind, and Hypothesis strategies that
break them (random bytes, truncation, flipped and inserted bytes, odd headers). Shared by
``tests/test_fuzz.py`` (a few hundred examples per parser in CI) and ``benchmarks/fuzz.py``
(10,000 and more)."""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile

import numpy as np
from hypothesis import strategies as st
from PIL import Image

from digitnet.data.idx import GZIP_MAGIC  # noqa: F401  (documents what decompress looks for)


def idx_file(dims: tuple[int, ...], fill: int = 7) -> bytes:
    header = bytes([0, 0, 0x08, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)
    return header + bytes([fill]) * int(np.prod(dims))


def model_file() -> bytes:
    from digitnet.modelfile import save_model
    from digitnet.nn import Dense, Flatten, Sequential

    model = Sequential([Flatten(), Dense(4), Dense(10)], (28, 28, 1), np.random.default_rng(0))
    buf = io.BytesIO()
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        save_model(Path(folder) / "m.npz", model)
        buf.write((Path(folder) / "m.npz").read_bytes())
    return buf.getvalue()


def image_files() -> dict[str, bytes]:
    """A small digit in every format and mode Pillow writes that a user may send."""
    rng = np.random.default_rng(0)
    grey = np.full((40, 30), 230, np.uint8)
    grey[8:32, 12:18] = 20
    grey = np.clip(grey + rng.integers(-5, 6, grey.shape), 0, 255).astype(np.uint8)
    img = Image.fromarray(grey)
    out = {}
    for name, fmt, im, kw in (
        ("png", "PNG", img, {}),
        ("jpeg", "JPEG", img, {"quality": 80}),
        ("gif", "GIF", img.convert("P"), {}),
        ("tiff", "TIFF", img, {}),
        ("webp", "WEBP", img, {}),
        ("bmp", "BMP", img, {}),
        ("cmyk", "JPEG", img.convert("CMYK"), {}),
        ("png16", "PNG", Image.fromarray(grey.astype(np.uint16) * 257), {}),
        ("rgba", "PNG", img.convert("RGBA"), {}),
        ("palette", "PNG", img.convert("P", palette=Image.Palette.ADAPTIVE), {}),
    ):
        buf = io.BytesIO()
        im.save(buf, format=fmt, **kw)
        out[name] = buf.getvalue()
    buf = io.BytesIO()  # animated: two frames
    img.save(buf, format="GIF", save_all=True, append_images=[img.rotate(90)])
    out["animated"] = buf.getvalue()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated a quarter turn
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    out["exif"] = buf.getvalue()
    for name, shape in (("1x1", (1, 1)), ("30000x1", (1, 30000)), ("1x30000", (30000, 1))):
        buf = io.BytesIO()
        Image.fromarray(np.full(shape, 128, np.uint8)).save(buf, format="PNG")
        out[name] = buf.getvalue()
    return out


@st.composite
def mutated(draw, seeds: list[bytes]) -> bytes:
    """A valid file broken a few ways: cut short, bytes flipped or inserted, or random."""
    data = bytearray(draw(st.sampled_from(seeds)))
    how = draw(st.sampled_from(["truncate", "flip", "insert", "random", "header"]))
    if how == "random":
        return draw(st.binary(max_size=2000))
    if how == "truncate" and data:
        return bytes(data[: draw(st.integers(0, len(data) - 1))])
    if how == "header":
        n = min(len(data), 64)
        for _ in range(draw(st.integers(1, 6))):
            if n:
                data[draw(st.integers(0, n - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if how == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        else:
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


@st.composite
def idx_inputs(draw) -> bytes:
    """IDX content: valid, with odd headers (huge or zero sizes, many dimensions, other type
    codes), truncated or padded, gzipped or not."""
    import gzip

    dims = draw(st.lists(st.integers(0, 2**32 - 1) | st.integers(0, 40), min_size=0, max_size=5))
    code = draw(st.sampled_from([0x08, 0x08, 0x09, 0x0D, 0x00, 0xFF]))
    header = bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)
    body = draw(st.binary(max_size=3000))
    data = header + body
    if draw(st.booleans()):
        data = draw(mutated([data, idx_file((3, 28, 28)), idx_file((5,))]))
    if draw(st.booleans()):
        data = gzip.compress(data, mtime=0)
        if draw(st.booleans()):
            data = data[: draw(st.integers(0, len(data)))]
    return data


@st.composite
def npz_inputs(draw, seed: bytes) -> bytes:
    """Model files: a valid one broken, or a foreign npz with random arrays and documents."""
    how = draw(st.sampled_from(["mutated", "forged", "foreign"]))
    if how == "mutated":
        return draw(mutated([seed]))
    if how == "forged":  # a huge array announced
        names = zipfile.ZipFile(io.BytesIO(seed)).namelist()
        shape = tuple(draw(st.lists(st.integers(0, 2**40) | st.integers(0, 64), max_size=3)))
        return forged_npy_header(
            seed,
            draw(st.sampled_from(names)),
            shape,
            draw(st.sampled_from(["<f4", "<f8", "|u1", "<i8"])),
        )
    arrays = {}
    for i in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(["__digitnet__", f"layers.{i}.W", "x", "layers.1.b"]))
        if name == "__digitnet__":
            doc = draw(
                st.recursive(
                    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                    lambda c: (
                        st.lists(c, max_size=3)
                        | st.dictionaries(
                            st.sampled_from(
                                [
                                    "format",
                                    "format_version",
                                    "architecture",
                                    "layers",
                                    "type",
                                    "units",
                                    "input_shape",
                                    "meta",
                                ]
                            ),
                            c,
                            max_size=4,
                        )
                    ),
                    max_leaves=12,
                )
            )
            if draw(st.booleans()):
                doc = {"format": "digitnet-model", "format_version": 1, "architecture": doc}
            text = json.dumps(doc) if draw(st.booleans()) else draw(st.text(max_size=50))
            arrays[name] = np.frombuffer(text.encode(), np.uint8)
        else:
            shape = draw(st.lists(st.integers(0, 6), max_size=3))
            arrays[name] = np.zeros(
                shape,
                dtype=draw(st.sampled_from([np.float32, np.float64, np.uint8, np.int64, np.bool_])),
            )
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def zip_bomb_npz(declared: int = 2**34) -> bytes:
    """An npz whose member claims ``declared`` bytes unpacked (its directory says so)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x.npy", b"\0" * 1000)
    data = bytearray(buf.getvalue())
    # patch the uncompressed size in the central directory entry
    at = data.rfind(b"PK\x01\x02")
    data[at + 24 : at + 28] = struct.pack("<I", min(declared, 2**32 - 1))
    return bytes(data)


def forged_npy_header(
    npz: bytes, member: str, shape: tuple[int, ...], dtype: str = "<f4", body: bytes = b"\0" * 64
) -> bytes:
    """``npz`` with ``member`` replaced by an array header declaring ``shape`` over ``body``
    (a 4 TB array announced in a few bytes: "huge arrays")."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(npz)) as zin, zipfile.ZipFile(out, "w") as z:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == member:
                header = f"{{'descr': '{dtype}', 'fortran_order': False, 'shape': {shape!r}, }}"
                header = header.ljust(118) + "\n"
                data = (
                    b"\x93NUMPY\x01\x00"
                    + len(header).to_bytes(2, "little")
                    + header.encode()
                    + body
                )
            z.writestr(info.filename, data)
    return out.getvalue()


# -- sample folders (digitnet adapt) -----------------------------------------------------------

#: names a samples folder's sub-folders may have: the ten digits and near misses
SAMPLE_DIRS = [str(d) for d in range(10)] + ["10", "01", "-1", " 3", "a", ".3", "３", "٣", "3.0"]
#: names of the files in them: each image suffix in both cases, and others
SAMPLE_FILES = ["a.png", "b.PNG", "c.jpg", "d.jpeg", "e.gif", "f.webp", "g.BMP", "h.tif"] + [
    "notes.txt",
    "noext",
    ".png",
    "x.png.txt",
]


@st.composite
def sample_trees(draw, images: list[bytes]) -> tuple[str, list[tuple[str, str, object]]]:
    """A samples folder to write with :func:`write_samples`: ``(root, entries)``, ``root``
    "dir", "file" or "missing"; ``entries`` ``(kind, relative path, content)`` in the order
    they are made: "dir", "file" (bytes), "link" (its target) or "fifo" (a named pipe, which
    blocks whoever opens it: no writer ever comes). Usually a good folder (every digit, one
    or two of ``images`` each) broken one to four ways: near-miss or missing or empty digit
    folders, a file where a folder should be, a folder or a pipe named like an image, broken
    or looping links, a linked digit folder, a name that is not UTF-8, broken, empty or
    random image bytes."""
    root = draw(st.sampled_from(["dir"] * 18 + ["file", "missing"]))
    tree: dict[str, tuple[str, object]] = {}
    for d in range(10):
        tree[str(d)] = ("dir", None)
        for name in draw(st.lists(st.sampled_from(SAMPLE_FILES[:8]), min_size=1, max_size=2)):
            tree[f"{d}/{name}"] = ("file", draw(st.sampled_from(images)))
    digit = st.sampled_from([str(d) for d in range(10)])
    for _ in range(draw(st.integers(1, 4))):
        how = draw(
            st.sampled_from(
                [
                    "near-miss",
                    "no-digit",
                    "empty-digit",
                    "file-for-folder",
                    "folder-named-image",
                    "fifo",
                    "broken-link",
                    "link-loop",
                    "linked-folder",
                    "not-utf8",
                    "bad-bytes",
                    "other-file",
                ]
            )
        )
        d = draw(digit)
        inside = [k for k in tree if k.startswith(f"{d}/")]
        if how == "near-miss":
            name = draw(st.sampled_from(SAMPLE_DIRS[10:]))
            tree[name] = ("dir", None)
            if draw(st.booleans()):
                tree[f"{name}/a.png"] = ("file", draw(st.sampled_from(images)))
        elif how in ("no-digit", "empty-digit", "file-for-folder", "linked-folder"):
            for k in inside:
                tree.pop(k)
            tree.pop(d, None)
            if how == "empty-digit":
                tree[d] = ("dir", None)
            elif how == "file-for-folder":
                tree[d] = ("file", draw(st.sampled_from(images)))
            elif how == "linked-folder":  # to another digit's folder, or to itself (a loop)
                tree[d] = ("link", draw(st.sampled_from([d, str((int(d) + 1) % 10)])))
        elif how == "folder-named-image":
            tree[f"{d}/{draw(st.sampled_from(SAMPLE_FILES[:8]))}"] = ("dir", None)
        elif how == "fifo":
            tree[f"{d}/pipe.png"] = ("fifo", None)
        elif how == "broken-link":
            tree[f"{d}/gone.png"] = ("link", "nowhere.png")
        elif how == "link-loop":
            tree[f"{d}/loop.png"] = ("link", "loop.png")
        elif how == "not-utf8":
            tree[f"{d}/" + os.fsdecode(b"\xff\xfe.png")] = ("file", draw(st.sampled_from(images)))
        elif how == "bad-bytes":
            content = draw(st.sampled_from([b"", b"not an image"]) | mutated(images))
            tree[f"{d}/{draw(st.sampled_from(SAMPLE_FILES[:8]))}"] = ("file", content)
        else:
            name = draw(st.sampled_from(SAMPLE_FILES))
            tree[f"{d}/{name}"] = ("file", draw(st.binary(max_size=200) | st.sampled_from(images)))
    entries = sorted(
        ((kind, path, content) for path, (kind, content) in tree.items()),
        key=lambda e: e[1].count("/"),
    )
    return root, entries


def write_samples(folder, tree) -> object:
    """Make :func:`sample_trees`'s folder inside ``folder``; return the path to give."""
    from pathlib import Path

    root_kind, entries = tree
    root = Path(folder) / "samples"
    if root_kind == "file":
        root.write_bytes(b"not a folder")
    if root_kind != "dir":
        return root
    root.mkdir()
    for kind, rel, content in entries:
        path = root / rel
        if not path.parent.is_dir() or path.parent.is_symlink():
            continue  # its folder was replaced by a file or a link
        if kind == "dir":
            path.mkdir()
        elif kind == "file":
            path.write_bytes(content)
        elif kind == "link":
            path.symlink_to(content)
        else:
            os.mkfifo(path)
    return root
