"""Preprocessing invariants: a user's image -> MNIST-style 28x28 digits."""

from __future__ import annotations

import numpy as np
import pytest
from photo_helpers import HELD_OUT, mnist_style_digits, photo
from PIL import Image

from digitnet.data.photos import DEFAULT, paper_field
from digitnet.errors import ImageError
from digitnet.imaging.images import (
    CENTRE,
    centre_of_mass,
    dilate,
    ink_is_dark,
    normalise_digit,
    prepare,
    to_mnist,
)


def grey(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("L"))


@pytest.fixture(scope="module")
def digits():
    return mnist_style_digits()


def aligned(out: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``out`` shifted by the whole-pixel offset (at most 1) that best matches ``ref``: the
    centre of mass is recomputed after the levels are rescaled and may round the other way
    when it falls half-way between pixels."""
    shifts = [np.roll(out, (dy, dx), axis=(0, 1)) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    return min(shifts, key=lambda s: np.abs(s.astype(int) - ref).sum())


def test_an_mnist_style_digit_passes_through_nearly_unchanged(digits):
    images, _ = digits
    out = np.stack([aligned(to_mnist(img), img) for img in images[:300]])
    diff = np.abs(out.astype(int) - images[:300])
    # same box, same place; stroke levels are rescaled so the stroke cores reach 255, and
    # the faintest blur of these enlarged 8x8 digits (beyond 2 px of the strokes) is dropped
    assert diff.mean() < 10 and np.median(diff) == 0
    assert (out > 0)[images[:300] >= 102].all()  # the confident ink (40%) stays
    near = np.stack([dilate(img > 0, 1) for img in images[:300]])
    assert not (out > 0)[~near].any()


@pytest.mark.mnist
def test_real_mnist_digits_pass_through_nearly_unchanged(mnist):
    images = mnist.test.images[:300]
    out = np.stack([aligned(to_mnist(img), img) for img in images])
    diff = np.abs(out.astype(int) - images)
    # the same pixels are ink; levels move only where the stroke cores are rescaled to 255
    assert ((out > 0) == (images > 0)).mean() > 0.999
    assert (diff <= 2).mean() > 0.98 and diff.mean() < 0.5


@pytest.mark.parametrize("seed", range(6))
def test_inverting_a_photo_gives_the_same_digits(digits, seed):
    images, _ = digits
    photo_grey = grey(photo(images[HELD_OUT + seed], seed))
    normal, inverted = prepare(photo_grey), prepare(255 - photo_grey)
    assert normal.inkmap.inverted and not inverted.inkmap.inverted
    np.testing.assert_array_equal(normal.digits, inverted.digits)


@pytest.mark.parametrize("seed", range(8))
def test_centre_of_mass_is_at_the_centre_and_the_box_is_20(digits, seed):
    images, _ = digits
    out = to_mnist(photo(images[HELD_OUT + seed], 100 + seed))
    cy, cx = centre_of_mass(out.astype(float))
    # shifted by whole pixels, as MNIST was: within half a pixel of the centre
    assert abs(cy - CENTRE) <= 0.5 and abs(cx - CENTRE) <= 0.5
    rows, cols = np.flatnonzero(out.any(axis=1)), np.flatnonzero(out.any(axis=0))
    longest = max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)
    assert 19 <= longest <= 20
    assert out.max() >= 230  # stroke cores are full ink


def test_photos_look_like_their_digit(digits):
    """The 28x28 result of a photo resembles the digit photographed more than the other
    digits of the set (nearest neighbour by correlation)."""
    images, labels = digits
    refs = images[HELD_OUT : HELD_OUT + 40].reshape(40, -1).astype(float)
    refs = (refs - refs.mean(1, keepdims=True)) / refs.std(1, keepdims=True)
    hits = 0
    for i in range(40):
        out = to_mnist(photo(images[HELD_OUT + i], 200 + i)).reshape(-1).astype(float)
        corr = refs @ ((out - out.mean()) / out.std()) / out.size
        hits += int(np.argmax(corr) == i)
    assert hits >= 24  # chance is 1 in 40; similar digits may win


def test_uneven_lighting_and_size_change_little(digits):
    images, _ = digits
    digit = images[HELD_OUT + 3]
    canvas = np.full((120, 160), 210, dtype=np.float32)
    big = np.asarray(Image.fromarray(digit).resize((84, 84), Image.Resampling.BILINEAR))
    canvas[18:102, 40:124] -= big.astype(np.float32) * 0.7  # dark ink on paper
    even = to_mnist(np.clip(canvas, 0, 255).astype(np.uint8))
    ramp = np.linspace(0.35, 1.0, canvas.shape[1], dtype=np.float32)[None, :]
    lit = to_mnist(np.clip(canvas * ramp, 0, 255).astype(np.uint8))  # 65% darker on the left
    small = to_mnist(
        np.clip(
            np.asarray(
                Image.fromarray(canvas.astype(np.uint8)).resize((53, 40), Image.Resampling.BOX),
                dtype=np.float32,
            ),
            0,
            255,
        ).astype(np.uint8)
    )

    def corr(a, b):
        return np.corrcoef(a.ravel(), b.ravel())[0, 1]

    # for scale: other digits of the set correlate at most ~0.8 with this one
    assert corr(even, lit) > 0.95
    assert corr(even, small) > 0.85  # 28 px tall: less detail


def test_thin_strokes_are_thickened_to_mnist_width():
    canvas = np.zeros((200, 200), dtype=np.float32)
    canvas[20:180, 98:100] = 1.0  # a 2 px line, 160 tall
    out = normalise_digit(canvas, canvas > 0.5)
    assert (out[:, 14] > 128).sum() >= 15  # still a full stroke
    assert 2 <= (out[14] > 128).sum() <= 3  # MNIST-like width


def test_polarity_is_antisymmetric(digits):
    images, _ = digits
    g = grey(photo(images[HELD_OUT], 7)).astype(np.float32)
    assert ink_is_dark(g) and not ink_is_dark(255 - g)
    assert not ink_is_dark(images[0].astype(np.float32))  # MNIST: light ink


@pytest.mark.parametrize(
    "make",
    [
        lambda: np.full((50, 60), 255, dtype=np.uint8),  # white
        lambda: np.full((50, 60), 0, dtype=np.uint8),  # black
        lambda: blank_paper_photo(0),  # paper, light, noise
        lambda: blank_paper_photo(1),
        lambda: blank_paper_photo(2),
    ],
)
def test_blank_images_have_no_ink(make):
    with pytest.raises(ImageError, match="no ink|no digit"):
        prepare(make())


def blank_paper_photo(seed: int) -> np.ndarray:
    """A photo of empty paper: tint, texture, uneven light, sensor noise, JPEG."""
    import io

    rng = np.random.default_rng(seed)
    paper = paper_field((150, 200), rng, DEFAULT)
    noisy = paper + rng.normal(0, 0.02, size=paper.shape).astype(np.float32)
    img = Image.fromarray(np.clip(np.rint(noisy * 255), 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=60)
    return np.asarray(Image.open(buf).convert("RGB"))


# -- any reasonable crop: tight, tiny, binary, either polarity ---------------------------------


def tight_crops(images: np.ndarray, side: int) -> list[np.ndarray]:
    """Dark-on-white crops of digits cut to their ink (touching every edge), scaled to fit
    ``side`` (the way a person crops one digit out of a scan)."""
    out = []
    for img in images:
        rows, cols = np.flatnonzero(img.any(axis=1)), np.flatnonzero(img.any(axis=0))
        crop = 255 - img[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        scale = side / max(crop.shape)
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        out.append(np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.BILINEAR)))
    return out


@pytest.mark.parametrize(
    "side,form", [(8, "grey"), (16, "grey"), (64, "grey"), (64, "binary"), (16, "light on dark")]
)
def test_tight_crops_of_any_size_are_read(digits, side, form):
    """Real handwritten digits (scikit-learn's) cropped to their ink, 8x8 to 64x64, grey or
    binary, either polarity: none refused, and what the network sees is nearly what it sees
    for the same digit with a margin."""
    from digitnet.models import load_shipped_model
    from digitnet.reading.recognise import recognise

    images, labels = digits
    model = load_shipped_model()
    crops = tight_crops(images[HELD_OUT : HELD_OUT + 60], side)
    if form == "binary":
        crops = [np.where(c < 128, 0, 255).astype(np.uint8) for c in crops]
    if form == "light on dark":
        crops = [255 - c for c in crops]
    read = [recognise(c, model, single=True, checker=False).prediction for c in crops]
    paper = 0 if form == "light on dark" else 255
    margin = [
        recognise(
            np.pad(c, side // 2, constant_values=paper), model, single=True, checker=False
        ).prediction
        for c in crops
    ]
    truth = [str(y) for y in labels[HELD_OUT : HELD_OUT + 60]]
    right = np.mean([r == t for r, t in zip(read, truth, strict=True)])
    same = np.mean([r == m for r, m in zip(read, margin, strict=True)])
    # 8x8 crops hold little: 82% read right here, 88% the same as with a margin. The 64x64
    # grey crops of these blurred, enlarged 8x8 digits are the weak case: their ink is
    # found without a margin (so none is added: framing photos whose ink touches an edge
    # broke more than it fixed), and 75% are read right, against 97% with a margin.
    weak = side == 64 and form == "grey"
    assert right >= (0.75 if side == 8 or weak else 0.85), right
    assert same >= (0.75 if weak else 0.85 if side == 8 else 0.9), same


def test_a_digit_touching_the_edges_is_found_and_boxed_in_the_image(digits):
    """A tight crop gets a paper margin before its ink is looked for; the digit's box is
    still given in the image's own pixels."""
    from digitnet.reading.recognise import recognise

    images, labels = digits
    (crop,) = tight_crops(images[HELD_OUT : HELD_OUT + 1], 40)
    result = recognise(crop, checker=False)
    (d,) = result.digits
    assert result.prepared.margin > 0 and result.prediction == str(labels[HELD_OUT])
    dark = crop < 128  # the strokes, touching top and bottom
    cols, rows = np.flatnonzero(dark.any(axis=0)), np.flatnonzero(dark.any(axis=1))
    expected = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
    assert rows[0] == 0 and rows[-1] == crop.shape[0] - 1
    assert np.abs(np.subtract(d.box, expected)).max() <= 2, (d.box, expected)


# a 16x16 scan of a 3 (one of USPS's training digits, ink in tenths) whose ink covers much
# of the image's outer ring: framing it with the ring's median (a mid grey) finds no ink either
THREE_FILLING_THE_BOX = """
3666999999966300
8999999999999971
3977742111136995
0100000000003895
0000000000169980
0000000136999610
0000056899983000
0000499999996400
0000166433579970
0000000000001795
0000000000000097
0000000000000398
0001320001137995
0489997779999940
0999999999987200
0378666533300000
"""


@pytest.mark.parametrize("dark_ink", [True, False])
def test_a_scan_whose_ink_runs_along_its_edges_is_read(dark_ink):
    rows = THREE_FILLING_THE_BOX.split()
    ink = np.array([[round(int(c) * 255 / 9) for c in r] for r in rows], np.uint8)
    image = 255 - ink if dark_ink else ink
    prepared = prepare(image, single=True)
    assert prepared.margin > 0 and prepared.inkmap.inverted == dark_ink
    x = prepared.inputs([0])[0]
    assert x.max() > 200 and 0.1 < (x > 128).mean() < 0.4  # the strokes, not a frame
    from digitnet.reading.recognise import recognise

    assert recognise(image, single=True, checker=False).prediction == "3"


@pytest.mark.parametrize("shape", [(8, 8), (16, 16), (64, 64), (1, 1), (3, 40)])
def test_small_blank_images_are_still_refused(shape):
    for value in (0, 255, 128):
        with pytest.raises(ImageError, match="no ink|no digit"):
            prepare(np.full(shape, value, dtype=np.uint8))
