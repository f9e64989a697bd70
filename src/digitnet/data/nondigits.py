"""Things that are not digits, drawn the way people draw them on the page: blank and speckled
images, dots, lines, boxes, crosses, scribbles, shapes and letters (from fonts, and drawn as
strokes), each normalised as the reading normalises a person's image
(:func:`digitnet.imaging.images.normalise_digit`: cropped, longest side 20 px, centre of mass
at the centre), so that a dot becomes the filled disc the network is shown.

Two disjoint parts, so that the benchmark measures what training never saw:

- ``"train"``: the families of :data:`TRAIN_FAMILIES`, letters in :data:`TRAIN_FONTS`;
- ``"test"``: every family, including :data:`TEST_ONLY_FAMILIES` (kinds of shapes training
  never shows), letters in :data:`TEST_FONTS` (fonts training never shows), other random
  draws.

Nothing here is stored: :func:`nondigits` draws ``count`` images from a generator.
Strokes that *are* digits in some hand are left out: a near-vertical line (a 1), a circle or
an oval (a 0), and the letters that look like digits (O, I, l, Z, S, B, G, b, g, q, ...).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from digitnet.data.styles import draw_polyline, draw_segment
from digitnet.imaging.images import normalise_digit

CANVAS = 96
#: letters unlike any digit (no O/0, I/l/1, Z/2, S/5, G/b/6, T/7?, B/8, g/q/9 lookalikes)
LETTERS = "ACEFHKLMNPRUVWXYacdefhkmnprtuvwxy"
TRAIN_FONTS = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSansMono-Oblique.ttf",
    "cmr10.ttf",
    "cmmi10.ttf",
    "STIXGeneralBol.ttf",
)
TEST_FONTS = (
    "DejaVuSans-Oblique.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSansMono.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralItalic.ttf",
    "cmss10.ttf",
    "cmtt10.ttf",
    "cmti10.ttf",
)

Point = tuple[float, float]


def _jitter(points: list[Point], rng: np.random.Generator, amount: float) -> list[Point]:
    return [(y + rng.normal(0, amount), x + rng.normal(0, amount)) for y, x in points]


def _box(rng) -> list[list[Point]]:
    # squarish: a tall narrow box is how some people write a 0
    h = rng.uniform(25, 70)
    w = h * rng.uniform(0.7, 1.6)
    y, x = (CANVAS - h) / 2, (CANVAS - w) / 2
    corners = [(y, x), (y, x + w), (y + h, x + w), (y + h, x), (y, x)]
    return [_jitter(corners, rng, 2.0)]


def _line(rng) -> list[list[Point]]:
    # at least 40 degrees from the vertical: steeper lines are 1s
    angle = math.radians(rng.uniform(-50, 50))
    length = rng.uniform(20, 80)
    dy, dx = math.sin(angle) * length / 2, math.cos(angle) * length / 2
    c = CANVAS / 2
    return [[(c - dy, c - dx), (c + dy, c + dx)]]


def _dot(rng) -> list[list[Point]]:
    c = CANVAS / 2 + rng.normal(0, 3, size=2)
    return [[(c[0], c[1]), (c[0] + rng.normal(0, 1.5), c[1] + rng.normal(0, 1.5))]]


def _cross(rng) -> list[list[Point]]:
    c, r = CANVAS / 2, rng.uniform(15, 35)
    a = math.radians(rng.choice([0.0, 45.0]) + rng.uniform(-12, 12))
    out = []
    for turn in (0.0, math.pi / 2):
        dy, dx = math.sin(a + turn) * r, math.cos(a + turn) * r
        out.append(_jitter([(c - dy, c - dx), (c + dy, c + dx)], rng, 1.5))
    return out


def _scribble(rng) -> list[list[Point]]:
    # long and tangled: a short random stroke can be a digit
    n = int(rng.integers(16, 40))
    heading, speed = rng.uniform(0, 2 * math.pi), rng.uniform(6, 14)
    y, x, pts = CANVAS / 2, CANVAS / 2, []
    for _ in range(n):
        pts.append((y, x))
        heading += rng.normal(0, 1.2)
        y = float(np.clip(y + speed * math.sin(heading), 10, CANVAS - 10))
        x = float(np.clip(x + speed * math.cos(heading), 10, CANVAS - 10))
    return [pts]


def _zigzag(rng) -> list[list[Point]]:
    # lying down only: an upright zigzag is a 2, a 3 or a 5 in some hands
    n = int(rng.integers(4, 9))
    w, h = rng.uniform(40, 80), rng.uniform(10, 35)
    xs = np.linspace((CANVAS - w) / 2, (CANVAS + w) / 2, n + 1)
    ys = CANVAS / 2 + h / 2 * np.array([(-1) ** i for i in range(n + 1)])
    pts = list(zip(ys.tolist(), xs.tolist(), strict=True))
    return [_jitter(pts, rng, 2.0)]


def _hatch(rng) -> list[list[Point]]:
    n, c = int(rng.integers(3, 7)), CANVAS / 2
    gap, length = rng.uniform(6, 14), rng.uniform(30, 70)
    a = math.radians(rng.uniform(-30, 30) + rng.choice([0.0, 90.0, 45.0]))
    out = []
    for i in range(n):
        off = (i - (n - 1) / 2) * gap
        cy, cx = c + off * math.cos(a), c - off * math.sin(a)
        dy, dx = math.sin(a) * length / 2, math.cos(a) * length / 2
        out.append(_jitter([(cy - dy, cx - dx), (cy + dy, cx + dx)], rng, 1.5))
    return out


def _triangle(rng) -> list[list[Point]]:
    c, r = CANVAS / 2, rng.uniform(20, 38)
    a0 = rng.uniform(0, 2 * math.pi)
    pts = [
        (c + r * math.sin(a0 + k * 2 * math.pi / 3), c + r * math.cos(a0 + k * 2 * math.pi / 3))
        for k in range(4)
    ]
    return [_jitter(pts, rng, 2.0)]


def _check_mark(rng) -> list[list[Point]]:
    c = CANVAS / 2
    s = rng.uniform(15, 30)
    return [_jitter([(c, c - s), (c + s * 0.8, c - s * 0.3), (c - s * 1.2, c + s * 1.2)], rng, 2)]


def _star(rng) -> list[list[Point]]:
    c, r = CANVAS / 2, rng.uniform(22, 38)
    a0 = rng.uniform(0, 2 * math.pi)
    pts = [
        (c + r * math.sin(a0 + k * 4 * math.pi / 5), c + r * math.cos(a0 + k * 4 * math.pi / 5))
        for k in range(6)
    ]
    return [_jitter(pts, rng, 1.5)]


def _asterisk(rng) -> list[list[Point]]:
    c, r, n = CANVAS / 2, rng.uniform(18, 34), int(rng.integers(3, 5))
    a0 = rng.uniform(0, math.pi)
    out = []
    for k in range(n):
        dy, dx = r * math.sin(a0 + k * math.pi / n), r * math.cos(a0 + k * math.pi / n)
        out.append(_jitter([(c - dy, c - dx), (c + dy, c + dx)], rng, 1.5))
    return out


def _spiral(rng) -> list[list[Point]]:
    c, turns = CANVAS / 2, rng.uniform(1.5, 3)
    t = np.linspace(0, turns * 2 * math.pi, 60)
    r = 4 + 30 * t / t[-1]
    return [list(zip((c + r * np.sin(t)).tolist(), (c + r * np.cos(t)).tolist(), strict=True))]


def _arrow(rng) -> list[list[Point]]:
    c, length = CANVAS / 2, rng.uniform(40, 70)
    a = rng.uniform(0, 2 * math.pi)
    tip = (c + math.sin(a) * length / 2, c + math.cos(a) * length / 2)
    tail = (c - math.sin(a) * length / 2, c - math.cos(a) * length / 2)
    barbs = [(tip[0] - 15 * math.sin(a + s), tip[1] - 15 * math.cos(a + s)) for s in (0.5, -0.5)]
    return [[tail, tip], [barbs[0], tip, barbs[1]]]


def _hash(rng) -> list[list[Point]]:
    c, r, g = CANVAS / 2, rng.uniform(22, 36), rng.uniform(8, 14)
    s = math.tan(math.radians(rng.uniform(-15, 15)))
    return [
        _jitter(line, rng, 1.5)
        for line in (
            [(c - g, c - r), (c - g, c + r)],
            [(c + g, c - r), (c + g, c + r)],
            [(c - r, c - g + s * r), (c + r, c - g - s * r)],
            [(c - r, c + g + s * r), (c + r, c + g - s * r)],
        )
    ]


def _wave(rng) -> list[list[Point]]:
    w, amp, k = rng.uniform(40, 80), rng.uniform(5, 15), rng.uniform(1.5, 3.5)
    xs = np.linspace((CANVAS - w) / 2, (CANVAS + w) / 2, 40)
    ys = CANVAS / 2 + amp * np.sin(np.linspace(0, k * 2 * math.pi, 40))
    return [list(zip(ys.tolist(), xs.tolist(), strict=True))]


def _polyline(rng) -> list[list[Point]]:
    """6-9 strokes joined at sharp random turns: a tangle no one writes as a digit."""
    n = int(rng.integers(6, 10))
    pts = [tuple(rng.uniform(15, CANVAS - 15, size=2))]
    heading = rng.uniform(0, 2 * math.pi)
    for _ in range(n):
        heading += rng.choice([-1, 1]) * rng.uniform(2.0, 2.8)  # turns of 115-160 deg
        length = rng.uniform(20, 45)
        y = float(np.clip(pts[-1][0] + length * math.sin(heading), 8, CANVAS - 8))
        x = float(np.clip(pts[-1][1] + length * math.cos(heading), 8, CANVAS - 8))
        pts.append((y, x))
    return [pts]


def _two_shapes(rng) -> list[list[Point]]:
    """Two of the simple shapes on top of each other."""
    kinds = [_box, _cross, _triangle, _line, _zigzag]
    a, b = rng.choice(len(kinds), 2, replace=False)
    return kinds[a](rng) + kinds[b](rng)


#: hand-drawn capital letters as strokes in a unit box (row, column), jittered when drawn
STROKE_LETTERS: dict[str, list[list[Point]]] = {
    "A": [[(1, 0), (0, 0.5), (1, 1)], [(0.55, 0.25), (0.55, 0.75)]],
    "E": [[(0, 1), (0, 0), (1, 0), (1, 1)], [(0.5, 0), (0.5, 0.75)]],
    "F": [[(0, 1), (0, 0), (1, 0)], [(0.5, 0), (0.5, 0.75)]],
    "H": [[(0, 0), (1, 0)], [(0, 1), (1, 1)], [(0.5, 0), (0.5, 1)]],
    "K": [[(0, 0), (1, 0)], [(0, 1), (0.55, 0), (1, 1)]],
    "M": [[(1, 0), (0, 0), (0.6, 0.5), (0, 1), (1, 1)]],
    "N": [[(1, 0), (0, 0), (1, 1), (0, 1)]],
    "V": [[(0, 0), (1, 0.5), (0, 1)]],
    "W": [[(0, 0), (1, 0.25), (0.4, 0.5), (1, 0.75), (0, 1)]],
    "X": [[(0, 0), (1, 1)], [(0, 1), (1, 0)]],
    "Y": [[(0, 0), (0.5, 0.5), (0, 1)], [(0.5, 0.5), (1, 0.5)]],
    "R": [
        [(1, 0), (0, 0), (0, 0.7), (0.15, 0.9), (0.35, 0.9), (0.5, 0.7), (0.5, 0)],
        [(0.5, 0.4), (1, 1)],
    ],
    "P": [[(1, 0), (0, 0), (0, 0.7), (0.15, 0.9), (0.35, 0.9), (0.5, 0.7), (0.5, 0)]],
    "C": [[(0.1, 1), (0, 0.6), (0.15, 0.1), (0.5, 0), (0.85, 0.1), (1, 0.6), (0.9, 1)]],
    "U": [[(0, 0), (0.8, 0), (1, 0.3), (1, 0.7), (0.8, 1), (0, 1)]],
}


def _stroke_letter(rng) -> list[list[Point]]:
    strokes = STROKE_LETTERS[rng.choice(sorted(STROKE_LETTERS))]
    h, w = rng.uniform(40, 70), rng.uniform(30, 60)
    shear = rng.uniform(-0.3, 0.3)
    y0, x0 = (CANVAS - h) / 2, (CANVAS - w) / 2
    return [
        _jitter([(y0 + y * h, x0 + x * w + shear * (0.5 - y) * h) for y, x in s], rng, 2.0)
        for s in strokes
    ]


Strokes = Callable[[np.random.Generator], list[list[Point]]]
#: the families training sees (shapes drawn as strokes; "letter" and "blank" are special)
TRAIN_FAMILIES: dict[str, Strokes | None] = {
    "blank": None,
    "dot": _dot,
    "line": _line,
    "box": _box,
    "cross": _cross,
    "scribble": _scribble,
    "zigzag": _zigzag,
    "hatch": _hatch,
    "triangle": _triangle,
    "check": _check_mark,
    "stroke letter": _stroke_letter,
    "font letter": None,
    "polyline": _polyline,
    "two shapes": _two_shapes,
}
#: kinds the benchmark shows and training never does
TEST_ONLY_FAMILIES: dict[str, Strokes | None] = {
    "star": _star,
    "asterisk": _asterisk,
    "spiral": _spiral,
    "arrow": _arrow,
    "hash": _hash,
    "wave": _wave,
}


@lru_cache(maxsize=64)
def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name
    return ImageFont.truetype(str(path), size)


def _font_letter(rng: np.random.Generator, fonts: tuple[str, ...]) -> np.ndarray:
    img = Image.new("L", (CANVAS, CANVAS), 0)
    font = _font(str(rng.choice(fonts)), int(rng.integers(48, 72)))
    ImageDraw.Draw(img).text(
        (CANVAS / 2, CANVAS / 2), str(rng.choice(list(LETTERS))), fill=255, font=font, anchor="mm"
    )
    angle = rng.uniform(-12, 12)
    return np.asarray(img.rotate(angle, resample=Image.Resampling.BILINEAR), dtype=np.float32) / 255


def draw_canvas(
    family: str, rng: np.random.Generator, fonts: tuple[str, ...] = TRAIN_FONTS
) -> np.ndarray:
    """One non-digit of ``family`` as drawn: a ``(96, 96)`` float canvas, ink 1 on 0 (all
    zero, with a few faint specks at most, for ``"blank"``)."""
    if family == "blank":
        canvas = np.zeros((CANVAS, CANVAS), np.float32)
        if rng.random() < 0.5:  # a few specks of dust
            n = int(rng.integers(1, 6))
            canvas[rng.integers(0, CANVAS, n), rng.integers(0, CANVAS, n)] = rng.uniform(
                0.1, 0.5, n
            )
        return canvas
    if family == "font letter":
        return _font_letter(rng, fonts)
    draw = {**TRAIN_FAMILIES, **TEST_ONLY_FAMILIES}[family]
    assert draw is not None
    canvas = np.zeros((CANVAS, CANVAS), np.float32)
    width = rng.uniform(2.5, 7.0)
    if family == "dot":  # (drawn after the first width: the training mix's stream)
        width = rng.uniform(4, 14)
    for stroke in draw(rng):
        if len(stroke) == 2:
            draw_segment(canvas, stroke[0], stroke[1], width)
        else:
            draw_polyline(canvas, stroke, width)
    return canvas


def draw_family(
    family: str, rng: np.random.Generator, fonts: tuple[str, ...] = TRAIN_FONTS
) -> np.ndarray:
    """One non-digit of ``family`` as the network sees it: ``(28, 28)`` uint8, normalised as
    the reading normalises a person's digit (a blank stays blank, its specks shrunk)."""
    if family == "blank":
        img = np.zeros((28, 28), np.float32)
        if rng.random() < 0.5:  # a few specks of dust
            n = int(rng.integers(1, 6))
            img[rng.integers(0, 28, n), rng.integers(0, 28, n)] = rng.uniform(0.1, 0.5, n)
        return np.rint(img * 255).astype(np.uint8)
    canvas = draw_canvas(family, rng, fonts)
    if not (canvas > 0.5).any():
        canvas = np.maximum(canvas, (canvas >= canvas.max() * 0.5).astype(np.float32))
    return normalise_digit(canvas, canvas > 0.5)


def nondigits(
    count: int, rng: np.random.Generator, part: str = "train"
) -> tuple[np.ndarray, list[str]]:
    """``count`` non-digits ``(count, 28, 28)`` uint8 and the family of each, the families
    taken in turn (so every family is equally represented)."""
    if part not in ("train", "test"):
        raise ValueError(f"part must be 'train' or 'test', got {part!r}")
    families = list(TRAIN_FAMILIES) + (list(TEST_ONLY_FAMILIES) if part == "test" else [])
    fonts = TRAIN_FONTS if part == "train" else TEST_FONTS
    names = [families[i % len(families)] for i in range(count)]
    images = [draw_family(f, rng, fonts) for f in names]
    return (np.stack(images) if images else np.zeros((0, 28, 28), np.uint8)), names
