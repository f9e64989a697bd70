"""Other handwriting and non-digits as training data: the semeion and optdigits loaders, the
continental strokes, box scans, the non-digit generator, the training mix, and the loss's
"none of these" label."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from digitnet.data.nondigits import TEST_ONLY_FAMILIES, TRAIN_FAMILIES, nondigits
from digitnet.data.styles import box_scan, continental, continental_variant, draw_segment
from digitnet.errors import DataError
from digitnet.nn.gradcheck import numerical_gradient
from digitnet.nn.losses import NONE_OF_THESE, softmax_cross_entropy

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def a_one() -> np.ndarray:
    """A bare upright 1, MNIST-style: a 2-pixel stroke 20 px tall."""
    img = np.zeros((28, 28), np.uint8)
    img[4:24, 13:15] = 255
    return img


def test_a_flag_makes_a_one_wider_and_keeps_it_in_the_frame():
    rng = np.random.default_rng(0)
    v = continental_variant(a_one(), 1, rng)
    assert v.shape == (28, 28) and v.dtype == np.uint8
    cols = np.flatnonzero((v > 128).any(axis=0))
    assert cols[-1] - cols[0] > 5  # the flag reaches out to the left
    rows = np.flatnonzero((v > 128).any(axis=1))
    assert rows[-1] - rows[0] + 1 <= 21  # normalised again: longest side 20 px


def test_digits_without_a_continental_form_get_none():
    rng = np.random.default_rng(0)
    assert continental_variant(a_one(), 3, rng) is None
    assert continental_variant(np.zeros((28, 28), np.uint8), 1, rng) is None


def test_continental_keeps_labels_and_only_touches_1_4_7_9(digits_data):
    x, y = digits_data.train.images[:300], digits_data.train.labels[:300]
    out, labels = continental(x, y, np.random.default_rng(1), fraction=1.0)
    assert set(labels.tolist()) <= {1, 4, 7, 9} and len(out) == len(labels) > 20
    again, _ = continental(x, y, np.random.default_rng(1), fraction=1.0)
    assert np.array_equal(out, again)  # a seed reproduces it


def test_a_box_scan_fills_the_box_and_is_black_and_white_before_normalising():
    zero = np.zeros((28, 28), np.uint8)
    zero[6:22, 10:18] = 255  # a tall narrow blob
    scan = box_scan(zero)
    rows = np.flatnonzero((scan > 100).any(axis=1))
    cols = np.flatnonzero((scan > 100).any(axis=0))
    assert abs((rows[-1] - rows[0]) - (cols[-1] - cols[0])) <= 2  # square now


def test_draw_segment_is_antialiased_and_in_place():
    canvas = np.zeros((20, 20), np.float32)
    canvas[0, 0] = 0.5
    draw_segment(canvas, (10.0, 2.0), (10.0, 17.0), 2.5)
    # full ink within width/2 = 1.25 px of the segment, fading over one more pixel:
    # a pixel 1 px away gets 1.25 + 0.5 - 1 = 0.75, one 2 px away nothing
    assert canvas[10, 10] == 1.0 and canvas[11, 10] == 0.75 and canvas[9, 10] == 0.75
    assert canvas[12, 10] == 0.0 and canvas[0, 0] == 0.5  # the ink already there is kept


@pytest.mark.parametrize("part", ["train", "test"])
def test_nondigits_are_mnist_style_and_every_family_appears(part):
    x, families = nondigits(
        3 * (len(TRAIN_FAMILIES) + len(TEST_ONLY_FAMILIES)), np.random.default_rng(0), part
    )
    assert x.dtype == np.uint8 and x.shape[1:] == (28, 28)
    expected = set(TRAIN_FAMILIES) | (set(TEST_ONLY_FAMILIES) if part == "test" else set())
    assert set(families) == expected
    inked = [f for f, img in zip(families, x, strict=True) if img.max() > 128]
    assert set(inked) == expected - {"blank"}
    for img, f in zip(x, families, strict=True):
        if f != "blank":  # normalised like a person's digit: longest side about 20 px
            rows = np.flatnonzero((img > 30).any(axis=1))
            cols = np.flatnonzero((img > 30).any(axis=0))
            assert 17 <= max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 <= 23, f


def test_the_loss_gives_uniform_targets_to_none_of_these():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(4, 10))
    y = np.array([3, NONE_OF_THESE, 0, NONE_OF_THESE])
    loss, dz = softmax_cross_entropy(z, y)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    expected = -(logp[0, 3] + logp[1].mean() + logp[2, 0] + logp[3].mean()) / 4
    assert loss == pytest.approx(expected, rel=1e-12)
    w = z.copy()
    num = numerical_gradient(lambda: softmax_cross_entropy(w, y)[0], w)
    assert np.max(np.abs(num - dz)) < 1e-7
    p = np.exp(logp)
    assert np.allclose(dz[1], (p[1] - 0.1) / 4)  # p - uniform


def test_label_smoothing_still_applies_to_the_digits_beside_none_of_these():
    z = np.random.default_rng(1).normal(size=(3, 10))
    plain = softmax_cross_entropy(z[:1], np.array([2]), 0.1)
    mixed = softmax_cross_entropy(z, np.array([2, NONE_OF_THESE, NONE_OF_THESE]), 0.1)
    assert np.allclose(mixed[1][0] * 3, plain[1][0])  # row 0: same gradient (1/N scaled)


def write_semeion(folder: Path, rows: list[str]) -> None:
    folder.mkdir()
    (folder / "semeion.data.gz").write_bytes(gzip.compress("\n".join(rows).encode()))


def test_a_foreign_semeion_file_is_one_line(tmp_path):
    from digitnet.data.semeion import load_semeion

    write_semeion(tmp_path / "s", ["0 " * 266])
    with pytest.raises(DataError, match="checksum mismatch") as info:
        load_semeion(tmp_path / "s")
    assert "\n" not in str(info.value)
    with pytest.raises(DataError, match="not found"):
        load_semeion(tmp_path / "nowhere")


def test_optdigits_blocks_are_parsed_and_a_broken_block_is_named(tmp_path):
    from digitnet.data.optdigits import _parse

    block = ["0" * 32] * 31 + ["0" * 15 + "11" + "0" * 15]
    images, labels = _parse("header line\n" + "\n".join(block) + "\n 7\n", tmp_path / "f")
    assert images.shape == (1, 32, 32) and labels.tolist() == [7] and images[0, 31, 15] == 255
    with pytest.raises(DataError, match="32 rows and a label"):
        _parse("\n".join(block[:5]) + "\nxyz\n", tmp_path / "f")


@pytest.mark.skipif(not (SHARED / "semeion").is_dir(), reason="needs ../shared/datasets")
def test_the_real_files_load_with_their_counts():
    from digitnet.data.optdigits import load_optdigits
    from digitnet.data.semeion import load_semeion

    x, y = load_semeion(SHARED / "semeion")
    assert x.shape == (1593, 16, 16) and np.bincount(y).tolist()[:3] == [161, 162, 159]
    x, y = load_optdigits(SHARED / "optdigits", "all")
    assert x.shape == (2880, 32, 32) and set(np.unique(x)) == {0, 255}


def test_a_mix_extends_only_the_training_split(digits_data, tmp_path):
    from digitnet.training.mix import Mix, with_mix

    data, counts = with_mix(digits_data, Mix(continental=1.0, box_scans=0.5, nondigits=50), seed=0)
    assert counts["mnist"] == 1200 and counts["nondigits"] == 50
    assert len(data.train.labels) == sum(counts.values())
    assert (data.train.labels == NONE_OF_THESE).sum() == 50
    assert data.val is digits_data.val and data.test is digits_data.test
    again, _ = with_mix(digits_data, Mix(continental=1.0, box_scans=0.5, nondigits=50), seed=0)
    assert np.array_equal(again.train.images, data.train.images)
    with pytest.raises(DataError, match="optdigits files are not in"):
        with_mix(digits_data, Mix(optdigits=1), seed=0, extra_dir=tmp_path)
