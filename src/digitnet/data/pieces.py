"""Training examples for telling one whole digit from anything else the segmenter cuts out.

When digits touch, :mod:`digitnet.imaging.segment` offers several readings (the group whole, or
cut in places) and the recogniser picks one. A network trained on whole digits cannot help
with that choice: it reads two touching digits or half of one as some digit, often
confidently ("56" as 8). The checker network (:mod:`digitnet.training.checker`) learns an
11th class, :data:`NOT_ONE_DIGIT`, from the segments the real pipeline produces.

How the examples are made (:func:`number_pieces`): a few training digits are written side by
side as a number (:func:`digitnet.data.photos.number_layers`, touching often), each on its own
layer; the number is photographed as in the photo benchmark, only smaller (:data:`PHOTO`;
:func:`~digitnet.data.photos.render_photo_with_owner` moves the map of which digit owns each
ink pixel along with the ink) and goes through the same steps as a person's photo -- ink map,
connected components, :func:`~digitnet.imaging.segment.segment` -- and every candidate segment of
every reading is normalised to 28x28 as for the network. (The readings of the cheapest cut
paths only: the straight cuts that ``segment`` also offers, added after the shipped checker
was trained, would multiply the examples; the checker judges their pieces all the same.)
Each segment is labelled from the digits its ink belongs to: mostly one digit's ink and
most of that digit (:data:`OWN`, :data:`COVER`) -> that digit; clearly not
(:data:`NOT_OWN`, :data:`NOT_COVER`) -> :data:`NOT_ONE_DIGIT`; in between -> left out (a
sliver more or less is not worth a label).
"""

from __future__ import annotations

import dataclasses
import io

import numpy as np
from PIL import Image

from digitnet.data.photos import (
    DEFAULT,
    PhotoSettings,
    jpeg_bytes,
    number_layers,
    render_photo_with_owner,
)
from digitnet.imaging.components import label_components
from digitnet.imaging.images import digit_crop, ink_map, normalise_digit
from digitnet.imaging.segment import segment

#: the label of a segment that is not one whole digit
NOT_ONE_DIGIT = 10
#: one digit: at least this fraction of the segment's ink is that digit's ...
OWN = 0.9
#: ... and the segment holds at least this fraction of that digit's ink
COVER = 0.85
#: not one digit: the main digit's share of the segment's ink is below NOT_OWN, or the
#: segment holds less than NOT_COVER of it
NOT_OWN = 0.75
NOT_COVER = 0.65
#: the photos: as :data:`digitnet.data.photos.DEFAULT` but at most 80 px tall digits (the
#: segmenter measures in digit heights; small photos are 2x faster to make)
PHOTO = dataclasses.replace(DEFAULT, height=(28.0, 80.0))
#: the fraction of straight-cut readings whose pieces join the examples (see number_pieces)
LINE_PIECES = 0.0


def number_pieces(
    digits: np.ndarray,
    labels: np.ndarray,
    rng: np.random.Generator,
    *,
    touching: float = 0.5,
    settings: PhotoSettings = PHOTO,
    lines: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The labelled candidate segments of one composed number, photographed.

    Parameters
    ----------
    digits : np.ndarray
        ``(k, 28, 28)`` uint8, the number's digits left to right.
    labels : np.ndarray
        ``(k,)`` their classes.
    rng : np.random.Generator
    touching : float
        Probability that neighbouring digits touch (see :func:`number_layers`).
    settings : PhotoSettings
        How the number is photographed.
    lines : float, optional
        The fraction of the straight-cut readings (:func:`~digitnet.imaging.segment.line_cuts`)
        whose pieces are added, drawn at random (default :data:`LINE_PIECES`; 0 draws
        nothing from ``rng``).

    Returns
    -------
    images : np.ndarray
        ``(M, 28, 28)`` uint8, the network's input for each segment kept.
    classes : np.ndarray
        ``(M,)`` int64: the digit, or :data:`NOT_ONE_DIGIT`.
    """
    layers = number_layers(digits, rng, touching=touching)  # (k, 32, W)
    strip = layers.max(axis=0)
    owner = np.where(strip > 0, layers.argmax(axis=0) + 1, 0).astype(np.uint8)  # 0 = no ink
    img, owner = render_photo_with_owner(strip, owner, rng, settings)
    photo = Image.open(io.BytesIO(jpeg_bytes(img, rng, settings)))
    inkmap = ink_map(np.asarray(photo.convert("L"), dtype=np.float32))
    comps = label_components(inkmap.mask)
    slots = segment(comps, inkmap.ink, lines=False)
    segments = list(dict.fromkeys(s for slot in slots for o in slot.options for s in o))
    lines = LINE_PIECES if lines is None else lines
    if lines > 0:
        seams = {o for slot in slots for o in slot.options}
        extra = [o for slot in segment(comps, inkmap.ink) for o in slot.options if o not in seams]
        pick = np.random.default_rng(int(rng.integers(2**63))).random(len(extra)) < lines
        segments = list(
            dict.fromkeys(
                [*segments, *(s for o, keep in zip(extra, pick, strict=True) if keep for s in o)]
            )
        )
    k = len(digits)
    total = np.bincount(owner[inkmap.mask], minlength=k + 1)[1:]  # (k,) each digit's ink
    images, classes = [], []
    for seg in segments:
        own = owner[seg.top : seg.bottom, seg.left : seg.right][seg.mask(comps)]
        counts = np.bincount(own, minlength=k + 1)[1:]  # (k,) ink by digit
        main = int(counts.argmax())
        share = counts[main] / max(counts.sum(), 1)
        cover = counts[main] / max(total[main], 1)
        if share >= OWN and cover >= COVER:
            label = int(labels[main])
        elif share < NOT_OWN or cover < NOT_COVER:
            label = NOT_ONE_DIGIT
        else:
            continue
        images.append(normalise_digit(*digit_crop(inkmap, comps, seg)))
        classes.append(label)
    if not images:
        return np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64)
    return np.stack(images), np.array(classes, dtype=np.int64)


def make_pieces(
    images: np.ndarray,
    labels: np.ndarray,
    count: int,
    rng: np.random.Generator,
    *,
    sizes: tuple[int, int] = (2, 4),
    touching: float = 0.5,
    settings: PhotoSettings = PHOTO,
    lines: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate segments of ``count`` numbers composed from random ``images``.

    Each number has ``sizes[0]`` to ``sizes[1]`` digits drawn without repetition within it
    and is photographed with ``settings``; returns ``(M, 28, 28)`` uint8 images and
    ``(M,)`` int64 classes (0-9 or :data:`NOT_ONE_DIGIT`), see :func:`number_pieces`.
    """
    xs, ys = [], []
    for _ in range(count):
        k = int(rng.integers(sizes[0], sizes[1] + 1))
        pick = rng.choice(len(images), size=k, replace=False)
        x, y = number_pieces(
            images[pick], labels[pick], rng, touching=touching, settings=settings, lines=lines
        )
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)
