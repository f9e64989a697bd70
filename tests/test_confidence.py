"""Calibration and the reject option: hand-worked examples and the known answers."""

from __future__ import annotations

import numpy as np
import pytest

from digitnet.evaluation.confidence import (
    confidence_and_correct,
    confidence_summary,
    coverage_curve,
    format_selective,
    reliability,
    selective,
)
from digitnet.evaluation.evaluate import evaluate
from digitnet.nn import Dense, Flatten, Sequential


def test_confidence_and_correct():
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3]])
    conf, correct = confidence_and_correct(proba, np.array([0, 1, 1]))
    assert conf.tolist() == pytest.approx([0.7, 0.6, 0.5])
    assert correct.tolist() == [True, False, True]


def test_reliability_hand_computed():
    # 4 bins of width 0.25. Bin (0.5, 0.75]: 0.6 (right), 0.7 (wrong), 0.75 (right, on the
    # edge: belongs to the lower bin); bin (0.75, 1]: 0.9 (right), 1.0 (right).
    conf = np.array([0.6, 0.7, 0.75, 0.9, 1.0])
    correct = np.array([True, False, True, True, True])
    r = reliability(conf, correct, n_bins=4)
    assert r["edges"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert r["count"] == [0, 0, 3, 2]
    assert r["accuracy"] == pytest.approx([0, 0, 2 / 3, 1.0])
    assert r["confidence"] == pytest.approx([0, 0, (0.6 + 0.7 + 0.75) / 3, 0.95])
    expected = 3 / 5 * abs(2 / 3 - 2.05 / 3) + 2 / 5 * abs(1.0 - 0.95)
    assert r["ece"] == pytest.approx(expected)


def test_zero_confidence_goes_to_the_first_bin():
    assert reliability(np.array([0.0, 0.05]), np.array([False, False]), 10)["count"][0] == 2


def test_perfectly_calibrated_bins_have_zero_ece():
    # in each bin the accuracy equals the confidence exactly
    conf = np.array([0.5, 0.5, 1.0, 1.0])
    correct = np.array([True, False, True, True])
    assert reliability(conf, correct, n_bins=2)["ece"] == pytest.approx(0.0, abs=1e-15)


def test_reliability_rejects_bad_bins():
    with pytest.raises(ValueError, match="n_bins must be a positive integer, got 0"):
        reliability(np.array([0.5]), np.array([True]), 0)


def test_selective_threshold_zero_answers_everything():
    conf = np.array([0.2, 0.5, 0.99])
    correct = np.array([False, True, True])
    r = selective(conf, correct, 0.0)
    assert r["coverage"] == 1.0 and r["answered"] == 3 and r["rejected"] == 0
    assert r["accuracy"] == pytest.approx(2 / 3)


def test_selective_hand_computed_and_nothing_answered():
    conf = np.array([0.2, 0.5, 0.6, 0.99])
    correct = np.array([False, False, True, True])
    r = selective(conf, correct, 0.5)  # 0.5 itself is answered
    assert (r["answered"], r["rejected"], r["correct"]) == (3, 1, 2)
    assert r["coverage"] == 0.75 and r["accuracy"] == pytest.approx(2 / 3)
    none = selective(conf, correct, 1.0)
    assert none["answered"] == 0 and none["coverage"] == 0.0 and none["accuracy"] is None
    assert "n/a" in format_selective(none)
    with pytest.raises(ValueError, match="threshold must be in"):
        selective(conf, correct, 1.5)


def test_coverage_curve_groups_ties():
    conf = np.array([0.9, 0.6, 0.9, 0.3])
    correct = np.array([True, False, False, True])
    c = coverage_curve(conf, correct)
    assert c["threshold"].tolist() == [0.9, 0.6, 0.3]
    assert c["coverage"].tolist() == [0.5, 0.75, 1.0]
    assert c["accuracy"].tolist() == pytest.approx([0.5, 1 / 3, 0.5])


def test_coverage_curve_agrees_with_selective_at_every_threshold():
    rng = np.random.default_rng(0)
    conf = np.round(rng.random(500), 2)  # many ties
    correct = rng.random(500) < conf
    c = coverage_curve(conf, correct)
    for t, cov, acc in zip(c["threshold"], c["coverage"], c["accuracy"], strict=True):
        r = selective(conf, correct, t)
        assert r["coverage"] == pytest.approx(cov) and r["accuracy"] == pytest.approx(acc)


def test_summary_threshold_zero_row_is_the_plain_accuracy():
    rng = np.random.default_rng(1)
    proba = rng.dirichlet(np.ones(10) * 0.3, size=300)
    labels = rng.integers(0, 10, 300)
    s = confidence_summary(proba, labels)
    plain = float(np.mean(proba.argmax(axis=1) == labels))
    assert s["reject_option"][0]["threshold"] == 0.0
    assert s["reject_option"][0]["accuracy"] == pytest.approx(plain)
    assert s["ece"] == s["reliability"]["ece"]
    assert sum(s["reliability"]["count"]) == 300


def test_evaluate_reject_below():
    model = Sequential([Flatten(), Dense(10)], (1, 28, 28), np.random.default_rng(0))
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, size=(50, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 50)
    plain = evaluate(model, images, labels)
    assert "reject_option" not in plain
    r = evaluate(model, images, labels, reject_below=0.0)
    assert r["reject_option"]["coverage"] == 1.0
    assert r["reject_option"]["accuracy"] == pytest.approx(plain["accuracy"])
    assert {k: v for k, v in r.items() if k != "reject_option"} == plain


def test_not_a_digit_below_the_model_threshold_or_without_ink():
    from digitnet.evaluation.confidence import THRESHOLD_KEY, digit_or_not

    class Model:
        meta = {THRESHOLD_KEY: 0.5}

    proba = np.array([[0.9] + [0.1 / 9] * 9, [0.3, 0.3] + [0.05] * 8, [0.5] + [0.5 / 9] * 9])
    assert digit_or_not(proba, Model()).tolist() == [True, False, True]
    assert digit_or_not(proba).tolist() == [True, True, True]  # no threshold: every one
    images = np.zeros((3, 28, 28), np.uint8)
    images[0, 10, 10] = 255
    images[2, 5, 5] = 20  # below the ink level (0.1 of 255)
    assert digit_or_not(proba, images=images).tolist() == [True, False, False]


def test_the_threshold_refuses_at_most_the_asked_share_of_validation_digits():
    from digitnet.evaluation.confidence import calibrate_not_a_digit

    top = np.linspace(0.3, 1.0, 1000)
    proba = np.stack([top] + [(1 - top) / 9] * 9, axis=1)
    t = calibrate_not_a_digit(proba, refuse_at_most=0.01)
    assert (top < t).mean() <= 0.01 and t == pytest.approx(0.30, abs=0.011)
    assert calibrate_not_a_digit(proba, 0.0) == 0.3  # the lowest, rounded down
    with pytest.raises(ValueError, match="refuse_at_most"):
        calibrate_not_a_digit(proba, 1.5)
