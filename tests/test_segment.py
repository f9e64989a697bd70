"""Finding the digits of an image: grouping pieces, dropping specks, splitting touching
digits, left-to-right order."""

from __future__ import annotations

import numpy as np
import pytest
from photo_helpers import HELD_OUT, mnist_style_digits
from PIL import Image

from digitnet.imaging.components import label_components
from digitnet.imaging.images import prepare
from digitnet.imaging.segment import candidate_cuts, line_cuts, segment

SCALE = 3  # compositions are drawn at MNIST scale, then enlarged


def enlarge(a: np.ndarray) -> np.ndarray:
    h, w = a.shape
    return np.asarray(Image.fromarray(a).resize((w * SCALE, h * SCALE), Image.Resampling.BILINEAR))


def compose(digits: np.ndarray, gaps: list[int]) -> tuple[np.ndarray, list[float]]:
    """Digits side by side (cropped to their confident ink's columns) with the given gaps;
    returns the enlarged light-on-dark image and each digit's centre column (enlarged)."""
    crops = [d[:, np.flatnonzero((d >= 102).any(axis=0))] for d in digits]
    width = 4 + sum(c.shape[1] for c in crops) + sum(gaps)
    strip = np.zeros((32, width), dtype=np.uint8)
    x, centres = 2, []
    for i, c in enumerate(crops):
        np.maximum(strip[2:30, x : x + c.shape[1]], c, out=strip[2:30, x : x + c.shape[1]])
        centres.append((x + c.shape[1] / 2) * SCALE)
        x += c.shape[1] + (gaps[i] if i < len(gaps) else 0)
    return enlarge(strip), centres


@pytest.fixture(scope="module")
def digits():
    images, labels = mnist_style_digits()
    return images[HELD_OUT:], labels[HELD_OUT:]


@pytest.mark.parametrize("start", [0, 10, 20, 30])
def test_separate_digits_are_found_left_to_right(digits, start):
    images, _ = digits
    k = 4 + start % 3
    img, centres = compose(images[start : start + k], [5] * (k - 1))
    p = prepare(img)
    assert len(p.slots) == k
    found = [(s.options[0][0].left + s.options[0][-1].right) / 2 for s in p.slots]
    assert np.all(np.diff(found) > 0)
    assert np.abs(np.array(found) - centres).max() < 4 * SCALE
    assert all(len(s.options) == 1 or len(s.options[0]) == 1 for s in p.slots)


def test_a_broken_digit_is_one_digit(digits):
    images, labels = digits
    seven = images[np.flatnonzero(labels == 7)[0]].copy()
    rows = np.flatnonzero(seven.any(axis=1))
    seven[(rows[0] + rows[-1]) // 2 - 1 : (rows[0] + rows[-1]) // 2 + 1] = 0  # cut in two
    img = enlarge(seven)
    assert label_components(img > 128).count >= 2
    p = prepare(img)
    assert len(p.slots) == 1 and len(p.slots[0].options[0]) == 1


def test_a_detached_bar_joins_its_digit():
    img = np.zeros((60, 50), dtype=np.uint8)
    img[14:56, 10:15] = 255  # a tall stroke
    img[4:8, 12:40] = 255  # a short bar above it, 6 px away, reaching far right
    p = prepare(img)
    assert len(p.slots) == 1
    seg = p.slots[0].options[0][0]
    assert (seg.top, seg.left, seg.bottom, seg.right) == (4, 10, 56, 40)


def test_pieces_stacked_in_shared_columns_form_a_digit():
    """A 5 whose top bar came off: bar and body are each less than half as tall as the
    digits beside them, so each alone is a fragment and the body would join its nearest
    neighbour (and the bar the other one); stacked in shared columns they are one digit of
    their own."""
    img = np.zeros((80, 120), dtype=np.uint8)
    img[10:70, 10:16] = 255  # a "1"
    img[10:70, 100:106] = 255  # another "1"
    img[12:20, 52:74] = 255  # the 5's bar (8 px tall), sharing 8 columns with...
    img[24:28, 36:60] = 255  # ...its body (26 px tall): top, right side, bottom
    img[24:50, 56:60] = 255
    img[46:50, 36:60] = 255
    p = prepare(img)
    boxes = [[(s.top, s.left, s.bottom, s.right) for s in slot.options[0]] for slot in p.slots]
    assert boxes == [[(10, 10, 70, 16)], [(12, 36, 50, 74)], [(10, 100, 70, 106)]]


def test_a_stack_of_dashes_with_little_ink_is_not_a_digit():
    """Two short dashes one over the other reach half a digit's height together, but with
    little ink they stay fragments and join the digit beside them."""
    img = np.zeros((80, 120), dtype=np.uint8)
    for left in (10, 60, 100):
        img[10:70, left : left + 6] = 255  # three "1"s
    img[20:28, 26:30] = 255  # the dashes, 10 px right of the first
    img[43:51, 26:30] = 255
    p = prepare(img)
    boxes = [[(s.top, s.left, s.bottom, s.right) for s in slot.options[0]] for slot in p.slots]
    assert boxes == [[(10, 10, 70, 30)], [(10, 60, 70, 66)], [(10, 100, 70, 106)]]


def test_specks_are_not_digits():
    img = np.zeros((80, 120), dtype=np.uint8)
    img[10:70, 40:46] = 255  # a "1"
    img[5:7, 100:102] = 255  # dust
    img[75:77, 5:7] = 255
    p = prepare(img)
    assert len(p.slots) == 1


def zero_one(touch: bool) -> np.ndarray:
    """A round "0" (a ring with 5 px strokes) and a "1" (a bar as tall as the ring and 1/5
    as wide, as MNIST's ones) 3 px to its right; ``touch`` joins them by a stroke 3 px thick
    (a pen that did not lift)."""
    img = np.zeros((60, 80), dtype=np.uint8)
    yy, xx = np.mgrid[0:60, 0:80]
    r = np.hypot(yy - 30, xx - 26)
    img[(r <= 21.5) & (r > 16.5)] = 255  # the ring: columns 5-47
    img[9:52, 51:60] = 255  # the bar: columns 51-59
    if touch:
        img[29:32, 46:52] = 255
    return img


def test_touching_digits_are_cut_where_they_touch():
    comps = label_components(zero_one(True) >= 128)
    assert comps.count == 1
    slots = segment(comps)
    assert len(slots) == 1
    # the most plausible two-piece reading (the model chooses among readings) cuts through
    # the join: the ring on the left, the bar on the right
    left, right = next(o for o in slots[0].options if len(o) == 2)
    assert (left.left, right.right) == (5, 60)
    assert 48 <= left.right <= 51 and 48 <= right.left <= 51
    assert left.right_cut.strokes < 1


def test_separate_digits_are_read_whole():
    slots = segment(label_components(zero_one(False) >= 128))
    # by shape alone (options[0]), two digits, neither cut nor joined to the other
    reading = [piece for s in slots for piece in s.options[0]]
    assert [(p.left, p.right) for p in reading] == [(5, 48), (51, 60)]
    assert all(p.left_cut is None and p.right_cut is None for p in reading)
    # joining them is a reading too (a broken digit?): the model decides
    assert any(len(o) == 1 and (o[0].left, o[0].right) == (5, 60) for o in slots[0].options)


def test_a_digit_broken_in_two_side_by_side_can_be_joined():
    img = zero_one(False)
    img[:, 25:28] = 0  # the "0" broken into two halves
    slots = segment(label_components(img >= 128))
    joined = [o for o in slots[0].options if (o[0].left, o[0].right) == (5, 48)]
    assert joined, "no reading joins the halves"


def test_a_slanted_stroke_broken_in_two_is_one_digit():
    img = np.zeros((80, 60), dtype=np.uint8)
    for y in range(10, 70):  # a "1" leaning right, 4 px wide
        x = 20 + (70 - y) // 4
        img[y, x : x + 4] = 255
    img[38:42] = 0  # a faint pen skipped a bit
    comps = label_components(img >= 128)
    assert comps.count == 2
    slots = segment(comps)
    # one above the other: by shape alone they are one digit, not two side by side
    assert len(slots) == 1 and len(slots[0].options[0]) == 1


def test_a_cut_follows_the_thin_bridge():
    mask = np.zeros((20, 30), dtype=bool)  # a group's box
    mask[:, :10] = True
    mask[:, 20:] = True
    mask[9:11, 10:20] = True  # two blocks joined by a 2-px bridge
    cuts = candidate_cuts(mask, height=20.0, stroke=2.0)
    assert cuts
    best = min(cuts, key=lambda c: c.strokes)
    assert best.strokes == pytest.approx(1.0)  # one 2-px crossing
    assert all(10 <= c <= 20 for c in best.cols)


def test_line_cuts_are_straight_upright_and_slanted():
    mask = np.zeros((20, 40), dtype=bool)
    mask[:, 20:22] = True  # one upright 2-px stroke
    cuts = line_cuts(mask, height=20.0, stroke=2.0)
    mids = range(4, 37, 2)  # MIN_PIECE * 20 = 4 from the edges, step 2
    assert len(cuts) == 3 * len(mids)
    rows = np.arange(20)
    for k, slope in enumerate((-0.25, 0.0, 0.25)):
        for cut, mid in zip(cuts[k * len(mids) : (k + 1) * len(mids)], mids, strict=True):
            assert cut.top == 0
            assert np.array_equal(cut.cols, np.round(mid + slope * (rows - 9.5)))
            assert cut.strokes == pytest.approx(mask[rows, list(cut.cols)].sum() / 2.0)
    upright = cuts[len(mids) : 2 * len(mids)]
    assert upright[8].cols[0] == 20 and upright[8].strokes == pytest.approx(10.0)
    assert upright[10].strokes == 0.0  # beside the stroke


def test_straight_cuts_add_two_piece_readings_of_touching_digits():
    comps = label_components(zero_one(True) >= 128)
    with_lines = segment(comps)[0]
    without = segment(comps, lines=False)[0]
    extra = [o for o in with_lines.options if o not in without.options]
    assert extra and all(len(o) == 2 for o in extra)
    assert set(without.options) < set(with_lines.options)
    for left, right in extra:  # one straight cut, shared by the two pieces
        cut = left.right_cut
        assert right.left_cut == cut and left.left_cut is None and right.right_cut is None
        steps = set(np.diff(cut.cols).tolist())
        assert steps <= {-1, 0} or steps <= {0, 1}
