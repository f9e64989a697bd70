"""Classification metrics: accuracy, confusion matrix, per-class precision/recall/F1.

Conventions follow scikit-learn: confusion-matrix rows are true classes and columns predicted
classes; a class with no predictions has precision 0 (and no support means recall 0), so the
numbers agree with ``precision_recall_fscore_support(..., zero_division=0)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int = 10) -> np.ndarray:
    """(K, K) int64 counts: entry [i, j] is the number of examples of class i predicted j."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(
            f"y_true and y_pred must be 1-D and the same length, got "
            f"{y_true.shape} and {y_pred.shape}"
        )
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.size and (y.min() < 0 or y.max() >= num_classes):
            raise ValueError(f"{name} holds labels outside [0, {num_classes})")
    flat = np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


def precision_recall_f1(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class precision, recall, F1 and support from a confusion matrix.

    precision_k = cm[k, k] / sum_i cm[i, k];  recall_k = cm[k, k] / sum_j cm[k, j];
    F1 = 2 P R / (P + R); each is 0 where its denominator is 0.
    """
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    predicted = cm.sum(axis=0)
    support = cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support.astype(np.int64)}


def classification_report(
    y_true: np.ndarray, y_pred: np.ndarray, num_classes: int = 10
) -> dict[str, Any]:
    """All metrics as JSON-ready values.

    Returns a dict with ``accuracy`` (fraction), ``correct``, ``total``, per-class lists
    ``precision``, ``recall``, ``f1``, ``support``, their unweighted ``macro_*`` means and
    ``confusion_matrix`` (K x K nested lists, rows = true class).
    """
    cm = confusion_matrix(y_true, y_pred, num_classes)
    prf = precision_recall_f1(cm)
    total = int(cm.sum())
    correct = int(np.trace(cm))
    return {
        "accuracy": correct / total if total else 0.0,
        "correct": correct,
        "total": total,
        "precision": prf["precision"].tolist(),
        "recall": prf["recall"].tolist(),
        "f1": prf["f1"].tolist(),
        "support": prf["support"].tolist(),
        "macro_precision": float(prf["precision"].mean()),
        "macro_recall": float(prf["recall"].mean()),
        "macro_f1": float(prf["f1"].mean()),
        "confusion_matrix": cm.tolist(),
    }


def format_report(report: dict[str, Any]) -> str:
    """Human-readable tables: per-class metrics, macro averages and the confusion matrix."""
    k = len(report["precision"])
    lines = [
        f"Accuracy: {report['accuracy']:.2%} ({report['correct']} / {report['total']})",
        "",
        f"{'digit':>5} {'precision':>10} {'recall':>8} {'f1':>8} {'support':>8}",
    ]
    for c in range(k):
        lines.append(
            f"{c:>5} {report['precision'][c]:>10.4f} {report['recall'][c]:>8.4f} "
            f"{report['f1'][c]:>8.4f} {report['support'][c]:>8}"
        )
    lines.append(
        f"{'macro':>5} {report['macro_precision']:>10.4f} "
        f"{report['macro_recall']:>8.4f} {report['macro_f1']:>8.4f} "
        f"{report['total']:>8}"
    )
    lines += [
        "",
        "Confusion matrix (rows = true digit, columns = predicted):",
        "      " + "".join(f"{c:>6}" for c in range(k)),
    ]
    for c, row in enumerate(report["confusion_matrix"]):
        lines.append(f"{c:>5} " + "".join(f"{v:>6}" for v in row))
    if "not_a_digit" in report:
        nd = report["not_a_digit"]
        lines += [
            "",
            f"Not a digit below {nd['threshold']:.2f}: {nd['refused_count']} of these "
            f'{report["total"]} digits ({nd["refused"]:.2%}) would be answered "not a digit"',
        ]
    return "\n".join(lines)
