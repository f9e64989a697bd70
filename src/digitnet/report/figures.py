"""The report's figures, drawn with matplotlib.

Each ``plot_*`` function takes plain numbers (the JSON-ready dicts the report computes, or
small arrays) and returns a :class:`matplotlib.figure.Figure`. Figures are built directly, not
through pyplot, so no display or backend switch is needed; :func:`save_png` renders them with
Agg.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from digitnet.evaluation.inside import Activation, FirstLayer

DPI = 100
TRAIN_COLOUR, VAL_COLOUR, ACC_COLOUR = "#1f77b4", "#d62728", "#2ca02c"


def new_figure(width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches with constrained layout and an Agg canvas."""
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Figure, path: str | os.PathLike) -> None:
    """Render ``fig`` to a PNG file at ``path``."""
    fig.savefig(path, format="png", dpi=DPI, facecolor="white")


# -- learning curves -------------------------------------------------------------------------


def plot_learning_curves(histories: list[dict[str, Any]]) -> Figure:
    """Train/validation loss and validation accuracy per epoch.

    ``histories`` holds one training history per network (``model.meta["history"]``; one per
    member for an ensemble), each with ``epochs`` (records with ``epoch``, ``train_loss``
    and, with a validation set, ``val_loss``, ``val_accuracy``, ``val_correct``,
    ``val_total``) and ``best_epoch``.
    """
    fig = new_figure(11, 4.2)
    loss_ax, acc_ax = fig.subplots(1, 2)
    single = len(histories) == 1
    has_val = all("val_accuracy" in r for h in histories for r in h["epochs"])
    for n, h in enumerate(histories):
        epochs = [r["epoch"] for r in h["epochs"]]
        tag = "" if single else ", one line per network"
        alpha = 1.0 if single else 0.75
        loss_ax.plot(
            epochs,
            [r["train_loss"] for r in h["epochs"]],
            "o-",
            ms=3,
            alpha=alpha,
            color=TRAIN_COLOUR,
            label=f"training loss{tag}" if n < 1 else None,
        )
        if has_val:
            loss_ax.plot(
                epochs,
                [r["val_loss"] for r in h["epochs"]],
                "o-",
                ms=3,
                alpha=alpha,
                color=VAL_COLOUR,
                label=f"validation loss{tag}" if n < 1 else None,
            )
            _plot_val_accuracy(acc_ax, h["epochs"], h.get("best_epoch") if single else None)
    loss_ax.set(
        xlabel="epoch",
        ylabel="loss",
        yscale="log",
        title="Loss per epoch (log scale)" + ("" if single else f", {len(histories)} networks"),
    )
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    loss_ax.yaxis.set_major_formatter(plain)
    loss_ax.yaxis.set_minor_formatter(plain)
    loss_ax.legend()
    if not has_val:
        acc_ax.text(
            0.5, 0.5, "no validation set in this run", ha="center", transform=acc_ax.transAxes
        )
        acc_ax.set_axis_off()
    best = histories[0].get("best_epoch") if single and has_val else None
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        if best is not None:
            ax.axvline(best, color="grey", ls=":", lw=1)
    return fig


def _plot_val_accuracy(ax, records: list[dict[str, Any]], best: int | None) -> None:
    """Validation accuracy in percent, with the seeds' "correct out of N" on a second axis."""
    epochs = [r["epoch"] for r in records]
    acc = [100 * r["val_accuracy"] for r in records]
    ax.plot(epochs, acc, "o-", color=ACC_COLOUR, ms=3, alpha=0.75 if ax.lines else 1.0)
    total = records[0]["val_total"]
    if not ax.child_axes:  # the seeds' count axis, added once
        right = ax.secondary_yaxis(
            "right", functions=(lambda p: p * total / 100, lambda c: c * 100 / total)
        )
        right.set_ylabel(f"correctly classified (out of {total:,})")
    ax.set(xlabel="epoch", ylabel="validation accuracy (%)", title="Validation accuracy")
    if best is not None:
        r = records[epochs.index(best)]
        ax.set_title(
            f"Validation accuracy: best {r['val_accuracy']:.2%} "
            f"({r['val_correct']:,} / {total:,}) at epoch {best}"
        )
        ax.annotate(
            "kept",
            (best, 100 * r["val_accuracy"]),
            textcoords="offset points",
            xytext=(0, -14),
            ha="center",
            fontsize=8,
            color="grey",
        )


# -- confusion matrix, per-class metrics -----------------------------------------------------


def plot_confusion(cm: np.ndarray, *, normalize: bool) -> Figure:
    """Confusion-matrix heatmap, rows = true digit, columns = predicted digit.

    cm : (K, K) counts. With ``normalize`` each row is divided by its total (so the diagonal
    is each digit's recall) and cells show percentages. The colour scale is logarithmic so
    that the few mistakes stand out next to the large diagonal; empty cells stay white.
    """
    cm = np.asarray(cm, dtype=np.float64)
    k = cm.shape[0]
    values = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    shown = np.ma.masked_equal(values, 0)
    positive = values[values > 0]
    vmin = positive.min() if positive.size else 1
    norm = LogNorm(vmin=vmin, vmax=max(values.max(), vmin * 10))
    fig = new_figure(7.2, 6.2)
    ax = fig.subplots()
    image = ax.imshow(shown, cmap="viridis", norm=norm)
    cbar = fig.colorbar(image, ax=ax, shrink=0.85)
    if normalize:
        cbar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{100 * v:g}%"))
    cbar.set_label(
        "share of the true digit's images (log scale)" if normalize else "images (log scale)"
    )
    cmap = colormaps["viridis"]
    for i, j in zip(*np.nonzero(values), strict=True):
        text = f"{100 * values[i, j]:.1f}" if normalize else f"{int(values[i, j])}"
        r, g, b, _ = cmap(norm(values[i, j]))
        colour = "black" if 0.3 * r + 0.59 * g + 0.11 * b > 0.5 else "white"
        ax.text(j, i, text, ha="center", va="center", fontsize=8, color=colour)
    ax.set(
        xticks=range(k),
        yticks=range(k),
        xlabel="predicted digit",
        ylabel="true digit",
        title="Confusion matrix, % of each true digit (rows sum to 100)"
        if normalize
        else f"Confusion matrix, counts ({int(cm.sum()):,} test images)",
    )
    return fig


def plot_per_class(metrics: dict[str, Any]) -> Figure:
    """Per-digit precision, recall and F1 as grouped bars, with the macro averages.

    ``metrics`` is :func:`digitnet.evaluation.evaluate.evaluate`'s result.
    """
    k = len(metrics["precision"])
    x = np.arange(k)
    fig = new_figure(11, 4.4)
    ax = fig.subplots()
    series = (("precision", "#1f77b4"), ("recall", "#ff7f0e"), ("f1", "#2ca02c"))
    for n, (key, colour) in enumerate(series):
        ax.bar(
            x + (n - 1) * 0.27,
            metrics[key],
            0.27,
            color=colour,
            label=f"{key if key != 'f1' else 'F1'} (macro {metrics['macro_' + key]:.4f})",
        )
    low = min(min(metrics[key]) for key, _ in series)
    ax.set_ylim(max(0.0, math.floor((low - 0.01) * 50) / 50), 1.0)
    ax.set_xticks(x, [f"{c}\nn={s:,}" for c, s in enumerate(metrics["support"])])
    ax.axhline(metrics["macro_f1"], color="#2ca02c", ls="--", lw=1)
    ax.set(
        xlabel="digit (test images)",
        ylabel="score",
        title="Per-digit precision, recall and F1 (dashed: macro F1)",
    )
    fig.legend(loc="outside lower center", ncols=3)
    ax.grid(axis="y", alpha=0.3)
    return fig


# -- mistakes --------------------------------------------------------------------------------


def mosaic(tiles: np.ndarray, columns: int, gap: tuple[int, int] = (1, 1)) -> np.ndarray:
    """Tiles (K, h, w) laid out row by row, ``columns`` a row, separated by ``gap`` (rows,
    columns) of NaN (drawn as background). Returns (R*(h+gy), C*(w+gx)) float with R the
    number of rows; each tile's top-left corner is at (r*(h+gy) + gy, c*(w+gx))."""
    k, h, w = tiles.shape
    gy, gx = gap
    rows = max(1, math.ceil(k / columns))
    out = np.full((rows * (h + gy), columns * (w + gx)), np.nan)
    for i in range(k):  # one slice assignment per tile: a few dozen, not per pixel
        r, c = divmod(i, columns)
        out[r * (h + gy) + gy : (r + 1) * (h + gy), c * (w + gx) : c * (w + gx) + w] = tiles[i]
    return out


def _cmap(name: str):
    """A colormap whose NaN cells (mosaic gaps) are white."""
    return colormaps[name].with_extremes(bad="white")


def plot_errors(
    images: np.ndarray,
    true: np.ndarray,
    pred: np.ndarray,
    confidence: np.ndarray,
    total_errors: int,
    columns: int = 10,
) -> Figure:
    """A gallery of misclassified images, in the order given (most confident first).

    images : (M, 28, 28); true, pred : (M,) digits; confidence : (M,) probability of the
    predicted digit; total_errors : how many mistakes there are in all (for the title).
    """
    m = len(images)
    columns = max(1, min(columns, m))
    h, w = images.shape[1:] if m else (28, 28)
    rows = max(1, math.ceil(m / columns))
    fig = new_figure(max(6.0, 1.25 * columns + 0.2), 1.5 * rows + 0.5)
    ax = fig.subplots()
    ax.set_axis_off()
    scale = 255.0 if m and images.max() > 1 else 1.0
    ax.imshow(
        mosaic(np.asarray(images, np.float64) / scale, columns, (14, 4)),
        cmap=_cmap("gray_r"),
        vmin=0,
        vmax=1,
        interpolation="nearest",
    )
    for i in range(m):
        r, c = divmod(i, columns)
        ax.text(
            c * (w + 4) + w / 2,
            r * (h + 14) + 13,
            f"true {true[i]}, said {pred[i]}\n{confidence[i]:.1%}",
            ha="center",
            va="bottom",
            fontsize=8,
            color="#b00000",
        )
    fig.suptitle(
        f"The {m} most confident of the {total_errors:,} misclassified test images"
        if m
        else f"{total_errors:,} misclassified test images (none shown)"
    )
    return fig


# -- robustness ------------------------------------------------------------------------------


def plot_robustness(curves: dict[str, dict[str, Any]]) -> Figure:
    """Accuracy against the strength of each perturbation, one panel per family.

    ``curves`` is :func:`digitnet.report.robustness.robustness_curves`'s result.
    """
    names = list(curves)
    cols = 2
    rows = math.ceil(len(names) / cols)
    fig = new_figure(10, 3.4 * rows)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, name in zip(axes, names, strict=False):
        c = curves[name]
        acc = [100 * a for a in c["accuracy"]]
        ax.plot(c["levels"], acc, "o-", color="#1f77b4", ms=4)
        for level, a in zip(c["levels"][::2], acc[::2], strict=True):
            ax.annotate(
                f"{a:.1f}",
                (level, a),
                textcoords="offset points",
                xytext=(0, 6),
                ha="center",
                fontsize=7,
            )
        ax.axhline(10, color="grey", ls=":", lw=1)
        ax.set(
            ylim=(0, 105), xlabel=c["label"], ylabel="accuracy (%)", title=f"{name.capitalize()}"
        )
        ax.grid(alpha=0.3)
    for ax in axes[len(names) :]:
        ax.set_axis_off()
    total = next(iter(curves.values()))["total"] if curves else 0
    fig.suptitle(f"Accuracy on {total:,} distorted test images (dotted: chance, 10%)")
    return fig


# -- confidence ------------------------------------------------------------------------------


def plot_reliability(rel: dict[str, Any]) -> Figure:
    """Reliability diagram: accuracy against mean confidence per confidence bin, with the
    number of predictions per bin below; ``rel`` is
    :func:`digitnet.evaluation.confidence.reliability`'s result. Empty bins are not drawn."""
    edges = np.asarray(rel["edges"])
    count = np.asarray(rel["count"])
    used = count > 0
    left, width = edges[:-1][used], np.diff(edges)[used]
    acc, conf = np.asarray(rel["accuracy"])[used], np.asarray(rel["confidence"])[used]
    fig = new_figure(6.5, 7)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    top.bar(
        left,
        acc,
        width,
        align="edge",
        color="#1f77b4",
        edgecolor="white",
        label="accuracy in the bin",
    )
    top.bar(
        left,
        conf - acc,
        width,
        bottom=acc,
        align="edge",
        facecolor=(0.84, 0.15, 0.16, 0.25),
        edgecolor="#d62728",
        hatch="//",
        lw=0.8,
        label="gap to its mean confidence",
    )
    top.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    top.set(
        xlim=(0, 1),
        ylim=(0, 1),
        ylabel="accuracy",
        title=f"Reliability diagram: expected calibration error {rel['ece']:.2%}",
    )
    top.legend(loc="upper left")
    bottom.bar(left, count[used], width, align="edge", color="grey", edgecolor="white", log=True)
    bottom.set(xlabel="confidence (largest class probability)", ylabel="predictions")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    return fig


def plot_coverage(curve: dict[str, np.ndarray], table: list[dict[str, Any]]) -> Figure:
    """Accuracy on the answered images against coverage when the model may say "not sure".

    ``curve`` is :func:`digitnet.evaluation.confidence.coverage_curve`'s result; ``table`` holds
    :func:`digitnet.evaluation.confidence.selective` results at a few thresholds, marked on
    the curve.
    """
    fig = new_figure(7.5, 5)
    ax = fig.subplots()
    cov, acc = 100 * np.asarray(curve["coverage"]), 100 * np.asarray(curve["accuracy"])
    ax.plot(cov, acc, color="#1f77b4", lw=1.5)
    marked = [r for r in table if r["answered"] and 0 < r["threshold"] < 1]
    for r in marked:
        x, y = 100 * r["coverage"], 100 * r["accuracy"]
        ax.plot(x, y, "o", color="#d62728", ms=4)
        ax.annotate(
            f"{r['threshold']:g}",
            (x, y),
            textcoords="offset points",
            xytext=(-5, -11),
            ha="right",
            fontsize=8,
            color="#d62728",
        )
    full = acc[-1] if acc.size else 0.0
    left = min([100.0] + [100 * r["coverage"] for r in marked])
    ax.set(
        xlim=(max(0.0, left - 5), 100.5),
        ylim=(max(0.0, full - 0.6 * (100 - full) - 0.2), 100.1 + 0.05 * (100 - full)),
        xlabel="coverage: images answered (%)",
        ylabel="accuracy on the answered (%)",
        title="Answering only when the confidence reaches a threshold (red: thresholds)",
    )
    ax.grid(alpha=0.3)
    return fig


# -- inside the network ----------------------------------------------------------------------


def plot_first_layer(first: FirstLayer, limit: int = 64) -> Figure:
    """The first layer's weights as images (at most ``limit``), red positive and blue
    negative, each on its own symmetric scale."""
    weights = first.weights[:limit].astype(np.float64)
    k, h, w = weights.shape
    scale = np.abs(weights).max(axis=(1, 2), keepdims=True)  # (K, 1, 1)
    tiles = weights / np.where(scale > 0, scale, 1.0)  # each in [-1, 1]
    cols = min(16 if first.kind == "dense" else 8, k)
    rows = math.ceil(k / cols)
    cell = 0.75 if first.kind == "dense" else 1.0
    fig = new_figure(cell * cols + 0.4, cell * rows + 0.7)
    ax = fig.subplots()
    gap = max(1, h // 8)
    ax.imshow(
        mosaic(tiles, cols, (gap, gap)),
        cmap=_cmap("RdBu_r"),
        vmin=-1,
        vmax=1,
        interpolation="nearest",
    )
    ax.set_axis_off()
    what = "units' weights over the input image" if first.kind == "dense" else f"{h}x{w} filters"
    total = len(first.weights)
    shown = f"the first {k} of {total}" if k < total else f"all {k}"
    fig.suptitle(f"Layer {first.index}: {shown} {what} (red +, blue \u2212)")
    return fig


def plot_activations(
    acts: list[Activation], proba: np.ndarray, label: int, channels: int = 32
) -> Figure:
    """One example through the network: the input, each layer's output (feature maps: up to
    ``channels`` channels, 16 a row; vectors: one cell per unit, 64 a row) and the class
    probabilities. Values are red positive, blue negative, white zero, each layer on its own
    symmetric scale.

    acts : from :func:`digitnet.evaluation.inside.layer_activations`; proba : (K,); label: the
    true digit.
    """
    heights = [_activation_height(a, channels) for a in acts] + [1.8]
    fig = new_figure(11, sum(heights) + 0.5)
    subs = fig.subfigures(len(acts) + 1, 1, height_ratios=heights)
    for sub, act in zip(subs, acts, strict=False):
        _draw_activation(sub, act, channels)
    ax = subs[-1].subplots()
    bars = ax.bar(range(len(proba)), proba, color="#1f77b4")
    bars[int(np.argmax(proba))].set_color("#d62728")
    for k, p in enumerate(proba):
        if p >= 0.005:
            ax.text(k, p + 0.02, f"{p:.1%}", ha="center", fontsize=8)
    ax.set(
        xticks=range(len(proba)),
        ylim=(0, 1.15),
        xlabel="digit",
        ylabel="probability",
        title=f"Output: says {int(np.argmax(proba))} ({proba.max():.1%}); true digit {label}",
    )
    fig.suptitle("Activations of each layer for one test image")
    return fig


MAPS_PER_ROW, UNITS_PER_ROW, WIDE_CELLS = 16, 64, 16


def _activation_height(act: Activation, channels: int) -> float:
    """Inches of figure height for one layer's row."""
    v = act.values
    if act.index < 0:
        return 1.6
    if v.ndim == 3:
        return 0.35 + 0.68 * math.ceil(min(channels, v.shape[2]) / MAPS_PER_ROW)
    if v.size <= WIDE_CELLS:
        return 0.95
    return 0.4 + 0.17 * math.ceil(v.size / UNITS_PER_ROW)


def _draw_activation(sub, act: Activation, channels: int) -> None:
    """Draw one layer's output into a subfigure: an image, channel maps, or a strip."""
    v = act.values
    title = f"{'input' if act.index < 0 else f'layer {act.index}: {act.name}'}  {v.shape}"
    if act.index < 0:
        ax = sub.subplots()
        ax.imshow(v, cmap="gray_r", vmin=0, vmax=1)
        ax.set_axis_off()
    elif v.ndim == 3:
        title += _draw_maps(sub, v, channels)
    else:
        _draw_units(sub.subplots(), v.ravel())
    sub.suptitle(title, fontsize=9, x=0.01, ha="left")


def _draw_maps(sub, v: np.ndarray, channels: int) -> str:
    """Channel maps of (H, W, C) activations, 16 a row; returns a note for the title."""
    n = min(channels, v.shape[2])
    tiles = np.moveaxis(v[:, :, :n], -1, 0).astype(np.float64)  # (n, H, W)
    scale = float(np.abs(v).max()) or 1.0
    ax = sub.subplots()
    gap = max(1, v.shape[0] // 7)
    ax.imshow(
        mosaic(tiles, MAPS_PER_ROW, (gap, gap)),
        cmap=_cmap("RdBu_r"),
        vmin=-scale,
        vmax=scale,
        interpolation="nearest",
    )
    ax.set_axis_off()
    return f", first {n} of {v.shape[2]} channels" if n < v.shape[2] else ""


def _draw_units(ax, v: np.ndarray) -> None:
    """A (D,) vector as cells, 64 a row; a short one (<= 16) as wide cells with values."""
    scale = float(np.abs(v).max()) or 1.0
    ax.set_axis_off()
    if v.size <= WIDE_CELLS:
        ax.imshow(v[None, :], cmap="RdBu_r", vmin=-scale, vmax=scale, aspect="auto")
        for i, x in enumerate(v):
            ax.text(
                i,
                0,
                f"{i}: {x:.2f}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if abs(x) > 0.6 * scale else "black",
            )
        return
    cells = np.full(math.ceil(v.size / UNITS_PER_ROW) * UNITS_PER_ROW, np.nan)
    cells[: v.size] = v
    ax.imshow(
        cells.reshape(-1, UNITS_PER_ROW),
        cmap="RdBu_r",
        vmin=-scale,
        vmax=scale,
        interpolation="nearest",
        aspect="equal",
    )


# -- augmentation preview --------------------------------------------------------------------


def plot_augment_preview(grid: np.ndarray, settings: dict[str, float]) -> Figure:
    """Originals (first column, framed) next to their random distortions.

    grid : (K, 1 + P, H, W) from :func:`digitnet.data.augment.preview`.
    """
    k, cols, h, w = grid.shape
    fig = new_figure(1.0 + 0.75 * cols, 0.8 + 0.75 * k)
    ax = fig.add_subplot()
    ax.imshow(
        mosaic(grid.reshape(k * cols, h, w), cols, gap=(2, 2)),
        cmap=_cmap("gray_r"),
        vmin=0,
        vmax=1,
        interpolation="nearest",
    )
    for r in range(k):  # frame the originals
        ax.add_patch(_frame(r * (h + 2) + 2 - 0.5, -0.5, h, w))
    ax.set_xticks(
        [w / 2 + c * (w + 2) for c in range(cols)],
        ["original"] + [f"#{c}" for c in range(1, cols)],
        fontsize=8,
    )
    ax.set_yticks([])
    shown = {k: v for k, v in settings.items() if v}
    if not shown.get("elastic_alpha"):
        shown.pop("elastic_sigma", None)  # the smoothing of a distortion that is off
    text = ", ".join(f"{name} {value:g}" for name, value in shown.items())
    ax.set_title(f"What the network is trained on: {text or 'no distortion'}", fontsize=9)
    return fig


def _frame(top: float, left: float, h: int, w: int):
    from matplotlib.patches import Rectangle

    return Rectangle((left, top), w, h, fill=False, edgecolor=ACC_COLOUR, linewidth=1.5)
