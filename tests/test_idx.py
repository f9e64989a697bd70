"""IDX parsing: good files in both encodings, and one DataError per kind of bad file."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from synth import gz, idx_bytes, spec_for

from digitnet.data import FILES, IdxError, MnistFile, read_idx
from digitnet.errors import DataError

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
LABELS = RNG.integers(0, 10, size=5, dtype=np.uint8)
IMAGES_SPEC = spec_for("imgs-idx3-ubyte", IMAGES)
LABELS_SPEC = spec_for("labs-idx1-ubyte", LABELS)


def write(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def assert_error(path, spec, *fragments):
    """read_idx fails with a one-line DataError naming the file, the problem and a remedy."""
    with pytest.raises(DataError) as info:
        read_idx(path, spec)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    assert message.endswith("; replace it with the official MNIST file")
    for fragment in fragments:
        assert fragment in message
    return info.value


# --- good files -----------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize(("array", "spec"), [(IMAGES, IMAGES_SPEC), (LABELS, LABELS_SPEC)])
def test_reads_raw_and_gzip(tmp_path, compress, array, spec):
    data = idx_bytes(array)
    path = write(tmp_path, "file", gz(data) if compress else data)
    out = read_idx(path, spec)
    assert out.dtype == np.uint8 and out.shape == array.shape
    np.testing.assert_array_equal(out, array)
    assert not out.flags.writeable


def test_compression_detected_from_content_not_extension(tmp_path):
    data = idx_bytes(IMAGES)
    gz_without_ext = write(tmp_path, "images", gz(data))
    raw_with_gz_ext = write(tmp_path, "images.gz", data)
    np.testing.assert_array_equal(read_idx(gz_without_ext, IMAGES_SPEC), IMAGES)
    np.testing.assert_array_equal(read_idx(raw_with_gz_ext, IMAGES_SPEC), IMAGES)


def test_without_spec_only_format_is_checked(tmp_path):
    path = write(tmp_path, "my-digits-idx3-ubyte", idx_bytes(IMAGES))
    np.testing.assert_array_equal(read_idx(path), IMAGES)
    path = write(tmp_path, "my-labels", gz(idx_bytes(LABELS)))
    np.testing.assert_array_equal(read_idx(path), LABELS)


def test_empty_file_with_zero_items_is_valid(tmp_path):
    empty = np.zeros((0, 28, 28), np.uint8)
    path = write(tmp_path, "empty", idx_bytes(empty))
    assert read_idx(path).shape == (0, 28, 28)


def test_official_names_are_verified_against_the_known_checksums(tmp_path):
    # Right size and format but wrong content: found by name in FILES, so checksummed.
    fake = np.zeros(FILES["test_labels"].shape, np.uint8)
    for name in ("t10k-labels-idx1-ubyte.gz", "t10k-labels.idx1-ubyte"):
        path = write(tmp_path, name, gz(idx_bytes(fake)))
        assert_error(path, None, "checksum mismatch", FILES["test_labels"].sha256[:16])
    # ... unless verification is switched off (e.g. to read a look-alike data set).
    np.testing.assert_array_equal(read_idx(path, verify=False), fake)


def test_official_names_get_the_official_shape(tmp_path):
    path = write(tmp_path, "train-labels-idx1-ubyte", idx_bytes(LABELS))
    assert_error(path, None, "holds 5 labels, expected 60000")


# --- bad files ------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    assert_error(tmp_path / "nope-idx1-ubyte.gz", None, "file not found")


def test_folder_instead_of_file(tmp_path):
    assert_error(tmp_path, None, "is a folder")


@pytest.mark.parametrize(
    ("magic", "fragment"),
    [
        (b"\x12\x34\x08\x03", "not an IDX file (magic number 0x12340803"),
        (b"<htm", "not an IDX file"),
        (b"\x00\x00\x0d\x03", "data type code 0x0D (magic number 0x00000D03), expected 0x08"),
        (b"\x00\x00\x08\x02", "2 dimensions (magic number 0x00000802)"),
    ],
)
def test_wrong_magic(tmp_path, magic, fragment):
    path = write(tmp_path, "imgs", idx_bytes(IMAGES, magic=magic))
    assert_error(path, None, fragment)


def test_labels_file_where_images_expected(tmp_path):
    path = write(tmp_path, "swapped", idx_bytes(LABELS))
    assert_error(
        path, IMAGES_SPEC, "1 dimensions (magic number 0x00000801), expected 3", "0x00000803"
    )


@pytest.mark.parametrize("size", [0, 3])
def test_too_short_for_a_magic_number(tmp_path, size):
    path = write(tmp_path, "tiny", idx_bytes(IMAGES)[:size])
    assert_error(path, None, f"too short to be an IDX file ({size} bytes)")


def test_truncated_header(tmp_path):
    path = write(tmp_path, "cut", idx_bytes(IMAGES)[:10])
    assert_error(path, None, "truncated header (10 bytes, 16 needed)")


@pytest.mark.parametrize("compress", [False, True])
def test_truncated_payload(tmp_path, compress):
    data = idx_bytes(IMAGES)[:-300]  # header intact, last image incomplete
    path = write(tmp_path, "short", gz(data) if compress else data)
    assert_error(path, None, "truncated", "5x28x28 = 3920")


def test_header_count_larger_than_data(tmp_path):
    path = write(tmp_path, "count", idx_bytes(LABELS, dims=(7,)))
    assert_error(path, None, "truncated: 5 bytes of data, but the header announces 7 = 7")


def test_header_count_smaller_than_data(tmp_path):
    path = write(tmp_path, "count", idx_bytes(LABELS, dims=(4,)))
    assert_error(path, None, "1 unexpected bytes after the 4 data")


def test_trailing_bytes(tmp_path):
    path = write(tmp_path, "tail", idx_bytes(IMAGES) + b"junk")
    assert_error(path, None, "4 unexpected bytes after the 5x28x28 data")


def test_truncated_gzip(tmp_path):
    packed = gz(idx_bytes(IMAGES))
    path = write(tmp_path, "cut.gz", packed[: len(packed) // 2])
    assert_error(path, None, "truncated gzip data")


def test_corrupt_gzip(tmp_path):
    packed = bytearray(gz(idx_bytes(IMAGES)))
    packed[-8:-4] = bytes(4)  # wrong CRC32 in the trailer
    path = write(tmp_path, "crc.gz", bytes(packed))
    assert_error(path, None, "corrupt gzip data")


def test_garbage_after_gzip_magic(tmp_path):
    path = write(tmp_path, "junk.gz", b"\x1f\x8b" + bytes(range(256)) * 4)
    assert_error(path, None, "gzip data")


def test_wrong_image_size(tmp_path):
    wide = RNG.integers(0, 256, size=(5, 28, 27), dtype=np.uint8)
    path = write(tmp_path, "wide", idx_bytes(wide))
    assert_error(path, None, "images are 28x27, expected 28x28")
    assert_error(path, IMAGES_SPEC, "images are 28x27, expected 28x28")


def test_wrong_item_count_for_spec(tmp_path):
    path = write(tmp_path, "six", idx_bytes(np.concatenate([LABELS, LABELS[:1]])))
    assert_error(path, LABELS_SPEC, "holds 6 labels, expected 5")


@pytest.mark.parametrize("compress", [False, True])
def test_checksum_mismatch(tmp_path, compress):
    other = IMAGES.copy()
    other[2, 14, 14] ^= 1  # one bit differs
    data = idx_bytes(other)
    path = write(tmp_path, "flip", gz(data) if compress else data)
    error = assert_error(
        path,
        IMAGES_SPEC,
        "checksum mismatch",
        hashlib.sha256(data).hexdigest()[:16],
        IMAGES_SPEC.sha256[:16],
    )
    assert isinstance(error, IdxError) and error.problem.startswith("checksum mismatch")


def test_checksum_is_of_the_decompressed_content(tmp_path):
    data = idx_bytes(LABELS)
    spec = MnistFile("labs", LABELS.shape, hashlib.sha256(gz(data)).hexdigest())
    assert_error(write(tmp_path, "labs.gz", gz(data)), spec, "checksum mismatch")


def test_no_checksum_known(tmp_path):
    spec = MnistFile("labs", LABELS.shape, sha256=None)
    np.testing.assert_array_equal(read_idx(write(tmp_path, "x", idx_bytes(LABELS)), spec), LABELS)
