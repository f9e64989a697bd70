"""Evaluate a model on a labelled split."""

from __future__ import annotations

from typing import Any

import numpy as np

from digitnet.metrics import classification_report
from digitnet.nn import Sequential
from digitnet.train import batch_to_input


def predict_proba(model: Sequential, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Class probabilities for raw images. (N, 28, 28) uint8 or float -> (N, 10) float32."""
    outs = [model.predict_proba(batch_to_input(images[i:i + batch_size], model.input_shape),
                                batch_size)
            for i in range(0, images.shape[0], batch_size)]
    if not outs:
        return np.zeros((0, 10), dtype=np.float32)
    return np.concatenate(outs)


def evaluate(model: Sequential, images: np.ndarray, labels: np.ndarray,
             batch_size: int = 1000) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1, macro averages and the confusion matrix."""
    labels = np.asarray(labels)
    pred = predict_proba(model, images, batch_size).argmax(axis=1)
    return classification_report(labels, pred, num_classes=10)
