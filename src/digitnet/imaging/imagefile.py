"""Reading a user's image file: any format Pillow reads, any size, colour or grey, with or
without alpha, turned the right way up (EXIF orientation) and reduced to a working size.

Every problem becomes one :class:`~digitnet.errors.ImageError` line naming the file: missing,
not an image, truncated, or too large (a decompression bomb: a small file that claims a huge
number of pixels is refused from its header, before anything is decoded).
"""

from __future__ import annotations

import io
import os
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from digitnet.errors import ConfigError, ImageError, one_line

#: images with more pixels than this are refused before decoding (Pillow's own default
#: limit, about 89 megapixels: more than any phone camera's normal output)
MAX_PIXELS = 89_478_485
#: the longest side images are reduced to before preprocessing; a digit that fills 1/10 of a
#: photo is still ~100 px tall at this size, and the 28x28 result is made from ~20 px anyway
WORK_SIDE = 1200

ImageSource = str | os.PathLike | bytes | Image.Image | np.ndarray
#: EXIF orientations that turn the image a quarter turn (width and height swap)
_QUARTER_TURNS = (5, 6, 7, 8)


@dataclass(frozen=True)
class LoadedImage:
    """An image ready for preprocessing.

    Attributes
    ----------
    image : PIL.Image.Image
        Upright, mode ``"L"`` or ``"RGB"``, longest side at most the working size.
    original_size : (int, int)
        Width and height of the upright image before any reduction.
    name : str
        The file name (or ``"array"`` / ``"image"`` for in-memory sources), for messages.
    """

    image: Image.Image
    original_size: tuple[int, int]
    name: str

    @property
    def scale(self) -> float:
        """Working size / original size (1.0 when not reduced)."""
        return self.image.size[0] / self.original_size[0]


def open_image(
    source: ImageSource, *, max_pixels: int = MAX_PIXELS, max_side: int | None = WORK_SIDE
) -> LoadedImage:
    """Open an image as an upright ``"L"`` or ``"RGB"`` Pillow image.

    Parameters
    ----------
    source : path, bytes, PIL.Image.Image or np.ndarray
        A file (PNG, JPEG, BMP, GIF, TIFF, WebP, ... the first frame of an animation) or its
        bytes, an image already in memory (not changed: a JPEG that is not decoded yet is
        decoded at full size, where a file or bytes may be decoded reduced), or a uint8
        array ``(H, W)`` grey / ``(H, W, 3)`` RGB / ``(H, W, 4)`` RGBA.
    max_pixels : int
        Refuse larger images (width x height) with an ImageError.
    max_side : int or None
        Shrink (anti-aliased) so that the longest side is at most this; None keeps the size.

    Returns
    -------
    LoadedImage
        Its ``image`` has mode ``"L"`` or ``"RGB"``; transparency is flattened onto a
        background chosen to contrast with the opaque pixels (see :func:`flatten_alpha`).

    Raises
    ------
    ImageError
        Missing or unreadable file, not an image, truncated data, too many pixels.
    """
    name = _name(source)
    if isinstance(source, np.ndarray):
        img = _from_array(source)
    elif isinstance(source, Image.Image):
        img = source
    else:
        img = _open_file(source, max_pixels, name)
    ours = not isinstance(source, Image.Image)  # a caller's image is never changed
    _check_size(img, max_pixels, name)
    w, h = img.size
    try:
        if img.getexif().get(0x0112) in _QUARTER_TURNS:
            w, h = h, w
        if ours and max_side is not None and max(img.size) > max_side:
            img.draft(img.mode, _fit(img.size, max_side))  # JPEG: decode at 1/2, 1/4, 1/8 size
        img.load()
        img = ImageOps.exif_transpose(img)
        img = flatten_alpha(img)
        if max_side is not None and max(img.size) > max_side:
            img = img.resize(_fit(img.size, max_side), Image.Resampling.BOX)
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageError(
            f"{name}: cannot decode the image ({one_line(exc, 80)}); the file is "
            "truncated or corrupted"
        ) from None
    return LoadedImage(img, (w, h), name)


def read_grey(source: ImageSource, **kwargs) -> np.ndarray:
    """Grey levels of an image: ``(H, W)`` float32 in [0, 255] (see :func:`open_image`).

    8-bit grey images give their exact integer values, so ``255 - levels`` is exactly the
    colour-inverted image; colour is reduced to luma (ITU-R 601, as Pillow's ``"L"``).
    """
    return np.asarray(open_image(source, **kwargs).image.convert("L"), dtype=np.float32)


def flatten_alpha(img: Image.Image) -> Image.Image:
    """Drop transparency: composite over white when the opaque pixels are mostly dark, over
    black when they are light (a white digit drawn on a transparent canvas stays visible).

    Also turns every other mode (palette, 1-bit, 16-bit, CMYK, float...) into ``"L"`` or
    ``"RGB"``.
    """
    if img.mode in ("L", "RGB"):
        return img
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return _wide_to_l(img)
    has_alpha = "A" in img.getbands() or "transparency" in img.info
    if not has_alpha:
        return img.convert("RGB" if img.mode in ("P", "CMYK", "YCbCr", "LAB", "HSV") else "L")
    rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255  # (H, W, 4)
    alpha = rgba[..., 3:]
    luma = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)  # (H, W)
    weight = float(alpha.sum())
    mean = float((luma * alpha[..., 0]).sum() / weight) if weight > 0 else 0.0
    backdrop = 1.0 if mean < 0.5 else 0.0
    rgb = rgba[..., :3] * alpha + backdrop * (1 - alpha)
    return Image.fromarray(np.rint(rgb * 255).astype(np.uint8))


def _wide_to_l(img: Image.Image) -> Image.Image:
    """16/32-bit integer or float grey -> 8-bit, scaled by the type's range (16-bit) or the
    image's own range (32-bit and float, whose scale is not fixed)."""
    a = np.asarray(img, dtype=np.float64)
    if img.mode.startswith("I;16"):
        a = a / 65535.0
    else:
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    return Image.fromarray(np.rint(np.clip(a, 0, 1) * 255).astype(np.uint8))


def _open_file(source: str | os.PathLike | bytes, max_pixels: int, path: str) -> Image.Image:
    """Open (not decode) a file, or the bytes of one, named ``path`` in messages."""
    if isinstance(source, bytes | bytearray | memoryview):
        source = io.BytesIO(source)
    elif not Path(source).exists():
        raise ImageError(f"{path}: file not found")
    elif Path(source).is_dir():
        raise ImageError(f"{path}: is a folder, not an image file")
    try:
        with warnings.catch_warnings():
            # Pillow warns above its limit and refuses at twice it: both mean "too large"
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(source)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(
            f"{path}: image too large (more than {max_pixels:,} pixels; it may "
            "be a decompression bomb)"
        ) from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image (or a format Pillow cannot read)") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    except (ValueError, SyntaxError, EOFError, struct.error) as exc:  # a mangled header
        raise ImageError(
            f"{path}: not a readable image ({one_line(exc, 80)}); the file is "
            "truncated or corrupted"
        ) from None
    return img  # not decoded yet; animations and multi-page files: frame 1


def _check_size(img: Image.Image, max_pixels: int, name: str) -> None:
    w, h = img.size
    if w * h > max_pixels:
        raise ImageError(
            f"{name}: image too large ({w} x {h} pixels, over {max_pixels:,}: maybe a "
            "decompression bomb); resize it first"
        )
    if w == 0 or h == 0:
        raise ImageError(f"{name}: the image has no pixels ({w} x {h})")


def _from_array(a: np.ndarray) -> Image.Image:
    if a.dtype != np.uint8 or not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))):
        raise ConfigError(
            f"an image array must be uint8 (H, W), (H, W, 3) or (H, W, 4), got "
            f"dtype {a.dtype} shape {a.shape}"
        )
    return Image.fromarray(np.ascontiguousarray(a))  # (H, W) -> L, (H, W, 3|4) -> RGB(A)


def _fit(size: tuple[int, int], side: int) -> tuple[int, int]:
    w, h = size
    f = side / max(w, h)
    return max(1, round(w * f)), max(1, round(h * f))


def _name(source: ImageSource) -> str:
    if isinstance(source, np.ndarray):
        return "array"
    if isinstance(source, bytes | bytearray | memoryview):
        return "image"
    if isinstance(source, Image.Image):
        return getattr(source, "filename", "") or "image"
    return str(source)
