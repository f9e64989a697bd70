"""Reading image files: formats, alpha, bit depths, EXIF orientation, size limits, errors."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from digitnet.errors import ConfigError, ImageError
from digitnet.imaging.imagefile import WORK_SIDE, open_image, read_grey


def grey_card(h: int = 40, w: int = 30) -> np.ndarray:
    """A grey image with a dark bar: (h, w) uint8 with distinct values."""
    img = np.full((h, w), 220, dtype=np.uint8)
    img[5:35, 10:16] = 30
    img[0, :] = np.arange(w, dtype=np.uint8) * 3  # a ramp, to catch flips and shifts
    return img


@pytest.mark.parametrize(
    "ext,options",
    [("png", {}), ("bmp", {}), ("gif", {}), ("tiff", {}), ("webp", {"lossless": True})],
)
def test_lossless_formats_read_exactly(tmp_path, ext, options):
    card = grey_card()
    path = tmp_path / f"card.{ext}"
    Image.fromarray(card).save(path, **options)
    np.testing.assert_array_equal(read_grey(path), card.astype(np.float32))


@pytest.mark.parametrize("ext", ["jpg", "webp"])
def test_lossy_formats_read_closely(tmp_path, ext):
    card = grey_card()
    path = tmp_path / f"card.{ext}"
    Image.fromarray(card).convert("RGB").save(path, quality=95)
    assert np.abs(read_grey(path) - card).mean() < 3


def test_colour_is_reduced_to_luma(tmp_path):
    rgb = np.zeros((10, 10, 3), dtype=np.uint8)
    rgb[..., 0] = 200  # pure red: luma 0.299 * 200
    Image.fromarray(rgb).save(tmp_path / "red.png")
    assert np.allclose(read_grey(tmp_path / "red.png"), round(0.299 * 200), atol=1)


def test_dark_ink_on_transparency_is_put_on_white(tmp_path):
    rgba = np.zeros((20, 20, 4), dtype=np.uint8)  # transparent black everywhere...
    rgba[5:15, 8:12, 3] = 255  # ...except an opaque black bar
    Image.fromarray(rgba).save(tmp_path / "ink.png")
    grey = read_grey(tmp_path / "ink.png")
    assert grey[0, 0] == 255 and grey[10, 10] == 0


def test_light_ink_on_transparency_is_put_on_black(tmp_path):
    rgba = np.zeros((20, 20, 4), dtype=np.uint8)
    rgba[..., :3] = 255  # white everywhere, opaque only in a bar
    rgba[5:15, 8:12, 3] = 255
    Image.fromarray(rgba).save(tmp_path / "chalk.png")
    grey = read_grey(tmp_path / "chalk.png")
    assert grey[0, 0] == 0 and grey[10, 10] == 255


def test_palette_with_transparency_and_sixteen_bit(tmp_path):
    card = grey_card()
    pal = Image.fromarray(card).convert("P")
    pal.info["transparency"] = 0
    pal.save(tmp_path / "pal.png", transparency=int(np.asarray(pal)[0, 0]))
    assert read_grey(tmp_path / "pal.png").shape == card.shape
    wide = Image.fromarray(card.astype(np.uint16) * 257)  # 16-bit: 0..65535
    wide.save(tmp_path / "wide.png")
    assert Image.open(tmp_path / "wide.png").mode.startswith("I")
    np.testing.assert_array_equal(read_grey(tmp_path / "wide.png"), card.astype(np.float32))


@pytest.mark.parametrize(
    "orientation,turn",
    [
        (3, Image.Transpose.ROTATE_180),
        (6, Image.Transpose.ROTATE_90),
        (8, Image.Transpose.ROTATE_270),
    ],
)
def test_exif_orientation_is_honoured(tmp_path, orientation, turn):
    card = grey_card()
    # store the image turned, with the tag that says how to turn it back
    stored = Image.fromarray(card).transpose(turn)
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored.save(tmp_path / "turned.png", exif=exif)
    loaded = open_image(tmp_path / "turned.png")
    np.testing.assert_array_equal(np.asarray(loaded.image), card)
    assert loaded.original_size == (card.shape[1], card.shape[0])


def test_large_images_are_reduced_and_keep_their_original_size(tmp_path):
    big = np.full((WORK_SIDE * 2, WORK_SIDE + 100), 200, dtype=np.uint8)
    Image.fromarray(big).save(tmp_path / "big.jpg", quality=90)
    loaded = open_image(tmp_path / "big.jpg")
    assert max(loaded.image.size) <= WORK_SIDE
    assert loaded.original_size == (WORK_SIDE + 100, WORK_SIDE * 2)
    assert loaded.scale == pytest.approx(loaded.image.size[0] / (WORK_SIDE + 100))


def test_bytes_are_read_like_the_file(tmp_path):
    """The bytes of a file read as the file does (a web upload, an archive member), reduced
    JPEG decoding included; bad bytes give the same one-line errors."""
    big = np.full((WORK_SIDE * 2, WORK_SIDE + 100), 200, dtype=np.uint8)
    big[100:900, 300:400] = 20
    Image.fromarray(big).save(tmp_path / "big.jpg", quality=90)
    data = (tmp_path / "big.jpg").read_bytes()
    from_file, from_bytes = open_image(tmp_path / "big.jpg"), open_image(data)
    assert from_bytes.original_size == from_file.original_size
    assert np.array_equal(np.asarray(from_bytes.image), np.asarray(from_file.image))
    with pytest.raises(ImageError, match="not an image") as info:
        open_image(b"hello, I am text")
    assert "\n" not in str(info.value)
    with pytest.raises(ImageError, match="image too large"):
        open_image(png_header_only(100_000, 100_000))


def test_a_callers_image_is_not_changed(tmp_path):
    """Reading a Pillow image the caller opened leaves it as it was (no reduced decoding of
    the caller's object): reading it twice gives the same result."""
    big = np.full((WORK_SIDE * 2, WORK_SIDE + 100), 200, dtype=np.uint8)
    Image.fromarray(big).save(tmp_path / "big.jpg", quality=90)
    img = Image.open(tmp_path / "big.jpg")
    first, second = open_image(img), open_image(img)
    assert img.size == (WORK_SIDE + 100, WORK_SIDE * 2)
    assert first.original_size == second.original_size == img.size
    assert np.array_equal(np.asarray(first.image), np.asarray(second.image))


def test_arrays_are_accepted_and_checked():
    assert open_image(grey_card()).image.mode == "L"
    assert open_image(np.zeros((5, 5, 3), dtype=np.uint8)).image.mode == "RGB"
    with pytest.raises(ConfigError, match="uint8"):
        open_image(np.zeros((5, 5), dtype=np.float32))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width x height`` pixels but holds one tiny row: a bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda p: None, "file not found"),
        (lambda p: p.mkdir(), "is a folder"),
        (lambda p: p.write_text("hello, I am text"), "not an image"),
        (lambda p: p.write_bytes(png_header_only(100_000, 100_000)), "image too large"),
        (lambda p: p.write_bytes(png_header_only(30, 30)), "truncated or corrupted"),
    ],
)
def test_bad_files_give_one_line_naming_the_file(tmp_path, make, message):
    path = tmp_path / "bad.png"
    make(path)
    with pytest.raises(ImageError, match=message) as info:
        read_grey(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_the_pixel_limit_is_a_parameter(tmp_path):
    Image.fromarray(grey_card(100, 100)).save(tmp_path / "card.png")
    with pytest.raises(ImageError, match="image too large"):
        read_grey(tmp_path / "card.png", max_pixels=9_999)
    assert read_grey(tmp_path / "card.png", max_pixels=10_000).shape == (100, 100)
