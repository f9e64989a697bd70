"""Compute everything a report shows and write the report folder atomically.

A report folder holds ``index.html`` (opens from disk: no server, no internet), one PNG per
figure and ``metrics.json`` with every number. It is built in a temporary folder beside the
destination and renamed into place, so an interrupted run never leaves a half-written report.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from digitnet import __version__
from digitnet.errors import ConfigError
from digitnet.evaluation.confidence import (
    confidence_and_correct,
    confidence_summary,
    coverage_curve,
)
from digitnet.evaluation.evaluate import evaluate_proba, predict_proba
from digitnet.evaluation.inside import describe, first_layer_weights, layer_activations
from digitnet.nn import Ensemble, Sequential
from digitnet.progress import ProgressBar
from digitnet.report import figures
from digitnet.report.robustness import PERTURBATIONS, robustness_curves

FORMAT = "digitnet-report"
FORMAT_VERSION = 1
FIGURES = {
    "learning_curves": "learning_curves.png",
    "confusion_counts": "confusion_counts.png",
    "confusion_normalized": "confusion_normalized.png",
    "per_class": "per_class.png",
    "errors": "errors.png",
    "robustness": "robustness.png",
    "reliability": "reliability.png",
    "coverage": "coverage.png",
    "first_layer": "first_layer.png",
    "activations": "activations.png",
}


@dataclass
class ReportConfig:
    """Settings of a report.

    Attributes
    ----------
    seed : int
        Seeds the robustness subset, rotation signs, shift directions and noise.
    robustness_images : int or None
        Test images used for the robustness curves (a seeded random subset); None for all.
        Each curve point classifies them all once, so this sets most of the report's cost.
    gallery : int
        Misclassified images shown (the most confident mistakes first).
    calibration_bins : int
        Bins of the reliability diagram and the expected calibration error.
    example : int
        Index of the test image whose activations are drawn.
    batch_size : int
        Images classified at once.
    """

    seed: int = 0
    robustness_images: int | None = 2000
    gallery: int = 40
    calibration_bins: int = 15
    example: int = 0
    batch_size: int = 1000

    def validate(self, n_images: int) -> None:
        """Raise ConfigError naming the first invalid setting."""
        for name in ("gallery", "calibration_bins", "batch_size", "seed", "example"):
            v = getattr(self, name)
            low = 1 if name in ("calibration_bins", "batch_size") else 0
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ConfigError(
                    f"invalid report setting {name}={v!r}: expected an integer >= {low}"
                )
        r = self.robustness_images
        if r is not None and (isinstance(r, bool) or not isinstance(r, int) or r <= 0):
            raise ConfigError(
                f"invalid report setting robustness_images={r!r}: expected a "
                "positive integer or None (all)"
            )
        if self.example >= n_images:
            raise ConfigError(
                f"invalid report setting example={self.example}: the split has {n_images} images"
            )


@dataclass
class Report:
    """What a report shows: ``metrics`` (JSON-ready, saved as metrics.json) and the arrays
    the figures need."""

    metrics: dict[str, Any]
    proba: np.ndarray  # (N, 10) test probabilities
    images: np.ndarray  # (N, 28, 28) uint8 test images
    labels: np.ndarray  # (N,)
    model: Sequential | Ensemble
    extras: dict[str, Any] = field(default_factory=dict)


# -- the output folder -----------------------------------------------------------------------


def check_output_folder(out_dir: str | os.PathLike) -> Path:
    """Fail early, before any work, if ``out_dir`` cannot receive a report.

    It may be absent (its parent must exist), an empty folder, or a previous report (which
    is replaced); anything else is refused so no user file is ever deleted.
    """
    out = Path(out_dir)
    if not out.parent.is_dir():
        raise ConfigError(
            f"report folder {out}: {out.parent} does not exist; create it or choose another place"
        )
    if out.exists() and not out.is_dir():
        raise ConfigError(f"report folder {out} is a file; choose a folder name")
    if out.is_dir() and any(out.iterdir()) and not _is_report(out):
        raise ConfigError(
            f"report folder {out} is not empty and holds no digitnet report; "
            "choose a new or empty folder (a previous report is replaced)"
        )
    return out


def _is_report(folder: Path) -> bool:
    try:
        doc = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("format") == FORMAT


def _sync(folder: Path) -> None:
    """Flush the folder's files and the folder itself to disk before it is renamed into
    place, so a crash right after the rename cannot expose empty files."""
    for path in [*folder.iterdir(), folder]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _publish(tmp: Path, out: Path) -> None:
    """Move the finished folder ``tmp`` to ``out``, replacing a previous report."""
    if not out.exists():
        os.replace(tmp, out)
        return
    old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old."))
    os.replace(out, old / "report")
    try:
        os.replace(tmp, out)
    except BaseException:
        os.replace(old / "report", out)  # put the previous report back
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def write_report(
    model: Sequential | Ensemble,
    data: Any,
    out_dir: str | os.PathLike,
    *,
    config: ReportConfig | None = None,
    model_path: str | os.PathLike | None = None,
    progress: bool | None = None,
) -> Path:
    """Evaluate ``model`` on ``data.test`` and write the report folder ``out_dir``.

    Parameters
    ----------
    model : Sequential or Ensemble
        A trained model; its ``meta`` (training history, settings, checksums) is reported.
    data : digitnet.data.MNIST
        The data: ``test`` images (N, 28, 28) uint8 and labels (N,), ``checksums``.
    out_dir : path
        The folder to write: absent, empty, or a previous report (replaced).
    config : ReportConfig, optional
    model_path : path, optional
        Where the model was loaded from (shown in the report).
    progress : bool, optional
        Draw a progress bar on stderr (default: only on a terminal).

    Returns
    -------
    Path
        ``out_dir / "index.html"``.
    """
    out = check_output_folder(out_dir)
    config = config or ReportConfig()
    config.validate(len(data.test.labels))
    steps = 2 + sum(len(p.levels) for p in PERTURBATIONS)
    with ProgressBar(steps, "Report", enabled=progress) as bar:
        report = compute_report(model, data, config, model_path=model_path, step=bar.update)
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
        try:
            os.chmod(tmp, 0o755)
            write_folder(report, tmp)
            _sync(tmp)
            _publish(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        bar.update()
    return out / "index.html"


# -- computing -------------------------------------------------------------------------------


def compute_report(
    model: Sequential | Ensemble,
    data: Any,
    config: ReportConfig,
    *,
    model_path: str | os.PathLike | None = None,
    step: Callable[[], None] | None = None,
) -> Report:
    """All of a report's numbers (see :class:`Report`); ``step`` is called as work is done."""
    step = step or (lambda: None)
    images, labels = data.test.images, np.asarray(data.test.labels)
    proba = predict_proba(model, images, config.batch_size)
    step()
    metrics = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "digitnet_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "model": model_info(model, model_path),
        "data": {
            "split": "test",
            "images": int(len(labels)),
            "data_dir": str(getattr(data, "data_dir", "")),
            "checksums": dict(getattr(data, "checksums", {}) or {}),
        },
        "test": evaluate_proba(proba, labels),
        "confidence": confidence_summary(proba, labels, config.calibration_bins),
        "errors": mistakes(proba, labels),
        "robustness": _robustness(model, images, labels, config, step),
        "settings": asdict(config),
    }
    return Report(metrics, proba, images, labels, model)


def model_info(model: Sequential | Ensemble, path: str | os.PathLike | None) -> dict[str, Any]:
    """What the report says about the model: architecture, size, training, provenance.

    For an :class:`~digitnet.nn.Ensemble` the layers are those of each member (the first
    one's), ``ensemble`` is the number of members and ``histories`` holds one training
    history per member.
    """
    meta = model.meta or {}
    members = getattr(model, "members", None)
    histories = (
        [m.get("history") or {} for m in meta.get("members", [])]
        if members
        else [meta.get("history") or {}]
    )
    histories = [h for h in histories if h.get("epochs")]
    first = histories[0] if len(histories) == 1 else {}
    return {
        "path": None if path is None else str(path),
        "preset": meta.get("preset"),
        "ensemble": len(members) if members else None,
        "layers": [
            {
                "index": i,
                "layer": describe(layer),
                "output_shape": list(layer.output_shape or ()),
                "parameters": int(sum(p.size for p in layer.params.values())),
            }
            for i, layer in enumerate(model.layers)
        ],
        "input_shape": list(model.input_shape or ()),
        "architecture": model.get_config(),
        "num_parameters": model.num_parameters(),
        "epochs_trained": [len(h["epochs"]) for h in histories],
        "best_epoch": first.get("best_epoch"),
        "stopped_early": first.get("stopped_early"),
        "train_seconds": (meta.get("history") or {}).get("train_seconds"),
        "wall_seconds": meta.get("wall_seconds"),
        "train_config": meta.get("train_config"),
        "data_checksums": (meta.get("data") or {}).get("checksums"),
        "train_size": (meta.get("data") or {}).get("train_size"),
        "val_size": (meta.get("data") or {}).get("val_size"),
        "recorded_test": meta.get("test"),
        "created": meta.get("created"),
        "digitnet_version": meta.get("digitnet_version"),
        "histories": histories,
    }


def mistakes(proba: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Every misclassified image, most confident mistake first.

    proba : (N, K); labels : (N,). Returns ``count`` and ``items`` (``index``, ``true``,
    ``predicted``, ``confidence``), JSON-ready.
    """
    confidence, correct = confidence_and_correct(proba, labels)
    wrong = np.flatnonzero(~correct)
    wrong = wrong[np.argsort(-confidence[wrong], kind="stable")]
    pred = proba.argmax(axis=1)
    return {
        "count": int(wrong.size),
        "items": [
            {
                "index": int(i),
                "true": int(labels[i]),
                "predicted": int(pred[i]),
                "confidence": float(confidence[i]),
            }
            for i in wrong
        ],
    }


def _robustness(
    model: Sequential | Ensemble,
    images: np.ndarray,
    labels: np.ndarray,
    config: ReportConfig,
    step: Callable[[], None],
) -> dict[str, Any]:
    """Robustness curves on a seeded subset of the test images."""
    subset_rng, transform_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(2)
    )
    n = len(labels)
    k = n if config.robustness_images is None else min(config.robustness_images, n)
    idx = np.arange(n) if k == n else np.sort(subset_rng.choice(n, size=k, replace=False))
    curves = robustness_curves(
        model, images[idx], labels[idx], rng=transform_rng, batch_size=config.batch_size, step=step
    )
    return {"images": k, "seed": config.seed, "curves": curves}


# -- writing ---------------------------------------------------------------------------------


def write_folder(report: Report, folder: Path) -> None:
    """Write every figure, ``metrics.json`` and ``index.html`` into ``folder``."""
    from digitnet.report.html import render_html

    drawn = draw_figures(report)
    for name, fig in drawn.items():
        figures.save_png(fig, folder / FIGURES[name])
    report.metrics["figures"] = {name: FIGURES[name] for name in drawn}
    text = json.dumps(report.metrics, indent=1, allow_nan=False)
    (folder / "metrics.json").write_text(text + "\n", encoding="utf-8")
    (folder / "index.html").write_text(render_html(report.metrics), encoding="utf-8")


def draw_figures(report: Report) -> dict[str, Any]:
    """Every figure the model allows, by name (see FIGURES); figures that do not apply
    (no training history, first layer not drawable) are left out."""
    m = report.metrics
    out = {}
    if m["model"]["histories"]:
        out["learning_curves"] = figures.plot_learning_curves(m["model"]["histories"])
    cm = np.array(m["test"]["confusion_matrix"])
    out["confusion_counts"] = figures.plot_confusion(cm, normalize=False)
    out["confusion_normalized"] = figures.plot_confusion(cm, normalize=True)
    out["per_class"] = figures.plot_per_class(m["test"])
    out["errors"] = _errors_figure(report)
    out["robustness"] = figures.plot_robustness(m["robustness"]["curves"])
    out["reliability"] = figures.plot_reliability(m["confidence"]["reliability"])
    confidence, correct = confidence_and_correct(report.proba, report.labels)
    out["coverage"] = figures.plot_coverage(
        coverage_curve(confidence, correct), m["confidence"]["reject_option"]
    )
    first = first_layer_weights(report.model)
    if first is not None:
        out["first_layer"] = figures.plot_first_layer(first)
    i = m["settings"]["example"]
    out["activations"] = figures.plot_activations(
        layer_activations(report.model, report.images[i]), report.proba[i], int(report.labels[i])
    )
    return out


def _errors_figure(report: Report):
    items = report.metrics["errors"]["items"][: report.metrics["settings"]["gallery"]]
    idx = np.array([it["index"] for it in items], dtype=np.int64)
    return figures.plot_errors(
        report.images[idx],
        report.labels[idx],
        report.proba[idx].argmax(axis=1),
        report.proba[idx].max(axis=1),
        report.metrics["errors"]["count"],
    )
