"""The segment checker: its training examples (segments of composed numbers, labelled by the
digits their ink belongs to), its network, its use in choosing a reading, and the
``digitnet train-checker`` / ``predict --checker`` commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_cli
from photo_helpers import mnist_style_digits

from digitnet.data.mnist import MNIST, Split
from digitnet.data.pieces import NOT_ONE_DIGIT, make_pieces, number_pieces
from digitnet.evaluation.checker import not_one_digit
from digitnet.modelfile import load_model, save_model
from digitnet.nn import Dense, Flatten, Sequential
from digitnet.training.checker import build_checker, pieces_split, train_checker


def test_far_apart_digits_are_whole_digits_with_their_labels():
    images, labels = mnist_style_digits()
    found = 0
    for seed in range(5):
        pick = np.arange(4 * seed, 4 * seed + 4)
        x, y = number_pieces(images[pick], labels[pick], np.random.default_rng(seed), touching=0.0)
        assert x.shape == (len(y), 28, 28) and x.dtype == np.uint8
        whole = y[y != NOT_ONE_DIGIT]
        # every whole-digit segment carries the label of a digit of the number, and every
        # digit of the number is found whole (the gaps are 1-8 px: none touch)
        assert set(whole) <= set(labels[pick])
        found += set(labels[pick]) <= set(whole)
    assert found == 5


def test_touching_digits_give_segments_that_are_not_one_digit():
    images, labels = mnist_style_digits()
    x, y = make_pieces(images, labels, 60, np.random.default_rng(0), sizes=(2, 2), touching=1.0)
    bad = y == NOT_ONE_DIGIT
    assert bad.sum() >= 20 and (~bad).sum() >= 20  # not all squeezed pairs touch
    # two digits squeezed into one 20 px box: more ink columns than a whole digit's
    assert (x[bad] > 0).any(axis=1).sum(axis=1).mean() > (x[~bad] > 0).any(axis=1).sum(
        axis=1
    ).mean()


def test_pieces_are_reproducible_from_the_seed():
    images, labels = mnist_style_digits()
    a = make_pieces(images, labels, 5, np.random.default_rng(3))
    b = make_pieces(images, labels, 5, np.random.default_rng(3))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_straight_cut_pieces_are_added_on_request_only():
    """lines=0 gives the seam-cut pieces and draws nothing extra from the generator; with
    lines=1 every straight-cut reading adds its pieces, after the same seam-cut pieces."""
    yy, xx = np.mgrid[0:28, 0:28]
    r = np.hypot(yy - 14, xx - 14)
    ring = np.where((r <= 10) & (r > 6), 255, 0).astype(np.uint8)  # a round, wide "0"
    zeros, labels = np.stack([ring, ring]), np.array([0, 0])
    added = 0
    for seed in range(3):
        x0, y0 = number_pieces(zeros, labels, np.random.default_rng(seed), touching=1.0, lines=0.0)
        x1, y1 = number_pieces(zeros, labels, np.random.default_rng(seed), touching=1.0, lines=1.0)
        assert np.array_equal(x1[: len(y0)], x0) and np.array_equal(y1[: len(y0)], y0)
        assert (y1[len(y0) :] == NOT_ONE_DIGIT).any() or len(y1) == len(y0)
        added += len(y1) - len(y0)
        explicit, default = np.random.default_rng(seed), np.random.default_rng(seed)
        number_pieces(zeros, labels, explicit, touching=1.0, lines=0.0)
        number_pieces(zeros, labels, default, touching=1.0)  # LINE_PIECES = 0
        assert explicit.random() == default.random()
    assert added > 0


def test_checker_has_eleven_outputs_and_refuses_a_digit_model():
    checker = build_checker(0)
    assert checker.output_shape == (NOT_ONE_DIGIT + 1,)
    p = not_one_digit(checker, np.zeros((3, 28, 28), np.uint8))
    assert p.shape == (3,) and np.all((p >= 0) & (p <= 1))
    digit_model = Sequential([Flatten(), Dense(10)], (1, 28, 28), np.random.default_rng(0))
    with pytest.raises(ValueError, match="11 outputs"):
        not_one_digit(digit_model, np.zeros((1, 28, 28), np.uint8))


def test_a_trained_checker_tells_whole_digits_from_the_rest(mnist, tmp_path):
    """Trained for seconds on the segments of 300 numbers made of MNIST training digits, it
    already separates whole digits from pairs and pieces in numbers made of other digits."""
    data = MNIST(
        Split(mnist.train.images[:5000], mnist.train.labels[:5000]),
        Split(mnist.val.images[:2000], mnist.val.labels[:2000]),
        Split(mnist.test.images[:0], mnist.test.labels[:0]),
        data_dir=Path("mnist"),
        checksums={},
    )
    checker = train_checker(data, numbers=300, val_numbers=100, seed=0, epochs=4)
    meta = checker.meta
    assert meta["kind"] == "checker" and meta["command"].startswith("digitnet train-checker")
    assert meta["examples"]["train"] > 300 and meta["examples"]["train_not_one_digit"] > 100
    val = meta["val"]
    assert val["whole_flagged"] < 0.25 and val["not_one_missed"] < 0.35
    held_out = pieces_split(data.val, 60, seed=9)
    p = not_one_digit(checker, held_out.images)
    bad = held_out.labels == NOT_ONE_DIGIT
    assert p[bad].mean() > p[~bad].mean() + 0.4
    save_model(tmp_path / "c.npz", checker)
    assert np.array_equal(not_one_digit(load_model(tmp_path / "c.npz"), held_out.images), p)


def test_train_checker_command_writes_a_checker(mnist_dir, tmp_path):
    out = tmp_path / "checker.npz"
    proc = run_cli(
        "train-checker",
        "--data-dir",
        str(mnist_dir),
        "--numbers",
        "40",
        "--val-numbers",
        "20",
        "--epochs",
        "1",
        "--out",
        str(out),
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["model"] == str(out) and result["examples"]["train"] > 40
    assert result["examples"]["val"] > 20 and 0 <= result["val"]["whole_flagged"] <= 1
    assert load_model(out).meta["command"] == (
        "digitnet train-checker --numbers 40 --seed 0 --val-numbers 20 --epochs 1"
    )
    assert load_model(out).output_shape == (NOT_ONE_DIGIT + 1,)
    bad = run_cli(
        "train-checker", "--data-dir", str(mnist_dir), "--out", str(tmp_path / "no" / "c.npz")
    )
    assert bad.returncode != 0 and "does not exist" in bad.stderr


def test_predict_refuses_a_digit_model_as_checker(tmp_path):
    model = tmp_path / "digits.npz"
    save_model(model, Sequential([Flatten(), Dense(10)], (1, 28, 28), np.random.default_rng(0)))
    img = tmp_path / "seven.png"
    from PIL import Image

    Image.fromarray(mnist_style_digits()[0][7]).save(img)
    proc = run_cli("predict", str(img), "--checker", str(model))
    assert proc.returncode != 0
    assert proc.stderr.strip().count("\n") == 0 and "not a segment checker" in proc.stderr
    both = run_cli("predict", str(img), "--checker", str(model), "--no-checker")
    assert both.returncode != 0 and "not allowed with" in both.stderr
    plain = run_cli("predict", str(img), "--no-checker", "--model", str(model))
    assert plain.returncode == 0 and plain.stdout.startswith(str(img))


def test_the_checkers_digits_are_averaged_with_the_models():
    from digitnet.evaluation.checker import checker_proba
    from digitnet.reading.recognise import READ_WEIGHT, second_opinion

    checker = build_checker(1)
    x = np.random.default_rng(0).integers(0, 256, (5, 28, 28)).astype(np.uint8)
    proba = np.random.default_rng(1).dirichlet(np.ones(10), size=5).astype(np.float32)
    digit, not_one = checker_proba(checker, x)
    assert np.allclose(digit.sum(axis=1), 1) and np.all((not_one >= 0) & (not_one <= 1))
    combined, flagged = second_opinion(proba, checker, x)
    assert np.allclose(combined, (proba + READ_WEIGHT * digit) / (1 + READ_WEIGHT), atol=1e-6)
    assert np.allclose(combined.sum(axis=1), 1, atol=1e-5) and np.array_equal(flagged, not_one)
