"""A user's image -> MNIST-style 28x28 digits, the way the MNIST digits were made.

MNIST digits are light ink on a black background, size-normalised to fit a 20x20 box keeping
the aspect ratio (with anti-aliasing) and placed in 28x28 so that their centre of mass is at
the centre. A photo of a digit on paper is none of that; :func:`prepare` makes it so:

1. grey levels (:mod:`digitnet.imaging.imagefile`: any format, EXIF orientation, alpha);
2. polarity: ink is what departs the most from the background, on one side; dark ink is
   inverted so that ink is bright (:func:`ink_is_dark`);
3. background suppression: a smooth background (a low percentile per block, interpolated
   between blocks) is subtracted and the difference taken relative to the room left above
   the background, which removes uneven lighting, shadows and paper tone; what is left is
   scaled between the noise floor (3 robust standard deviations) and the ink level, giving
   a soft ink map in [0, 1] (:func:`ink_map`);
4. digits: connected components of the confident ink, grouped and split into digits, left to
   right (:mod:`digitnet.imaging.segment`);
5. each digit is cropped to its ink, its strokes thickened when they would be thinner than
   MNIST's after scaling, its longest side scaled to 20 px with anti-aliasing, and placed in
   28x28 with its centre of mass at MNIST's centre (:func:`normalise_digit`);
6. pixels become uint8 0-255, exactly as the MNIST files store them, so the model sees the same
   ``x / 255`` as in training.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from digitnet.errors import ImageError, NoInkError
from digitnet.imaging.components import Components, label_components
from digitnet.imaging.imagefile import ImageSource, LoadedImage, open_image
from digitnet.imaging.segment import Segment, Slot, segment, stroke_width

SIZE = 28
BOX = 20
#: MNIST's centre of mass, in pixel indices (measured: 13.99 and 14.01, each +-0.29: the
#: digits were shifted by whole pixels to bring the centre of mass nearest to (14, 14))
CENTRE = 14.0
#: the confident ink (used to find and measure digits): this fraction of the way from the
#: noise floor to the ink level
MASK_LEVEL = 0.4
#: ink must differ from the background by at least this fraction of the grey range
MIN_CONTRAST = 0.05
#: images noisier than this (robust std, fraction of the grey range) are smoothed first
NOISY = 0.015
#: stroke width (2 x area / perimeter of the confident ink) of MNIST digits at 28x28: median
#: 2.0 px, 5th percentile 1.3 px; thinner strokes are thickened to the median
MNIST_STROKE = 2.0
THIN_STROKE = 1.3
#: an image whose longest side is at most this (working pixels) is a crop or scan of a
#: digit: when no ink stands out in it, its ink is looked for again within a paper margin
SMALL = 128


@dataclass
class InkMap:
    """Where the ink is in a grey image.

    Attributes
    ----------
    ink : np.ndarray
        ``(H, W)`` float32 in [0, 1]: 0 background (up to the noise floor), 1 full ink.
    mask : np.ndarray
        ``(H, W)`` bool, the confident ink (``ink >= MASK_LEVEL``).
    inverted : bool
        The image had dark ink on a light background (and was inverted).
    background : np.ndarray
        ``(H, W)`` float32 in [0, 1], the background estimate of the inverted-if-needed image.
    noise : float
        Robust standard deviation of the background (fraction of the grey range).
    contrast : float
        Ink level minus noise floor (fraction of the grey range).
    """

    ink: np.ndarray
    mask: np.ndarray
    inverted: bool
    background: np.ndarray
    noise: float
    contrast: float


@dataclass
class Prepared:
    """Everything :func:`prepare` did to one image (what ``--explain`` shows).

    Attributes
    ----------
    loaded : LoadedImage
        The image as read (upright, alpha flattened, reduced to the working size) and its
        original size; segment boxes are in working pixels (divide by ``loaded.scale``).
    grey : np.ndarray
        ``(H, W)`` float32 in [0, 1], ink bright (inverted when the ink was dark).
    inkmap : InkMap
    components : Components
    slots : list of Slot
        The digits left to right, each with its alternative readings (touching digits).
    segments : list of Segment
        Every segment of every option, each once.
    margin : int
        Paper added around a small image or a tight crop (:func:`with_margin`): ``grey``,
        the ink map and the segments are in the framed image's pixels.

    The network's inputs are made when asked for, and kept: :meth:`inputs` for some
    segments (what the reader uses: most candidate cuts of a photo never need theirs),
    :attr:`digits` for all.
    """

    loaded: LoadedImage
    grey: np.ndarray
    inkmap: InkMap
    components: Components
    slots: list[Slot]
    segments: list[Segment]
    margin: int = 0
    _inputs: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    def inputs(self, indices) -> np.ndarray:
        """``(k, 28, 28)`` uint8, the network's input for ``segments[i]`` for each of the
        ``k`` indices (each normalised once, on first use: :func:`normalise_digit`)."""
        out = []
        for i in indices:
            i = int(i)
            if i not in self._inputs:
                self._inputs[i] = normalise_digit(
                    *digit_crop(self.inkmap, self.components, self.segments[i])
                )
            out.append(self._inputs[i])
        return np.stack(out) if out else np.zeros((0, SIZE, SIZE), dtype=np.uint8)

    @property
    def inputs_made(self) -> int:
        """How many of ``segments`` have had their input made so far."""
        return len(self._inputs)

    @property
    def digits(self) -> np.ndarray:
        """``(M, 28, 28)`` uint8, the network's input for each of ``segments``."""
        return self.inputs(range(len(self.segments)))

    def reading(self, choice: list[int] | None = None) -> list[int]:
        """Indices into ``segments`` of a reading: option ``choice[i]`` of slot i
        (default: each slot's first option, the guess from the shapes alone)."""
        choice = choice or [0] * len(self.slots)
        index = {s: i for i, s in enumerate(self.segments)}
        return [
            index[s] for slot, c in zip(self.slots, choice, strict=True) for s in slot.options[c]
        ]


def prepare(source: ImageSource, *, single: bool = False) -> Prepared:
    """Find and normalise the digits of an image.

    Parameters
    ----------
    source : path, PIL.Image.Image or np.ndarray
        See :func:`digitnet.imaging.imagefile.open_image`.
    single : bool
        Treat all the ink as one digit (no segmentation).

    Returns
    -------
    Prepared
        ``slots`` are the digits left to right, each with its readings; ``digits`` holds the
        ``(M, 28, 28)`` uint8 inputs of every candidate segment (made on first use);
        ``digits[reading()]`` are the digits by the shapes alone,
        :func:`digitnet.reading.recognise.recognise` lets the model
        choose.

    Raises
    ------
    ImageError
        Unreadable image, or no ink (blank, uniform or too faint).
    """
    loaded = open_image(source)
    levels = np.asarray(loaded.image.convert("L"), dtype=np.float32)  # (H, W) in [0, 255]
    inkmap, margin, paper = _ink_with_margin(levels, loaded.name)
    levels = with_margin(levels, margin, paper)
    comps = label_components(inkmap.mask)
    slots = segment(comps, inkmap.ink, single=single)
    if not slots:
        raise NoInkError(f"{loaded.name}: no digit found (only specks or faint marks)")
    segments = list(dict.fromkeys(s for slot in slots for o in slot.options for s in o))
    grey = (255 - levels if inkmap.inverted else levels) / np.float32(255)
    return Prepared(
        loaded=loaded,
        grey=grey,
        inkmap=inkmap,
        components=comps,
        slots=slots,
        segments=segments,
        margin=margin,
    )


def _ink_with_margin(levels: np.ndarray, name: str) -> tuple[InkMap, int, float | None]:
    """The ink map, and the paper margin it was found with and that margin's level: none,
    unless a small image (a crop or a scan of a digit, at most :data:`SMALL` px) shows no
    ink without one; then its ink is looked for again within a margin of its paper
    (:func:`with_margin`): the median of its outermost ring of pixels, else (ink covering
    much of that ring, as a 3 whose top and bottom strokes run along the edges) the
    image's paper extreme (its lightest levels when the ink is dark, :func:`ink_is_dark`).
    A large image with no ink is a blank photo (a flat margin next to
    its paper's grain would look like ink), and a photo whose ink merely touches an edge
    reads better as it is (framing the 7 of the photo benchmark's 10,000 single digits
    whose ink touches an edge broke 5 of them)."""
    try:
        inkmap, error = ink_map(levels), None
    except ImageError as exc:
        inkmap, error = None, exc
    if inkmap is not None:
        return inkmap, 0, None
    if max(levels.shape) > SMALL:  # a photo with no ink: blank
        raise NoInkError(f"{name}: {error}") from None
    margin = crop_margin(levels.shape)
    extreme = float(np.percentile(levels, 98 if ink_is_dark(levels) else 2))
    for paper in (ring_median(levels), extreme):
        try:
            return ink_map(with_margin(levels, margin, paper)), margin, paper
        except ImageError:
            pass
    raise NoInkError(f"{name}: {error}") from None


def crop_margin(shape: tuple[int, ...]) -> int:
    """The paper margin given to a small image or a tight crop: a quarter of its longest
    side, at least 4 px."""
    return max(4, round(max(shape) / 4))


def ring_median(levels: np.ndarray) -> float:
    """The median of the outermost ring of pixels of ``levels`` ``(H, W)``."""
    ring = np.concatenate([levels[0], levels[-1], levels[1:-1, 0], levels[1:-1, -1]])
    return float(np.median(ring))


def with_margin(levels: np.ndarray, margin: int, paper: float | None = None) -> np.ndarray:
    """``levels`` ``(H, W)`` framed by ``margin`` pixels of its paper: ``paper``, by default
    the median of its outermost ring of pixels (ink that reaches the edges covers less of
    the ring than paper does). A digit cropped tightly, or a small scan whose ink fills it
    (USPS's 16x16), otherwise leaves the noise floor and the background estimate nothing
    but ink to go by."""
    if not margin:
        return levels
    level = ring_median(levels) if paper is None else paper
    return np.pad(levels, margin, constant_values=np.float32(level))


def to_mnist(source: ImageSource) -> np.ndarray:
    """One digit as an MNIST-style ``(28, 28)`` uint8 image (all the ink is one digit)."""
    return prepare(source, single=True).inputs([0])[0]


def ink_is_dark(levels: np.ndarray) -> bool:
    """Whether the ink is darker than its background.

    Ink is what departs the most from the background, so the side (darker or lighter) with
    the larger extreme departures is the ink; uneven lighting departs too, but less. The
    departures are measured from two backgrounds, and their margins added: a local one (the
    median of blocks a fifth of the image wide, at least 32 px), which follows the lighting
    of a large photo, and the global median, which a thick stroke filling much of a small
    image cannot pull towards the ink. The rule is antisymmetric: ``255 - levels`` gets the
    opposite answer (except for an exact tie, a blank image).

    levels : (H, W) float grey levels.
    """
    local = max(32, max(levels.shape) // 5)
    return _polarity_margin(levels, local) + _polarity_margin(levels, None) > 0


def _polarity_margin(levels: np.ndarray, block: int | None) -> float:
    """``(dark - bright) / (dark + bright)``, where dark and bright are the mean departures
    below and above the background of the 0.01% most extreme pixels (at least 16) on each
    side; the background is the median of ``block``-sized blocks, or of the whole image."""
    if block is None:
        resid = (levels - np.median(levels)).ravel()
    else:
        resid = (
            levels - upsample(block_percentile(levels, 50, block), levels.shape, block)
        ).ravel()
    n = resid.size
    k = min(n // 2, max(16, n // 10_000))
    if k == 0:
        return 0.0
    ends = np.partition(resid, [k - 1, n - k])  # the k lowest first, the k highest last
    dark, bright = -float(ends[:k].mean()), float(ends[n - k :].mean())
    return (dark - bright) / max(dark + bright, 1e-6)


def background_block(x: np.ndarray) -> int:
    """Side of the background blocks for an ink-bright image ``(H, W)``: 1/10 of the
    longest side, at least 16 px, small enough to follow uneven lighting; and at least two
    stroke widths, so that ink never fills 3/4 of a block (a felt pen in a small photo).

    The strokes are measured on the strong ink (above half the ink level) left after a
    coarse background (blocks a quarter of the image wide, at least 32 px).
    """
    block = max(16, max(x.shape) // 10)
    coarse = max(32, max(x.shape) // 4)
    resid = (x - upsample(block_percentile(x, 25, coarse), x.shape, coarse)).ravel()
    k = min(resid.size, max(16, resid.size // 1000))
    level = float(np.partition(resid, resid.size - k)[resid.size - k :].mean())
    strong = resid.reshape(x.shape) > level / 2
    return max(block, int(2 * stroke_width(strong))) if strong.any() else block


def block_percentile(a: np.ndarray, q: float, block: int) -> np.ndarray:
    """Percentile ``q`` of blocks of about ``block`` x ``block`` pixels covering all of ``a``:
    ``(H, W) -> (gh, gw)``, ``gh = ceil(H / block)``; the blocks are spread evenly from edge
    to edge (overlapping a little), so that the last rows and columns are measured too.
    Large blocks are subsampled to about 32x32 pixels."""
    (ys, bh), (xs, bw) = _block_starts(a.shape[0], block), _block_starts(a.shape[1], block)
    step = max(1, min(bh, bw) // 32)
    rows = ys[:, None] + np.arange(0, bh, step)  # (gh, bh / step)
    cols = xs[:, None] + np.arange(0, bw, step)  # (gw, bw / step)
    blocks = a[rows[:, :, None, None], cols[None, None, :, :]]  # (gh, bh', gw, bw')
    return np.percentile(blocks, q, axis=(1, 3)).astype(np.float32)


def _block_starts(size: int, block: int) -> tuple[np.ndarray, int]:
    """First index of each block along an axis, and the block length."""
    length = min(block, size)
    count = -(-size // length)
    return np.round(np.linspace(0, size - length, count)).astype(np.int64), length


def upsample(grid: np.ndarray, shape: tuple[int, ...], block: int) -> np.ndarray:
    """Interpolate block values ``(gh, gw)`` (from :func:`block_percentile`) to pixels
    ``(H, W)``: bilinear between block centres, linear extrapolation beyond the outer
    centres (half a block), so that a lighting gradient continues to the edges."""
    wy = _interp_weights(grid.shape[0], shape[0], block)  # (H, gh)
    wx = _interp_weights(grid.shape[1], shape[1], block)  # (W, gw)
    return (wy @ grid @ wx.T).astype(np.float32)  # (H, W)


def _interp_weights(n: int, size: int, block: int) -> np.ndarray:
    """``(size, n)`` linear interpolation weights from block centres to pixel centres."""
    starts, length = _block_starts(size, block)
    centres = starts + (length - 1) / 2
    weights = np.zeros((size, n), dtype=np.float32)
    if n == 1:
        weights[:, 0] = 1
        return weights
    pix = np.arange(size)
    hi = np.clip(np.searchsorted(centres, pix), 1, n - 1)  # right neighbour
    frac = (pix - centres[hi - 1]) / (centres[hi] - centres[hi - 1])  # <0 or >1: extrapolate
    rows = np.arange(size)
    weights[rows, hi - 1] = 1 - frac
    weights[rows, hi] += frac
    return weights


def smooth(a: np.ndarray) -> np.ndarray:
    """Binomial 3x3 blur ([1, 2, 1] / 4 along each axis, edges replicated): divides white
    noise by about 2.7 and keeps strokes a few pixels wide."""
    p = np.pad(a, 1, mode="edge")
    rows = (p[:-2] + 2 * p[1:-1] + p[2:]) / 4  # (H, W + 2)
    return ((rows[:, :-2] + 2 * rows[:, 1:-1] + rows[:, 2:]) / 4).astype(np.float32)


def robust_std(a: np.ndarray) -> float:
    """Standard deviation estimated from the median absolute deviation (1.4826 MAD), on a
    regular sample of at most ~65,000 values."""
    return 1.4826 * float(np.median(np.abs(_sample(a) - np.median(_sample(a)))))


def _sample(a: np.ndarray) -> np.ndarray:
    return a.ravel()[:: max(1, a.size // 65_536)]


def remove_background(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Background estimate and relative ink of an ink-bright image ``(H, W)`` in [0, 1].

    The background ``b`` is each block's 25th percentile (ink covers less than 3/4 of any
    block: :func:`background_block`), interpolated between block centres; a noisy image
    (noise above :data:`NOISY`) is smoothed first. The ink is measured relative to the room
    left above the background, ``(x - b) / (1 - b)``: under a shadow, dark ink on paper keeps
    the same value (light multiplies paper and ink alike), and it is 1 for full ink on any
    background.
    The same holds for the colour-inverted image, so inverting a photo changes nothing.

    Returns ``(background, relative ink)``, both ``(H, W)`` float32.
    """
    block = background_block(x)
    background = upsample(block_percentile(x, 25, block), x.shape, block)
    if robust_std(x - background) > NOISY:
        x = smooth(x)
        background = upsample(block_percentile(x, 25, block), x.shape, block)
    room = np.maximum(1 - background, np.float32(0.05))
    return background, ((x - background) / room).astype(np.float32)


def ink_map(levels: np.ndarray) -> InkMap:
    """Soft ink map of a grey image: polarity, background removal, noise floor, ink level.

    Parameters
    ----------
    levels : np.ndarray
        ``(H, W)`` float32 grey levels in [0, 255].

    Returns
    -------
    InkMap

    Raises
    ------
    ImageError
        No ink: the stroke cores (90th percentile of what rises above the background's noise
        floor) are less than :data:`MIN_CONTRAST` above that floor (a blank, uniform or
        very faint image).
    """
    inverted = ink_is_dark(levels)
    x = (255 - levels if inverted else levels) / np.float32(255)  # ink bright, [0, 1]
    background, resid = remove_background(x)
    noise = robust_std(resid)
    floor = float(np.median(_sample(resid))) + 3 * noise  # top of the background
    strong = resid[resid > floor + max(noise, MIN_CONTRAST / 2)]
    level = float(np.percentile(strong, 90)) if strong.size else floor  # stroke cores
    contrast = level - floor
    if contrast < MIN_CONTRAST:
        raise NoInkError(
            f"no ink found: nothing stands out from the background by more "
            f"than {max(contrast, 0):.0%} of the grey range (blank, uniform or "
            "very faint image)"
        )
    ink = np.clip((resid - floor) / np.float32(contrast), 0, 1).astype(np.float32)
    return InkMap(
        ink=ink,
        mask=ink >= MASK_LEVEL,
        inverted=inverted,
        background=background,
        noise=noise,
        contrast=contrast,
    )


# -- one digit -> 28x28 -----------------------------------------------------------------------


def digit_crop(inkmap: InkMap, comps: Components, seg: Segment) -> tuple[np.ndarray, np.ndarray]:
    """The soft ink and confident-ink mask of one digit, cropped to a margin around it.

    The soft ink is kept only within a few pixels of the digit's own pixels (its
    anti-aliased edge), never across the cuts that separated it from touching digits, and
    not next to other components (a neighbour's edge is not this digit's).

    Returns ``(ink, mask)``: ``(h, w)`` float32 and bool.
    """
    h, w = comps.labels.shape
    pad = int(np.clip(round(seg.height / 12), 2, 12))  # MNIST's edges: within 2 px of 40%
    top, bottom = max(0, seg.top - pad), min(h, seg.bottom + pad)
    left, right = max(0, seg.left - pad), min(w, seg.right + pad)
    own = np.zeros((bottom - top, right - left), dtype=bool)
    own[seg.top - top : seg.bottom - top, seg.left - left : seg.right - left] = seg.mask(comps)
    labels = comps.labels[top:bottom, left:right]
    others = (labels > 0) & ~np.isin(labels, seg.labels)
    near = dilate(own, pad) & seg.between_cuts(top, bottom, left, right)
    if others.any():
        near &= ~dilate(others, max(1, pad // 2))
    ink = np.where(near | own, inkmap.ink[top:bottom, left:right], np.float32(0))
    return ink, own


def dilate(a: np.ndarray, radius: int) -> np.ndarray:
    """Maximum over a (2r+1) x (2r+1) square, for bool or float images ``(h, w)``."""
    if radius <= 0:
        return a.copy()
    k = 2 * radius + 1
    fill = False if a.dtype == bool else 0
    p = np.pad(a, radius, constant_values=fill)
    rows = np.lib.stride_tricks.sliding_window_view(p, k, axis=1).max(axis=2)  # (h+2r, w)
    return np.lib.stride_tricks.sliding_window_view(rows, k, axis=0).max(axis=2)  # (h, w)


def normalise_digit(ink: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """One digit's soft ink -> MNIST-style ``(28, 28)`` uint8.

    The ink is divided by its stroke-core level (90th percentile over the confident ink, so
    faint and strong pens look alike), thickened if its strokes would end up thinner than
    :data:`THIN_STROKE` px, cropped to the ink, scaled so the longest side is 20 px
    (anti-aliased: Pillow's triangle filter widened by the reduction factor) and placed with
    its centre of mass at :data:`CENTRE` (shifted by whole pixels, as MNIST was).

    Parameters
    ----------
    ink : np.ndarray
        ``(h, w)`` float in [0, 1], 0 = background.
    mask : np.ndarray
        ``(h, w)`` bool, the digit's confident ink (non-empty).
    """
    level = float(np.percentile(ink[mask], 90)) if mask.any() else 1.0
    ink = np.clip(ink / max(level, 1e-6), 0, 1).astype(np.float32)
    ink = _crop_to_ink(ink)
    scale = BOX / max(ink.shape)
    width = stroke_width(mask) * scale
    if width < THIN_STROKE:
        radius = round((MNIST_STROKE - width) / (2 * scale))
        ink = _crop_to_ink(dilate(np.pad(ink, radius), radius))
        scale = BOX / max(ink.shape)
    h, w = ink.shape
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(Image.fromarray(ink).resize(size, Image.Resampling.BILINEAR))
    return place_by_centre_of_mass(np.clip(small, 0, 1))


def _crop_to_ink(ink: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    if not len(rows):
        raise ImageError("no ink found in the digit")
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def centre_of_mass(img: np.ndarray) -> tuple[float, float]:
    """Intensity-weighted mean (row, column) of ``(h, w)`` non-negative values."""
    total = float(img.sum())
    rows = float(img.sum(axis=1) @ np.arange(img.shape[0])) / total
    cols = float(img.sum(axis=0) @ np.arange(img.shape[1])) / total
    return rows, cols


def place_by_centre_of_mass(digit: np.ndarray) -> np.ndarray:
    """Put ``(h, w)`` values in [0, 1] (h, w <= 28) into a 28x28 uint8 image, shifted by whole
    pixels so the centre of mass is nearest to (:data:`CENTRE`, :data:`CENTRE`)."""
    out = np.zeros((SIZE, SIZE), dtype=np.float32)
    cy, cx = centre_of_mass(digit)
    top, left = int(np.floor(CENTRE - cy + 0.5)), int(np.floor(CENTRE - cx + 0.5))
    h, w = digit.shape
    y0, x0 = max(0, top), max(0, left)  # clip to the 28x28 frame
    y1, x1 = min(SIZE, top + h), min(SIZE, left + w)
    out[y0:y1, x0:x1] = digit[y0 - top : y1 - top, x0 - left : x1 - left]
    return np.rint(out * 255).astype(np.uint8)
