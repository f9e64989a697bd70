"""Continental handwriting made from MNIST digits: the strokes that MNIST's American writers
leave out, drawn onto their own digits.

MNIST's writers (US Census staff and students, 1990s) write a 1 as a bare stroke, a 7 without
a crossbar, a 4 open at the top and a 9 with a straight tail. Much of the world writes a 1
with a long rising flag and often a foot, crosses its 7s, closes its 4s and curls its 9s;
a network trained on MNIST alone reads those as 7, 4?, 9 and 3 or 8. :func:`continental`
adds each of those strokes to a copy of a digit, with the digit's own stroke width, and
normalises the result as :func:`digitnet.imaging.images.normalise_digit` does a person's
image (cropped, longest side 20 px, centre of mass at the centre).

Every variant is drawn on a 3x enlargement of the 28x28 digit (bilinear), so the new stroke
is as smooth as the old ones, with random lengths and angles from the passed generator.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from digitnet.imaging.images import normalise_digit
from digitnet.imaging.segment import stroke_width

#: the digits that get a continental variant, and what is drawn on each
STYLES = {1: "flag (and sometimes a foot)", 7: "crossbar", 4: "closed top", 9: "curled tail"}
UP = 3  # drawing resolution: 3x the 28x28 digit


def draw_segment(
    canvas: np.ndarray, p0: tuple[float, float], p1: tuple[float, float], width: float
) -> None:
    """Draw an anti-aliased stroke of ``width`` pixels from ``p0`` to ``p1`` ((row, col)
    pixel centres) into ``canvas`` ``(H, W)`` float in [0, 1], in place (maximum with the ink
    already there): a capsule, full ink within width/2 of the segment, fading over a pixel."""
    h, w = canvas.shape
    r = width / 2
    y0, x0 = p0
    y1, x1 = p1
    top, bottom = (
        int(max(0, math.floor(min(y0, y1) - r - 1))),
        int(min(h, math.ceil(max(y0, y1) + r + 2))),
    )
    left, right = (
        int(max(0, math.floor(min(x0, x1) - r - 1))),
        int(min(w, math.ceil(max(x0, x1) + r + 2))),
    )
    if top >= bottom or left >= right:
        return
    ys, xs = np.mgrid[top:bottom, left:right].astype(np.float32)
    dy, dx = y1 - y0, x1 - x0
    length2 = dy * dy + dx * dx
    t = (
        np.zeros_like(ys)
        if length2 == 0
        else np.clip(((ys - y0) * dy + (xs - x0) * dx) / length2, 0, 1)
    )
    dist = np.hypot(ys - (y0 + t * dy), xs - (x0 + t * dx))
    ink = np.clip(r + 0.5 - dist, 0, 1)
    np.maximum(canvas[top:bottom, left:right], ink, out=canvas[top:bottom, left:right])


def draw_polyline(canvas: np.ndarray, points: list[tuple[float, float]], width: float) -> None:
    for a, b in zip(points[:-1], points[1:], strict=True):
        draw_segment(canvas, a, b, width)


def _ink_points(big: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.nonzero(big > 0.5)
    return ys.astype(np.float32), xs.astype(np.float32)


def _flag_one(big, width, rng) -> bool:
    """A long rising flag from the top of the stroke down to the left; a foot on 40%."""
    ys, xs = _ink_points(big)
    top, bottom = ys.min(), ys.max()
    height = bottom - top
    near_top = ys <= top + 0.06 * height
    start = (top, float(xs[near_top].mean()))
    length = rng.uniform(0.35, 0.75) * height
    angle = math.radians(rng.uniform(20, 60))  # below the horizontal
    end = (start[0] + length * math.sin(angle), start[1] - length * math.cos(angle))
    if rng.random() < 0.3:  # a slightly curved flag
        mid = ((start[0] + end[0]) / 2 - 0.05 * height, (start[1] + end[1]) / 2)
        draw_polyline(big, [end, mid, start], width)
    else:
        draw_segment(big, end, start, width)
    if rng.random() < 0.4:
        near_bottom = ys >= bottom - 0.06 * height
        x = float(xs[near_bottom].mean())
        half = rng.uniform(0.15, 0.3) * height
        draw_segment(big, (bottom, x - half), (bottom, x + half * rng.uniform(0.7, 1.2)), width)
    return True


def _cross_seven(big, width, rng) -> bool:
    """A short bar across the stem, a little below the middle."""
    ys, xs = _ink_points(big)
    top, bottom = ys.min(), ys.max()
    height = bottom - top
    row = top + rng.uniform(0.45, 0.62) * height
    on_row = np.abs(ys - row) < 1.5
    if not on_row.any():
        return False
    cols = xs[on_row]
    if cols.max() - cols.min() > 0.35 * height:  # two strokes on the row: not a stem
        return False
    x = float(cols.mean())
    half = rng.uniform(0.16, 0.3) * height
    tilt = math.tan(math.radians(rng.uniform(-8, 8))) * half
    offset = rng.uniform(-0.3, 0.3) * half
    draw_segment(big, (row + tilt, x - half + offset), (row - tilt, x + half + offset), width)
    return True


def _close_four(big, width, rng) -> bool:
    """Join the tops of the two strokes of an open 4."""
    ys, xs = _ink_points(big)
    top, bottom = ys.min(), ys.max()
    height = bottom - top
    upper = ys < top + 0.45 * height
    mid_x = float(np.median(xs[upper]))
    left, right = upper & (xs < mid_x - 1), upper & (xs > mid_x + 1)
    if left.sum() < 3 or right.sum() < 3:
        return False
    li = np.argmin(ys[left])
    ri = np.argmin(ys[right])
    a = (float(ys[left][li]), float(xs[left][li]))
    b = (float(ys[right][ri]), float(xs[right][ri]))
    if b[1] - a[1] < 0.2 * height:  # the tops are not apart: not open
        return False
    # continental 4s are often closed with a stroke from the top of the stem down to the
    # left arm's top, so the join slopes a little
    draw_segment(big, a, (b[0] + rng.uniform(-0.05, 0.05) * height, b[1]), width)
    return True


def _curl_nine(big, width, rng) -> bool:
    """A tail curling to the left at the bottom (a hook of 90-180 degrees)."""
    ys, xs = _ink_points(big)
    top, bottom = ys.min(), ys.max()
    height = bottom - top
    near_bottom = ys >= bottom - 0.05 * height
    end = (bottom, float(xs[near_bottom].mean()))
    radius = rng.uniform(0.12, 0.25) * height
    sweep = math.radians(rng.uniform(90, 180))
    # the circle's centre lies left of the tail's end; start at its rightmost point (angle 0)
    # and turn downwards then left and up, as a pen finishing a 9 does
    cy, cx = end[0] - radius * 0.2, end[1] - radius
    points = [
        (cy + radius * math.sin(a) + radius * 0.2, cx + radius * math.cos(a))
        for a in np.linspace(0.0, sweep, 8)
    ]
    draw_polyline(big, [end, *points], width)
    return True


_DRAW = {1: _flag_one, 7: _cross_seven, 4: _close_four, 9: _curl_nine}


def continental_variant(
    image: np.ndarray, label: int, rng: np.random.Generator
) -> np.ndarray | None:
    """One digit ``(28, 28)`` uint8 with its continental stroke added, normalised again ->
    ``(28, 28)`` uint8; None when ``label`` has no variant or the digit's shape does not
    allow one (e.g. a 4 already closed)."""
    draw = _DRAW.get(int(label))
    if draw is None or not image.any():
        return None
    x = image.astype(np.float32) / 255
    big = np.asarray(Image.fromarray(x).resize((28 * UP, 28 * UP), Image.Resampling.BILINEAR))
    # a margin around the digit: the new strokes may reach beyond its 28x28 frame
    big = np.pad(np.clip(big, 0, 1), 14 * UP)
    mask = big > 0.5
    if mask.sum() < 10:
        return None
    width = max(1.5, stroke_width(mask) * rng.uniform(0.85, 1.1))
    if not draw(big, width, rng):
        return None
    return normalise_digit(big, big > 0.5)


def continental(
    images: np.ndarray, labels: np.ndarray, rng: np.random.Generator, fraction: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Continental variants of about ``fraction`` of the 1s, 4s, 7s and 9s of
    ``images`` ``(N, 28, 28)`` uint8 / ``labels`` ``(N,)``: ``(M, 28, 28)`` uint8 and their
    labels (the digits whose shape allowed none are skipped)."""
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be in [0, 1], got {fraction!r}")
    picked = np.flatnonzero(np.isin(labels, list(_DRAW)) & (rng.random(len(labels)) < fraction))
    out, out_labels = [], []
    for i in picked:
        v = continental_variant(images[i], int(labels[i]), rng)
        if v is not None:
            out.append(v)
            out_labels.append(int(labels[i]))
    if not out:
        return np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64)
    return np.stack(out), np.array(out_labels, dtype=np.int64)


def box_scan(image: np.ndarray, size: int = 16, level: float = 0.5) -> np.ndarray:
    """A digit as a form scanner of the 1990s kept it, then read as a person's image:
    its ink's bounding box stretched to fill a ``size`` x ``size`` box whatever the digit's
    shape (so a flagged 1 is as wide as a 0), thresholded at ``level`` to black and white,
    then normalised as the reading normalises a small scan (longest side 20 px,
    anti-aliased, centre of mass at the centre). ``(28, 28)`` uint8 -> ``(28, 28)`` uint8.

    This is how semeion (16x16) and NIST's form programs (32x32) stored digits."""
    x = image.astype(np.float32) / 255
    rows, cols = np.flatnonzero((x > 0.3).any(axis=1)), np.flatnonzero((x > 0.3).any(axis=0))
    if not len(rows):
        return image.copy()
    crop = x[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    if 3 * min(h, w) < max(h, w):  # a bare stroke: stretched 3x, not into a block
        pad = (max(h, w) // 3 - min(h, w)) // 2
        crop = np.pad(crop, ((0, 0), (pad, pad)) if w < h else ((pad, pad), (0, 0)))
    small = np.asarray(Image.fromarray(crop).resize((size, size), Image.Resampling.BOX))
    binary = (small > level).astype(np.float32)
    if not binary.any():
        binary = (small >= small.max()).astype(np.float32)
    big = np.asarray(Image.fromarray(binary).resize((size * 4, size * 4), Image.Resampling.NEAREST))
    return normalise_digit(big, big > 0.5)


def box_scans(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """:func:`box_scan` of each image with a random box (12-32 px) and threshold
    (0.35-0.65): ``(N, 28, 28)`` uint8 -> ``(N, 28, 28)`` uint8."""
    out = np.empty_like(images)
    for i, img in enumerate(images):
        out[i] = box_scan(img, int(rng.integers(12, 33)), float(rng.uniform(0.35, 0.65)))
    return out
