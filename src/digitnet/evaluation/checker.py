"""What a segment checker (:mod:`digitnet.training.checker`) says about inputs: is each one
whole digit, and which digit if so. The checker has 11 outputs: the ten digits and
:data:`~digitnet.data.pieces.NOT_ONE_DIGIT`."""

from __future__ import annotations

import numpy as np

from digitnet.data.mnist import Split
from digitnet.data.pieces import NOT_ONE_DIGIT
from digitnet.evaluation.evaluate import predict_proba
from digitnet.nn import Sequential


def not_one_digit(checker: Sequential, images: np.ndarray) -> np.ndarray:
    """Probability that each input is not one whole digit: ``(M, 28, 28)`` -> ``(M,)``."""
    return checker_proba(checker, images)[1]


def checker_proba(checker: Sequential, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What the checker reads in ``(M, 28, 28)`` inputs: its digit probabilities given that
    the input is one digit ``(M, 10)``, and the probability that it is not ``(M,)``."""
    if checker.output_shape[-1] != NOT_ONE_DIGIT + 1:
        raise ValueError(
            f"a checker has {NOT_ONE_DIGIT + 1} outputs, this model has {checker.output_shape[-1]}"
        )
    p = predict_proba(checker, images)  # (M, 11)
    digit = p[:, :NOT_ONE_DIGIT]
    return digit / np.maximum(digit.sum(axis=1, keepdims=True), 1e-12), p[:, NOT_ONE_DIGIT]


def scores(checker: Sequential, split: Split, threshold: float = 0.5) -> dict[str, float]:
    """How well ``checker`` separates whole digits from the rest on labelled segments:
    the fraction of whole digits flagged (false alarms) and of the rest missed, at
    ``threshold``."""
    p = not_one_digit(checker, split.images)
    bad = split.labels == NOT_ONE_DIGIT
    return {
        "whole_flagged": float((p[~bad] >= threshold).mean()) if (~bad).any() else 0.0,
        "not_one_missed": float((p[bad] < threshold).mean()) if bad.any() else 0.0,
        "whole": int((~bad).sum()),
        "not_one": int(bad.sum()),
    }
