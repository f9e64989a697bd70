"""Synthetic "photos" of handwritten digits, for measuring recognition on images no one drew
for the test.

A 28x28 MNIST-style digit (or a number composed of several, :func:`compose_number`) is drawn
as dark ink on light paper and photographed badly (:func:`render_photo`): enlarged to a random
size with a random pen width, slightly rotated, put off-centre on a larger sheet of tinted,
textured paper under uneven lighting (a gradient, a vignette, a soft shadow), blurred, noisy
and JPEG-compressed. Every random choice comes from the ``np.random.Generator`` passed in.

The benchmark ``benchmarks/photos.py`` renders MNIST test digits this way; the tests render
scikit-learn's digits.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from digitnet.imaging.images import dilate


@dataclass(frozen=True)
class PhotoSettings:
    """Ranges the random photo parameters are drawn from (uniformly unless said otherwise).

    Attributes
    ----------
    height : (float, float)
        Height in pixels of the 20-px MNIST box once enlarged (log-uniform).
    pen : (float, float)
        Level at which the enlarged grey digit is cut into a crisp pen stroke: higher is
        thinner (0.3 keeps MNIST's width, 0.75 about halves it).
    thick : float
        Probability of a thick pen (a marker): strokes dilated by up to a third of the
        enlargement factor.
    rotate : float
        Maximum rotation in degrees.
    margin : (float, float)
        Sheet size as a multiple of the digit's size (each side drawn separately).
    paper : (float, float)
        Brightness of the paper.
    lighting : float
        Maximum darkening by the lighting gradient, by the vignette and by the shadow (each).
    ink : (float, float)
        Opacity of the ink (pencil to felt pen).
    blur : (float, float)
        Gaussian blur radius in pixels (focus, motion).
    noise : (float, float)
        Standard deviation of the sensor noise, as a fraction of the grey range.
    jpeg : (int, int)
        JPEG quality.
    """

    height: tuple[float, float] = (28.0, 160.0)
    pen: tuple[float, float] = (0.3, 0.75)
    thick: float = 0.25
    rotate: float = 10.0
    margin: tuple[float, float] = (1.3, 3.5)
    paper: tuple[float, float] = (0.6, 0.95)
    lighting: float = 0.3
    ink: tuple[float, float] = (0.6, 1.0)
    blur: tuple[float, float] = (0.0, 1.5)
    noise: tuple[float, float] = (0.005, 0.04)
    jpeg: tuple[int, int] = (35, 90)


DEFAULT = PhotoSettings()


def render_photo(
    ink: np.ndarray, rng: np.random.Generator, settings: PhotoSettings = DEFAULT
) -> Image.Image:
    """Draw MNIST-style ink as a photo of dark ink on paper (before JPEG compression).

    Parameters
    ----------
    ink : np.ndarray
        ``(h, w)`` uint8, 255 = ink, at MNIST scale (digits ~20 px tall).
    rng : np.random.Generator
    settings : PhotoSettings

    Returns
    -------
    PIL.Image.Image
        An RGB photo, larger than the digit, with the digit off-centre.
    """
    return _render(ink, None, rng, settings)[0]


def render_photo_with_owner(
    ink: np.ndarray, owner: np.ndarray, rng: np.random.Generator, settings: PhotoSettings = DEFAULT
) -> tuple[Image.Image, np.ndarray]:
    """:func:`render_photo`, also moving a label map along with the ink.

    ``owner`` is ``(h, w)`` uint8 (e.g. which digit each ink pixel belongs to, 0 for none);
    the result's second item is that map ``(H, W)`` in the photo's pixels (nearest-neighbour
    resampling; a marker's extra ink takes its neighbours' labels). The same ``rng`` state
    gives the same photo as :func:`render_photo`.
    """
    img, moved = _render(ink, owner, rng, settings)
    return img, moved


def _render(ink, owner, rng, s):
    pen, owner = draw_pen(ink.astype(np.float32) / 255, rng, s, owner)  # (ph, pw) in [0, 1]
    ph, pw = pen.shape
    hgt = max(ph, round(ph * rng.uniform(*s.margin)) + 8)
    wid = max(pw, round(pw * rng.uniform(*s.margin)) + 8)
    y, x = rng.integers(0, hgt - ph + 1), rng.integers(0, wid - pw + 1)
    cover = np.zeros((hgt, wid), dtype=np.float32)
    cover[y : y + ph, x : x + pw] = pen * rng.uniform(*s.ink)
    if owner is not None:
        placed = np.zeros((hgt, wid), dtype=np.uint8)
        placed[y : y + ph, x : x + pw] = owner
        owner = placed
    paper = paper_field((hgt, wid), rng, s)  # (H, W, 3)
    colour = rng.uniform(0.0, 0.25, size=3).astype(np.float32)  # black/blue pens
    colour[2] += rng.uniform(0, 0.2)
    photo = paper * (1 - cover[..., None]) + colour * cover[..., None]  # (H, W, 3)
    img = Image.fromarray(np.rint(np.clip(photo, 0, 1) * 255).astype(np.uint8))
    img = img.filter(ImageFilter.GaussianBlur(rng.uniform(*s.blur)))
    noisy = np.asarray(img, dtype=np.float32) + rng.normal(
        0, 255 * rng.uniform(*s.noise), size=(hgt, wid, 1)
    ).astype(np.float32)
    return Image.fromarray(np.clip(np.rint(noisy), 0, 255).astype(np.uint8)), owner


def draw_pen(
    ink: np.ndarray, rng: np.random.Generator, s: PhotoSettings, owner: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Enlarge a grey digit and turn it into crisp strokes of a random width, rotated.

    ``(h, w)`` float in [0, 1] -> ``(H, W)`` float32 in [0, 1]; ``owner`` (``(h, w)``
    uint8 labels, or None) goes through the same enlargement, dilation and rotation
    (nearest neighbour) and is returned second.
    """
    factor = np.exp(rng.uniform(*np.log(s.height))) / 20
    h, w = ink.shape
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    big = np.asarray(Image.fromarray(ink).resize(size, Image.Resampling.BICUBIC))
    if owner is not None:
        owner = np.asarray(Image.fromarray(owner).resize(size, Image.Resampling.NEAREST))
    # cut at the pen level, but never above 80% of the local ridge: a faint stroke of the
    # original gets thinner, it does not vanish (a real pen draws the whole digit)
    ridge = dilate(big, max(1, round(1.5 * factor)))
    level = np.minimum(rng.uniform(*s.pen), 0.8 * ridge)
    pen = np.clip((big - level) / 0.15 + 0.5, 0, 1).astype(np.float32)
    pen[ridge < 0.2] = 0  # nothing where there was no ink
    if rng.random() < s.thick:
        radius = rng.integers(1, max(2, round(factor / 3) + 1))
        pen = dilate(np.pad(pen, round(factor)), radius)
        if owner is not None:
            owner = dilate(np.pad(owner, round(factor)), radius)
    angle = rng.uniform(-s.rotate, s.rotate)
    turned = Image.fromarray(pen).rotate(angle, Image.Resampling.BICUBIC, expand=True)
    if owner is not None:
        owner = np.asarray(
            Image.fromarray(owner).rotate(angle, Image.Resampling.NEAREST, expand=True)
        )
    return np.clip(np.asarray(turned), 0, 1), owner


def paper_field(shape: tuple[int, int], rng: np.random.Generator, s: PhotoSettings) -> np.ndarray:
    """Tinted, textured paper under uneven light: ``(H, W, 3)`` float32 in [0, 1]."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy, xx = yy / max(h, w), xx / max(h, w)  # (H, W), longest side 1
    theta, phi = rng.uniform(0, 2 * np.pi, size=2)
    gradient = 1 - rng.uniform(0, s.lighting) * _unit(np.cos(theta) * xx + np.sin(theta) * yy)
    cy, cx = rng.uniform(0, 1, size=2)
    vignette = 1 - rng.uniform(0, s.lighting) * np.minimum(((yy - cy) ** 2 + (xx - cx) ** 2) * 2, 1)
    edge = (np.cos(phi) * xx + np.sin(phi) * yy - rng.uniform(0.2, 1.2)) / rng.uniform(0.05, 0.3)
    shadow = 1 - rng.uniform(0, s.lighting) / (1 + np.exp(-np.clip(edge, -30, 30)))
    coarse = rng.normal(0, 0.025, size=(6, 6)).astype(np.float32)
    texture = 1 + np.asarray(Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC))
    tint = np.array([1.0, rng.uniform(0.93, 1.0), rng.uniform(0.82, 1.0)], dtype=np.float32)
    light = (gradient * vignette * shadow * texture * rng.uniform(*s.paper)).astype(np.float32)
    return light[..., None] * tint  # (H, W, 3)


def _unit(a: np.ndarray) -> np.ndarray:
    lo, hi = float(a.min()), float(a.max())
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def jpeg_bytes(
    img: Image.Image, rng: np.random.Generator, settings: PhotoSettings = DEFAULT
) -> bytes:
    """The photo as a JPEG file's bytes, at a random quality."""
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=int(rng.integers(settings.jpeg[0], settings.jpeg[1] + 1)))
    return buf.getvalue()


def compose_number(
    digits: np.ndarray, rng: np.random.Generator, *, touching: float = 0.15
) -> tuple[np.ndarray, int]:
    """Write MNIST-style digits side by side as one number.

    Each digit is cropped to its ink columns and placed after the previous one with a gap of
    1 to 8 px (at MNIST scale), or, with probability ``touching`` per gap, of -1 or 0 px: the
    boxes abut or overlap by a pixel, and the strokes touch wherever both digits reach that
    edge at the same height (or cross a little when they lean). Rows shift by up to 2 px.
    Overlapping ink takes the maximum.

    Parameters
    ----------
    digits : np.ndarray
        ``(k, 28, 28)`` uint8.
    rng : np.random.Generator
    touching : float
        Probability that a gap is 0 or -1.

    Returns
    -------
    strip : np.ndarray
        ``(32, W)`` uint8, the number.
    touches : int
        How many neighbouring pairs have ink that touches (8-connected) or overlaps.
    """
    layers = number_layers(digits, rng, touching=touching)
    touches = sum(
        bool((dilate(a > 76, 1) & (b > 76)).any()) for a, b in zip(layers, layers[1:], strict=False)
    )
    return layers.max(axis=0), touches


def number_layers(
    digits: np.ndarray, rng: np.random.Generator, *, touching: float = 0.15
) -> np.ndarray:
    """The layout of :func:`compose_number` with each digit on its own layer:
    ``(k, 28, 28)`` uint8 -> ``(k, 32, W)`` uint8 (the number is their maximum)."""
    crops = [d[:, np.flatnonzero(d.any(axis=0))] for d in digits]
    gaps = np.where(
        rng.random(len(crops)) < touching,
        rng.integers(-1, 1, len(crops)),
        rng.integers(1, 9, len(crops)),
    )
    gaps[0] = 2
    lefts = np.cumsum(gaps + np.array([0] + [c.shape[1] for c in crops[:-1]]))
    layers = np.zeros((len(crops), 32, int(lefts[-1] + crops[-1].shape[1] + 2)), dtype=np.uint8)
    for layer, crop, left in zip(layers, crops, lefts, strict=True):
        top = 2 + int(rng.integers(-2, 3))
        layer[top : top + 28, left : left + crop.shape[1]] = crop
    return layers
