"""Evaluate a model on a labelled split."""

from __future__ import annotations

from typing import Any

import numpy as np

from digitnet.data.preprocess import to_input
from digitnet.evaluation.confidence import confidence_and_correct, selective
from digitnet.evaluation.metrics import classification_report
from digitnet.nn import Ensemble, Sequential


def predict_proba(
    model: Sequential | Ensemble, images: np.ndarray, batch_size: int = 1000
) -> np.ndarray:
    """Class probabilities for raw images. (N, 28, 28) uint8 or float -> (N, 10) float32."""
    outs = [
        model.predict_proba(to_input(images[i : i + batch_size], model.input_shape), batch_size)
        for i in range(0, images.shape[0], batch_size)
    ]
    if not outs:
        return np.zeros((0, 10), dtype=np.float32)
    return np.concatenate(outs)


def evaluate(
    model: Sequential | Ensemble,
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int = 1000,
    *,
    reject_below: float | None = None,
) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1, macro averages and the confusion matrix.

    images : (N, 28, 28); labels : (N,). With ``reject_below`` (a probability in [0, 1]) the
    result also holds ``reject_option``: coverage and accuracy when the model answers "not
    sure" below that confidence (see :func:`digitnet.evaluation.confidence.selective`). A
    model with a "not a digit" threshold adds ``not_a_digit``: the threshold and the share
    of these digits it would refuse (the accuracy itself counts the top class, as always).
    """
    from digitnet.evaluation.confidence import digit_or_not, not_a_digit_threshold

    proba = predict_proba(model, images, batch_size)
    report = evaluate_proba(proba, labels, reject_below=reject_below)
    threshold = not_a_digit_threshold(model)
    if threshold is not None:
        refused = ~digit_or_not(proba, threshold=threshold)
        report["not_a_digit"] = {
            "threshold": threshold,
            "refused": float(refused.mean()) if len(refused) else 0.0,
            "refused_count": int(refused.sum()),
        }
    return report


def evaluate_proba(
    proba: np.ndarray, labels: np.ndarray, *, reject_below: float | None = None
) -> dict[str, Any]:
    """:func:`evaluate` from already computed probabilities ``proba`` (N, 10)."""
    labels = np.asarray(labels)
    report = classification_report(labels, proba.argmax(axis=1), num_classes=10)
    if reject_below is not None:
        confidence, correct = confidence_and_correct(proba, labels)
        report["reject_option"] = selective(confidence, correct, reject_below)
    return report
