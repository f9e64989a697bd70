"""Metrics: a hand-computed example and agreement with scikit-learn on random labels."""

from __future__ import annotations

import numpy as np
import pytest

from digitnet.evaluation.metrics import classification_report, confusion_matrix, format_report


def test_hand_computed_three_classes():
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 1, 1, 2, 2])
    r = classification_report(y_true, y_pred, num_classes=3)
    assert r["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert r["accuracy"] == pytest.approx(4 / 6) and r["correct"] == 4 and r["total"] == 6
    assert r["precision"] == pytest.approx([1.0, 0.5, 0.5])
    assert r["recall"] == pytest.approx([2 / 3, 0.5, 1.0])
    assert r["f1"] == pytest.approx([0.8, 0.5, 2 / 3])
    assert r["support"] == [3, 2, 1]
    assert r["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)


def test_class_never_predicted_has_zero_precision():
    r = classification_report(np.array([0, 1]), np.array([0, 0]), num_classes=2)
    assert r["precision"] == [0.5, 0.0] and r["recall"] == [1.0, 0.0] and r["f1"][1] == 0.0


def test_agrees_with_scikit_learn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 10, 2000)
    y_pred = np.where(rng.random(2000) < 0.7, y_true, rng.integers(0, 10, 2000))
    r = classification_report(y_true, y_pred)
    assert np.array_equal(r["confusion_matrix"], sk.confusion_matrix(y_true, y_pred))
    p, rec, f1, sup = sk.precision_recall_fscore_support(y_true, y_pred, zero_division=0)
    assert np.allclose(r["precision"], p) and np.allclose(r["recall"], rec)
    assert np.allclose(r["f1"], f1) and r["support"] == sup.tolist()
    assert r["accuracy"] == pytest.approx(sk.accuracy_score(y_true, y_pred))


def test_rejects_out_of_range_labels():
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix(np.array([0, 10]), np.array([0, 1]))


def test_format_report_lists_every_class():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 10, 100)
    text = format_report(classification_report(y, y))
    assert "Accuracy: 100.00% (100 / 100)" in text
    assert text.count("\n") > 20 and "Confusion matrix" in text
