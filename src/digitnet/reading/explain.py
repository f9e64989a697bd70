"""``--explain``: one PNG per image showing each preprocessing step and the 28x28 inputs the
network received, with what it read.

Top row: the image as read; grey with the ink made bright (inverted or not); the estimated
background; the ink once the background is removed; the confident ink with one numbered box per
digit (left to right). Bottom row: each digit's 28x28 input, enlarged, with the digit read and
its probability (and the runners-up).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from digitnet.errors import DigitnetError
from digitnet.files import atomic_write
from digitnet.reading.recognise import Recognition

TILE = 200  # height of the step pictures
DIGIT_ZOOM = 5  # 28x28 inputs are shown 140x140
PAD = 10
COLOURS = [
    (230, 25, 75),
    (60, 180, 75),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
]


def render_explain(result: Recognition) -> Image.Image:
    """The explanation picture of a successful :class:`Recognition` (one with ``prepared``)."""
    p = result.prepared
    if p is None:
        raise ValueError("render_explain needs a Recognition with its preprocessing steps")
    steps = [
        ("input", p.loaded.image.convert("RGB")),
        ("grey, ink bright" + (" (inverted)" if p.inkmap.inverted else ""), _grey(p.grey)),
        ("background", _grey(p.inkmap.background)),
        ("ink - background", _grey(p.inkmap.ink)),
        (f"{len(result.digits)} digit(s) read", _boxes(p, result.chosen)),
    ]
    tiles = [(title, _fit(img)) for title, img in steps]
    inputs = [
        (
            _digit_title(d.top),
            Image.fromarray(x)
            .resize((28 * DIGIT_ZOOM, 28 * DIGIT_ZOOM), Image.Resampling.NEAREST)
            .convert("RGB"),
        )
        for d, x in zip(result.digits, p.inputs(result.chosen), strict=True)
    ]
    font = _font(14)
    header = (
        f"{result.file}: read {result.prediction} (confidence {result.confidence:.1%})"
        if result.prediction is not None
        else f"{result.file}: {result.reason}"
    )
    width = max(_row_width(tiles, font), _row_width(inputs, font), 12 + 8 * len(header))
    height = PAD + 24 + TILE + 24 + PAD + 28 * DIGIT_ZOOM + 2 * 24 + PAD
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    draw.text((PAD, PAD), header, fill=(0, 0, 0), font=font)
    _paste_row(canvas, draw, tiles, PAD + 24, font, title_below=True)
    _paste_row(canvas, draw, inputs, PAD + 24 + TILE + 24 + PAD, font, title_below=True)
    return canvas


def write_explain(path: str | os.PathLike, result: Recognition) -> Path:
    """Render and write the explanation PNG atomically (temporary file, then rename).

    Raises
    ------
    DigitnetError
        The file cannot be written (one line, naming it).
    """
    path = Path(path)
    img = render_explain(result)
    try:
        atomic_write(path, lambda f: img.save(f, format="PNG"))
    except OSError as exc:
        raise DigitnetError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def _digit_title(top: list[tuple[int, float]]) -> str:
    best = f"{top[0][0]} {top[0][1]:.1%}"
    rest = ", ".join(f"{d} {p:.1%}" for d, p in top[1:3])
    return f"{best}\n({rest})" if rest else best


def _grey(a: np.ndarray) -> Image.Image:
    return Image.fromarray(np.rint(np.clip(a, 0, 1) * 255).astype(np.uint8)).convert("RGB")


def _boxes(p, chosen: list[int]) -> Image.Image:
    img = _grey(p.inkmap.mask.astype(np.float32) * 0.6)
    draw = ImageDraw.Draw(img)
    width = max(1, round(max(img.size) / 300))
    font = _font(max(10, round(max(img.size) / 25)))
    for i, s in enumerate(p.segments[k] for k in chosen):
        colour = COLOURS[i % len(COLOURS)]
        draw.rectangle((s.left, s.top, s.right - 1, s.bottom - 1), outline=colour, width=width)
        draw.text(
            (s.left, max(0, s.top - font.size - 2) if hasattr(font, "size") else s.top),
            str(i + 1),
            fill=colour,
            font=font,
        )
    return img


def _fit(img: Image.Image) -> Image.Image:
    """Scale to the tile height (at most 2.5 tiles wide), nearest-neighbour when enlarging so
    that pixels stay visible."""
    w, h = img.size
    f = min(TILE / h, 2.5 * TILE / w)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    return img.resize(size, Image.Resampling.NEAREST if f > 1 else Image.Resampling.BOX)


def _row_width(items: list[tuple[str, Image.Image]], font) -> int:
    return PAD + sum(
        _cell_width(f"{i + 1}. {title}", img, font) + PAD for i, (title, img) in enumerate(items)
    )


def _cell_width(label: str, img: Image.Image, font) -> int:
    """A picture's column is as wide as the picture or its caption, whichever is wider (a
    tall narrow photo must not let its caption run into the next one)."""
    left, _, right, _ = ImageDraw.Draw(Image.new("RGB", (1, 1))).multiline_textbbox(
        (0, 0), label, font=font
    )
    return max(img.size[0], right - left)


def _paste_row(
    canvas: Image.Image,
    draw: ImageDraw.ImageDraw,
    items: list[tuple[str, Image.Image]],
    y: int,
    font,
    *,
    title_below: bool,
) -> None:
    x = PAD
    for i, (title, img) in enumerate(items):
        canvas.paste(img, (x, y))
        label = f"{i + 1}. {title}" if title_below else title
        draw.multiline_text((x, y + img.size[1] + 4), label, fill=(0, 0, 0), font=font)
        x += _cell_width(f"{i + 1}. {title}", img, font) + PAD


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # Pillow without FreeType: bitmap font
        return ImageFont.load_default()
