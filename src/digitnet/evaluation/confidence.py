"""How far to trust a prediction: calibration and the reject option.

The confidence of a prediction is its largest class probability. A calibrated model is right
on about 90% of the predictions it makes with confidence 0.9; the expected calibration error
(ECE) measures the gap. With a reject option the model answers "not sure" below a confidence
threshold: it answers fewer images (coverage) and, if its confidences mean anything, gets more
of those right (selective accuracy).

Everything here is NumPy on whole arrays; nothing loops over images.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: thresholds summarised in reports (the full curve is drawn, these are tabulated)
SUMMARY_THRESHOLDS = (0.0, 0.5, 0.8, 0.9, 0.95, 0.99, 0.999)


def confidence_and_correct(proba: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Confidence and correctness of each prediction.

    Parameters
    ----------
    proba : (N, K) class probabilities, rows summing to 1.
    labels : (N,) true classes in [0, K).

    Returns
    -------
    confidence : (N,) float64, ``max_k proba[n, k]``.
    correct : (N,) bool, whether ``argmax_k proba[n, k] == labels[n]``.
    """
    proba = np.asarray(proba)
    labels = np.asarray(labels)
    if proba.ndim != 2 or labels.shape != (proba.shape[0],):
        raise ValueError(
            f"expected proba (N, K) and labels (N,), got {proba.shape} and {labels.shape}"
        )
    return proba.max(axis=1).astype(np.float64), proba.argmax(axis=1) == labels


def reliability(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 15) -> dict[str, Any]:
    """Reliability diagram data and the expected calibration error.

    The confidences are put into ``n_bins`` equal-width bins ``(e_b, e_{b+1}]`` of [0, 1]
    (a confidence of exactly 0 goes to the first). With n_b predictions, accuracy acc_b and
    mean confidence conf_b in bin b, ECE = sum_b (n_b / N) |acc_b - conf_b|.

    Parameters
    ----------
    confidence : (N,) floats in [0, 1].
    correct : (N,) bools.
    n_bins : int

    Returns
    -------
    dict
        ``edges`` (n_bins + 1,), per-bin ``count``, ``accuracy`` and ``confidence`` (n_bins,)
        lists (accuracy and confidence are 0 for empty bins) and ``ece`` (float), all
        JSON-ready.
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins <= 0:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # number of inner edges strictly below c: bin b holds (e_b, e_{b+1}]
    idx = np.searchsorted(edges[1:-1], confidence, side="left")
    count = np.bincount(idx, minlength=n_bins)
    hits = np.bincount(idx, weights=correct, minlength=n_bins)
    conf_sum = np.bincount(idx, weights=confidence, minlength=n_bins)
    safe = np.maximum(count, 1)
    accuracy, mean_conf = hits / safe, conf_sum / safe
    total = max(int(count.sum()), 1)
    ece = float(np.sum(count / total * np.abs(accuracy - mean_conf)))
    return {
        "edges": edges.tolist(),
        "count": count.tolist(),
        "accuracy": accuracy.tolist(),
        "confidence": mean_conf.tolist(),
        "ece": ece,
    }


def selective(confidence: np.ndarray, correct: np.ndarray, threshold: float) -> dict[str, Any]:
    """Coverage and accuracy when predictions with confidence below ``threshold`` are
    rejected ("not sure").

    Parameters
    ----------
    confidence : (N,) floats.
    correct : (N,) bools.
    threshold : float in [0, 1]; 0 answers everything.

    Returns
    -------
    dict
        ``threshold``; ``answered``, ``rejected``, ``correct`` (counts among the answered),
        ``total``; ``coverage`` = answered / total and ``accuracy`` = correct / answered
        (None when nothing is answered), all JSON-ready.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
    confidence = np.asarray(confidence)
    answered = confidence >= threshold
    n_answered = int(answered.sum())
    n_correct = int(np.count_nonzero(np.asarray(correct) & answered))
    total = int(confidence.size)
    return {
        "threshold": float(threshold),
        "answered": n_answered,
        "rejected": total - n_answered,
        "correct": n_correct,
        "total": total,
        "coverage": n_answered / total if total else 0.0,
        "accuracy": n_correct / n_answered if n_answered else None,
    }


def coverage_curve(confidence: np.ndarray, correct: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy versus coverage for every threshold the data distinguishes.

    Sorting by confidence (highest first), the threshold t_i = the i-th distinct confidence
    answers every prediction with confidence >= t_i.

    Parameters
    ----------
    confidence : (N,) floats.
    correct : (N,) bools.

    Returns
    -------
    dict of arrays, each (M,) with M the number of distinct confidences, in order of
    decreasing threshold: ``threshold``, ``coverage`` (fraction answered) and ``accuracy``
    (among the answered).
    """
    confidence = np.asarray(confidence, dtype=np.float64)
    n = confidence.size
    if n == 0:
        return {k: np.zeros(0) for k in ("threshold", "coverage", "accuracy")}
    order = np.argsort(-confidence, kind="stable")
    conf = confidence[order]
    hits = np.cumsum(np.asarray(correct, dtype=np.int64)[order])
    # the last position of each run of equal confidences: ties are answered together
    last = np.flatnonzero(np.append(conf[1:] != conf[:-1], True))
    answered = last + 1
    return {"threshold": conf[last], "coverage": answered / n, "accuracy": hits[last] / answered}


def confidence_summary(
    proba: np.ndarray,
    labels: np.ndarray,
    n_bins: int = 15,
    thresholds: tuple[float, ...] = SUMMARY_THRESHOLDS,
) -> dict[str, Any]:
    """The reliability diagram, ECE and a reject-option table, JSON-ready.

    proba : (N, K) probabilities; labels : (N,). See :func:`reliability` and
    :func:`selective`.
    """
    confidence, correct = confidence_and_correct(proba, labels)
    rel = reliability(confidence, correct, n_bins)
    return {
        "reliability": rel,
        "ece": rel["ece"],
        "mean_confidence": float(confidence.mean()) if confidence.size else 0.0,
        "reject_option": [selective(confidence, correct, t) for t in thresholds],
    }


def format_selective(r: dict[str, Any]) -> str:
    """One line for :func:`selective`'s result, e.g. ``Reject below 0.9: coverage 97.12%
    (9712 / 10000 answered, 288 not sure), accuracy on the answered 99.51% (9664 / 9712)``."""
    acc = (
        "n/a (nothing answered)"
        if r["accuracy"] is None
        else f"{r['accuracy']:.2%} ({r['correct']} / {r['answered']})"
    )
    return (
        f"Reject below {r['threshold']:g}: coverage {r['coverage']:.2%} "
        f"({r['answered']} / {r['total']} answered, {r['rejected']} not sure), "
        f"accuracy on the answered {acc}"
    )


# -- "not a digit" ---------------------------------------------------------------------------
#
# A model trained with non-digits labelled "none of these" (digitnet.training.mix, loss with
# label -1: a uniform target) spreads its probability over the ten digits for a letter, a
# dot or a scribble, so its largest probability is low there and high on digits. Below a
# threshold, chosen on the validation digits and stored in the model file, the answer is
# "not a digit" instead of an invented one. A model trained without non-digits has no
# threshold: it refuses only blank inputs.

#: the reason given when an input is not read as a digit
NOT_A_DIGIT = "not a digit"
#: the reason given for an input with no ink at all
BLANK = "blank: no ink found"
#: where a model file keeps its threshold (``model.meta``)
THRESHOLD_KEY = "not_a_digit_below"
#: an input none of whose pixels reach this (0-1) holds no ink
INK_LEVEL = 0.1


def not_a_digit_threshold(model: Any) -> float | None:
    """The largest probability below which ``model`` says "not a digit" (None: it never
    does, except for blank inputs)."""
    value = (getattr(model, "meta", None) or {}).get(THRESHOLD_KEY)
    return None if value is None else float(value)


def digit_or_not(
    proba: np.ndarray,
    model: Any = None,
    images: np.ndarray | None = None,
    threshold: float | None = None,
) -> np.ndarray:
    """Which inputs are digits: ``(N, 10)`` probabilities -> ``(N,)`` bool.

    An input is not a digit when its largest probability is below ``threshold`` (default:
    ``model``'s, :func:`not_a_digit_threshold`) or, with ``images`` ``(N, 28, 28)`` (uint8
    0-255 or floats 0-1), when it has no ink.
    """
    proba = np.asarray(proba)
    if threshold is None and model is not None:
        threshold = not_a_digit_threshold(model)
    ok = np.ones(proba.shape[0], dtype=bool)
    if threshold is not None:
        ok &= proba.max(axis=1) >= threshold
    if images is not None:
        x = np.asarray(images).reshape(len(ok), -1)
        scale = 255.0 if x.dtype == np.uint8 or x.max(initial=0) > 1 else 1.0
        ok &= (x.max(axis=1, initial=0) / scale) >= INK_LEVEL
    return ok


def calibrate_not_a_digit(proba: np.ndarray, refuse_at_most: float = 0.001) -> float:
    """The threshold that refuses at most ``refuse_at_most`` of the digits whose
    probabilities ``(N, 10)`` are given (the validation digits): their largest probability's
    ``refuse_at_most`` quantile, rounded down to 0.01. A person who draws a digit is then
    almost never told it is not one; what that leaves refused of non-digits is measured by
    ``benchmarks/generalization.py``."""
    if not 0 <= refuse_at_most < 1:
        raise ValueError(f"refuse_at_most must be in [0, 1), got {refuse_at_most!r}")
    top = np.asarray(proba).max(axis=1)
    if top.size == 0:
        raise ValueError("no validation digits to choose the threshold on")
    return float(np.floor(np.quantile(top, refuse_at_most, method="lower") * 100) / 100)
