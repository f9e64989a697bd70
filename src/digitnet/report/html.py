"""The report's ``index.html``: one static page with inline CSS, no scripts and no external
resources; the figures are PNG files beside it, referenced by relative paths, so the folder
opens from disk anywhere (no server, no internet).

Every value taken from the model or data is escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 1150px; padding: 0 1.2em 3em; color: #1d1d1d; line-height: 1.45; }
h1 { margin-bottom: .2em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
nav a { margin-right: 1em; } .lead { font-size: 1.15em; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: .92em; max-width: 900px; }
table { border-collapse: collapse; margin: .8em 0; font-size: .93em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: right; }
th { background: #f4f4f4; } td.l, th.l { text-align: left; }
pre { background: #f7f7f7; padding: .8em; overflow-x: auto; font-size: .85em; }
code { font-size: .92em; } .note { color: #8a5a00; }
"""

LEFT = ' class="l"'
SECTIONS = (
    ("model", "Model"),
    ("learning", "Learning curves"),
    ("confusion", "Confusion matrix"),
    ("per-class", "Per-digit metrics"),
    ("errors", "Mistakes"),
    ("robustness", "Robustness"),
    ("confidence", "Confidence"),
    ("inside", "Inside the network"),
)


def render_html(m: dict[str, Any]) -> str:
    """The page for report metrics ``m`` (the content of metrics.json, with ``figures``
    mapping figure names to file names)."""
    parts = [
        _header(m),
        _model_section(m),
        _learning_section(m),
        _confusion_section(m),
        _per_class_section(m),
        _errors_section(m),
        _robustness_section(m),
        _confidence_section(m),
        _inside_section(m),
    ]
    title = escape(f"digitnet report: {_model_name(m)}")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        + "\n".join(parts)
        + "\n</body>\n</html>\n"
    )


# -- building blocks -------------------------------------------------------------------------


def _model_name(m: dict[str, Any]) -> str:
    model = m["model"]
    return model["path"] or (f"preset {model['preset']}" if model["preset"] else "model")


def table(headers: Sequence[str] | None, rows: Iterable[Sequence[Any]], left: int = 1) -> str:
    """An HTML table (no header row when ``headers`` is None); the first ``left`` columns
    are left-aligned; cells are escaped."""

    def cells(tag: str, values: Sequence[Any]) -> str:
        return "".join(
            f"<{tag}{LEFT if i < left else ''}>{escape(str(v))}</{tag}>"
            for i, v in enumerate(values)
        )

    head = "" if headers is None else f"<tr>{cells('th', headers)}</tr>\n"
    body = "".join(f"<tr>{cells('td', r)}</tr>\n" for r in rows)
    return f"<table>\n{head}{body}</table>"


def figure(m: dict[str, Any], name: str, alt: str, caption_html: str) -> str:
    """An ``<img>`` of figure ``name`` with its caption (HTML: escape what goes in it), or
    the caption alone as a note when the figure was not drawn."""
    file = m.get("figures", {}).get(name)
    if file is None:
        return f'<p class="note">{caption_html}</p>'
    return (
        f'<figure><img src="{escape(file)}" alt="{escape(alt)}" loading="eager">'
        f"<figcaption>{caption_html}</figcaption></figure>"
    )


def section(key: str, body: str) -> str:
    heading = dict(SECTIONS)[key]
    return f'<section id="{key}">\n<h2>{escape(heading)}</h2>\n{body}\n</section>'


def _pct(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{100 * x:.{digits}f}%"


def _seconds(s: float | None) -> str:
    if s is None:
        return "not recorded"
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min ({s:.0f} s)"


# -- sections --------------------------------------------------------------------------------


def _header(m: dict[str, Any]) -> str:
    t = m["test"]
    nav = " ".join(f'<a href="#{k}">{escape(v)}</a>' for k, v in SECTIONS)
    return (
        f'<header>\n<h1>digitnet report</h1>\n<p class="lead">{escape(_model_name(m))}: '
        f"<strong>{_pct(t['accuracy'])}</strong> accuracy on the {t['total']:,} MNIST "
        f"test images ({t['correct']:,} correct), macro F1 {t['macro_f1']:.4f}, expected "
        f"calibration error {_pct(m['confidence']['ece'])}.</p>\n"
        f"<p>Generated {escape(m['created'])} by digitnet {escape(m['digitnet_version'])}"
        f'; every number is also in <a href="metrics.json">metrics.json</a>.</p>\n'
        f"<nav>{nav}</nav>\n</header>"
    )


def _model_section(m: dict[str, Any]) -> str:
    info = m["model"]
    cfg = info["train_config"] or {}
    rows = [
        ("file", info["path"] or "(not saved)"),
        ("preset", info["preset"] or "—"),
        (
            "networks",
            f"an ensemble of {info['ensemble']} averaging their probabilities "
            "(the architecture below is each member's)"
            if info["ensemble"]
            else "one",
        ),
        ("parameters", f"{info['num_parameters']:,}"),
        ("epochs trained", _epochs_text(info)),
        (
            "training images",
            "not recorded"
            if info["train_size"] is None
            else f"{info['train_size']:,} (validation {info['val_size']:,})",
        ),
        ("training time", _seconds(info["train_seconds"])),
        ("wall time (training + evaluation)", _seconds(info["wall_seconds"])),
        (
            "training settings",
            ", ".join(f"{k}={v}" for k, v in cfg.items() if v is not None) or "not recorded",
        ),
        ("trained", info["created"] or "—"),
        ("saved by digitnet", info["digitnet_version"] or "—"),
    ]
    layers = [
        (r["index"], r["layer"], "×".join(map(str, r["output_shape"])), f"{r['parameters']:,}")
        for r in info["layers"]
    ]
    per_network = sum(r["parameters"] for r in info["layers"])
    layers.append(
        ("", "total per network" if info["ensemble"] else "total", "", f"{per_network:,}")
    )
    shape = "×".join(map(str, info["input_shape"]))
    body = (
        table(None, rows, left=2)
        + f"\n<h3>Architecture</h3>\n<p>Input {shape}.</p>\n"
        + table(("layer", "", "output shape", "parameters"), layers, left=2)
        + "\n<h3>Data</h3>\n"
        + _checksums(m)
    )
    return section("model", body)


def _epochs_text(info: dict[str, Any]) -> str:
    counts = info["epochs_trained"]
    if not counts:
        return "not recorded"
    if len(counts) > 1:
        return "per member: " + ", ".join(map(str, counts))
    text = (
        f"{counts[0]} (weights kept from epoch {info['best_epoch']}, the best on validation)"
        if info["best_epoch"]
        else str(counts[0])
    )
    return text + (", stopped early" if info["stopped_early"] else "")


def _checksums(m: dict[str, Any]) -> str:
    trained = m["model"]["data_checksums"] or {}
    used = m["data"]["checksums"]
    names = sorted(set(trained) | set(used))
    if not names:
        return "<p>No data checksums recorded.</p>"
    rows = [(n, trained.get(n, "not recorded"), _same(trained.get(n), used.get(n))) for n in names]
    return (
        f"<p>SHA-256 of the MNIST files (decompressed) the model was trained on; this "
        f"report evaluates the test files in <code>{escape(m['data']['data_dir'])}</code>."
        f"</p>\n" + table(("file", "SHA-256 at training", "files used here"), rows, 3)
    )


def _same(a: str | None, b: str | None) -> str:
    if b is None:
        return "—"
    return "same" if a == b else f"differ: {b}"


def _learning_section(m: dict[str, Any]) -> str:
    caption = (
        "Left: mean training loss over each epoch and validation loss after it "
        "(log scale). Right: validation accuracy after each epoch, with the number "
        "of correctly classified validation images on the right axis; the dotted line "
        "marks the epoch whose weights were kept."
    )
    if "learning_curves" not in m.get("figures", {}):
        caption = "This model file holds no training history, so there are no learning curves."
    return section("learning", figure(m, "learning_curves", "learning curves", caption))


def _confusion_section(m: dict[str, Any]) -> str:
    return section(
        "confusion",
        figure(
            m,
            "confusion_counts",
            "confusion matrix with counts",
            "Rows are the true digit, columns the predicted one; off-diagonal cells are "
            "mistakes. Colours are on a log scale so single mistakes are visible.",
        )
        + figure(
            m,
            "confusion_normalized",
            "row-normalised confusion matrix",
            "The same, as a percentage of each true digit: the diagonal is each digit's recall.",
        ),
    )


def _per_class_section(m: dict[str, Any]) -> str:
    t = m["test"]
    rows = [
        (d, f"{p:.4f}", f"{r:.4f}", f"{f:.4f}", f"{s:,}")
        for d, (p, r, f, s) in enumerate(
            zip(t["precision"], t["recall"], t["f1"], t["support"], strict=True)
        )
    ]
    rows.append(
        (
            "macro average",
            f"{t['macro_precision']:.4f}",
            f"{t['macro_recall']:.4f}",
            f"{t['macro_f1']:.4f}",
            f"{t['total']:,}",
        )
    )
    return section(
        "per-class",
        table(("digit", "precision", "recall", "F1", "support"), rows)
        + figure(
            m,
            "per_class",
            "per-digit precision, recall and F1",
            "Precision: of the images predicted as the digit, the share that are it. Recall: of "
            "the images of the digit, the share found. F1: their harmonic mean.",
        ),
    )


def _errors_section(m: dict[str, Any]) -> str:
    e = m["errors"]
    return section(
        "errors",
        f"<p>{e['count']:,} of the {m['test']['total']:,} test images "
        "are misclassified. Most confident mistakes first, each with its true "
        "digit, the digit the model said and its confidence; their indices in the "
        "test set are in metrics.json.</p>\n"
        + figure(
            m,
            "errors",
            "gallery of misclassified test images",
            "Some are ambiguous or mislabelled; others are clear mistakes.",
        ),
    )


def _robustness_section(m: dict[str, Any]) -> str:
    r = m["robustness"]
    curves = r["curves"]
    rows = [
        (
            c["label"],
            " · ".join(
                f"{lv:g}: {_pct(a, 1)}" for lv, a in zip(c["levels"], c["accuracy"], strict=True)
            ),
        )
        for c in curves.values()
    ]
    intro = (
        f"<p>Accuracy on {r['images']:,} test images (a random subset, seed "
        f"{r['seed']}) as they are distorted more and more: rotated by the angle in a "
        "random direction, moved by whole pixels up, down, left or right, blurred with a "
        "Gaussian, and with Gaussian noise added (pixel values 0-1, clipped). The first "
        "point of each curve is the undistorted accuracy on that subset.</p>"
    )
    return section(
        "robustness",
        intro
        + figure(
            m,
            "robustness",
            "robustness curves",
            "Accuracy against the strength of each distortion; the dotted line is chance (10%).",
        )
        + table(("distortion", "accuracy at each strength"), rows, left=2),
    )


def _confidence_section(m: dict[str, Any]) -> str:
    c = m["confidence"]
    rows = [
        (
            f"{r['threshold']:g}",
            _pct(r["coverage"]),
            f"{r['answered']:,}",
            f"{r['rejected']:,}",
            _pct(r["accuracy"]),
        )
        for r in c["reject_option"]
    ]
    body = (
        figure(
            m,
            "reliability",
            "reliability diagram",
            f"Predictions grouped by confidence (the largest class probability): in a "
            f"calibrated model each bar reaches the diagonal. Expected calibration error "
            f"{_pct(c['ece'])}; mean confidence {_pct(c['mean_confidence'])} against "
            f"accuracy {_pct(m['test']['accuracy'])}.",
        )
        + figure(
            m,
            "coverage",
            "accuracy against coverage",
            "If the model answers “not sure” below a confidence threshold, it answers "
            "fewer images but gets more of them right. "
            "<code>digitnet evaluate --reject-below P</code> applies such a threshold.",
        )
        + table(
            (
                "answer when confidence ≥",
                "coverage",
                "answered",
                "not sure",
                "accuracy on the answered",
            ),
            rows,
        )
    )
    return section("confidence", body)


def _inside_section(m: dict[str, Any]) -> str:
    example = m["settings"]["example"]
    n = m["model"]["ensemble"]
    which = (
        f" (the first of the {n} member networks; the probabilities are the ensemble's)"
        if n
        else ""
    )
    first = (
        "The first layer's weights drawn as images: what each unit or filter responds "
        "to (red: the unit is excited by ink there, blue: inhibited)."
        if "first_layer" in m.get("figures", {})
        else "The first weighted layer does not read the image pixels directly, so its "
        "weights are not drawn as images."
    ) + (" First member network." if n else "")
    return section(
        "inside",
        figure(m, "first_layer", "first-layer weights", first)
        + figure(
            m,
            "activations",
            "activations of each layer",
            f"Test image {example} going through the network{which}: the output of every layer "
            "(Flatten and Dropout, which only pass values on at inference, are not drawn); "
            "feature maps are shown channel by channel, vectors one cell per unit (red positive, "
            "blue negative, or dark to bright for non-negative maps).",
        ),
    )
