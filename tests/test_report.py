"""Evaluation reports: the folder, its figures, metrics.json, the look inside, safe writing,
and the CLI (end to end on real MNIST when the files are present)."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_cli

from digitnet.apps.cli import main
from digitnet.errors import ConfigError
from digitnet.evaluation.evaluate import evaluate
from digitnet.evaluation.inside import first_layer_weights, layer_activations
from digitnet.nn import Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU, Sequential
from digitnet.report import FIGURES, ReportConfig, write_report
from digitnet.report import build as report_build

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SMALL = ReportConfig(robustness_images=60, gallery=8)


def small_cnn() -> Sequential:
    """An untrained channels-last CNN, with no metadata (no training history)."""
    return Sequential(
        [
            Conv2D(6, 5, padding="same"),
            ReLU(),
            MaxPool2D(2),
            Conv2D(4, 3),
            ReLU(),
            Flatten(),
            Dropout(0.5),
            Dense(10),
        ],
        (28, 28, 1),
        np.random.default_rng(0),
    )


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) of a PNG, after checking that it decodes completely."""
    from PIL import Image

    assert path.read_bytes()[:8] == PNG_SIGNATURE, path
    with Image.open(path) as im:
        im.load()  # decodes every byte: truncation fails
        assert im.format == "PNG"
        return im.size


# -- the folder ------------------------------------------------------------------------------


def test_report_folder_holds_every_figure_as_a_valid_png(digits_report):
    names = sorted(p.name for p in digits_report.iterdir())
    assert names == sorted([*FIGURES.values(), "index.html", "metrics.json"])
    for file in FIGURES.values():
        width, height = png_size(digits_report / file)
        assert 400 <= width <= 2000 and 100 <= height <= 3000, (file, width, height)
        assert (digits_report / file).stat().st_size > 5000, file


def test_metrics_json_agrees_with_evaluate(digits_report, digits_mlp, digits_data):
    m = json.loads((digits_report / "metrics.json").read_text())
    plain = evaluate(digits_mlp, digits_data.test.images, digits_data.test.labels)
    assert m["test"] == plain
    assert m["format"] == "digitnet-report" and m["figures"] == FIGURES
    info = m["model"]
    assert info["num_parameters"] == digits_mlp.num_parameters() == 109386
    assert info["train_seconds"] == digits_mlp.meta["history"]["train_seconds"] > 0
    assert info["data_checksums"] == {"digits": "0" * 64} == m["data"]["checksums"]
    assert [r["layer"] for r in info["layers"]] == [
        "Flatten",
        "Dense 128",
        "ReLU",
        "Dense 64",
        "ReLU",
        "Dense 10",
    ]
    assert sum(r["parameters"] for r in info["layers"]) == info["num_parameters"]
    assert m["confidence"]["reject_option"][0]["accuracy"] == plain["accuracy"]
    for curve in m["robustness"]["curves"].values():
        assert curve["total"] == 150 and len(curve["accuracy"]) == len(curve["levels"])


def test_mistakes_are_all_listed_most_confident_first(digits_report, digits_mlp, digits_data):
    m = json.loads((digits_report / "metrics.json").read_text())
    items = m["errors"]["items"]
    assert m["errors"]["count"] == len(items) == m["test"]["total"] - m["test"]["correct"] > 0
    conf = [it["confidence"] for it in items]
    assert conf == sorted(conf, reverse=True)
    idx = np.array([it["index"] for it in items])
    pred = digits_mlp.predict(digits_data.test.images[idx].reshape(-1, 1, 28, 28) / 255.0)
    assert pred.tolist() == [it["predicted"] for it in items]
    assert all(
        it["predicted"] != it["true"] == digits_data.test.labels[it["index"]] for it in items
    )


class _Refs(HTMLParser):
    """Collects every src/href and the tags of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str]] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.refs += [(tag, v) for k, v in attrs if k in ("src", "href") and v]


def test_page_is_self_contained_and_states_the_model(digits_report):
    text = (digits_report / "index.html").read_text()
    parser = _Refs()
    parser.feed(text)
    imgs = [v for tag, v in parser.refs if tag == "img"]
    assert sorted(imgs) == sorted(FIGURES.values())
    for _, ref in parser.refs:
        assert ref.startswith("#") or (digits_report / ref).is_file(), ref
        assert "//" not in ref and ":" not in ref, ref  # no URL, no absolute path
    assert "script" not in parser.tags and "url(" not in text and "@import" not in text
    assert "109,386" in text  # parameter count
    assert "0" * 64 in text  # data checksum
    assert "training time" in text and "Dense 128" in text


def test_model_without_history_or_pixel_weights(tmp_path, digits_data):
    model = small_cnn()
    page = write_report(model, digits_data, tmp_path / "r", config=SMALL, progress=False)
    files = {p.name for p in page.parent.iterdir()}
    assert "learning_curves.png" not in files and "first_layer.png" in files
    assert "no training history" in page.read_text()
    m = json.loads((page.parent / "metrics.json").read_text())
    assert set(m["figures"]) == set(FIGURES) - {"learning_curves"}
    assert m["model"]["epochs_trained"] == [] and m["model"]["ensemble"] is None


def test_ensemble_report(tmp_path, digits_data):
    from digitnet.training.jobs import train_preset

    model = train_preset("relu-10", digits_data, seed=0, ensemble=2, epochs=2, progress=False)
    page = write_report(model, digits_data, tmp_path / "r", config=SMALL, progress=False)
    m = json.loads((page.parent / "metrics.json").read_text())
    assert m["test"] == evaluate(model, digits_data.test.images, digits_data.test.labels)
    info = m["model"]
    assert info["ensemble"] == 2 and info["epochs_trained"] == [2, 2]
    assert info["num_parameters"] == 2 * sum(r["parameters"] for r in info["layers"])
    assert set(m["figures"]) == set(FIGURES)  # both members' curves drawn
    assert "an ensemble of 2" in page.read_text()


# -- the look inside -------------------------------------------------------------------------


def test_first_layer_weights_as_images(digits_mlp):
    dense = first_layer_weights(digits_mlp)
    w = digits_mlp.layers[1].params["W"]  # (784, 128)
    assert dense.kind == "dense" and dense.index == 1 and dense.weights.shape == (128, 28, 28)
    assert np.array_equal(dense.weights[5], w[:, 5].reshape(28, 28))
    cnn = small_cnn()
    conv = first_layer_weights(cnn)
    assert conv.kind == "conv" and conv.weights.shape == (6, 5, 5)
    assert np.array_equal(conv.weights[2], cnn.layers[0].params["W"][:, :, 0, 2])
    hidden = Sequential([Flatten(), Dense(10)], (1, 14, 56), np.random.default_rng(0))
    assert first_layer_weights(hidden).weights.shape == (10, 14, 56)


def test_activations_follow_the_network_and_end_in_its_output(digits_data):
    cnn = small_cnn()
    image = digits_data.test.images[3]
    acts = layer_activations(cnn, image)
    assert [a.index for a in acts] == [-1, 0, 1, 2, 3, 4, 7]  # no Flatten, no Dropout
    assert acts[0].values.shape == (28, 28) and acts[1].values.shape == (28, 28, 6)
    assert acts[3].values.shape == (14, 14, 6) and acts[-1].name == "Dense 10"
    logits = cnn.predict_logits(image.reshape(1, 28, 28, 1) / np.float32(255))
    assert np.allclose(acts[-1].values, logits[0], rtol=1e-6, atol=1e-6)
    assert np.all(acts[2].values >= 0)  # after ReLU


# -- writing safely --------------------------------------------------------------------------


@pytest.fixture
def one_figure(monkeypatch):
    """Draw only the per-class chart: these tests are about the folder, not the figures."""

    def draw(report):
        return {"per_class": report_build.figures.plot_per_class(report.metrics["test"])}

    monkeypatch.setattr(report_build, "draw_figures", draw)


def test_refuses_folders_that_are_not_reports(tmp_path, digits_data, one_figure):
    model = small_cnn()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not empty and holds no digitnet report"):
        write_report(model, digits_data, mine, config=SMALL, progress=False)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    with pytest.raises(ConfigError, match="is a file"):
        write_report(model, digits_data, mine / "notes.txt", config=SMALL, progress=False)
    with pytest.raises(ConfigError, match="does not exist"):
        write_report(model, digits_data, tmp_path / "no" / "r", config=SMALL, progress=False)


def test_replaces_a_previous_report_and_leaves_no_temporary_files(
    tmp_path, digits_data, one_figure
):
    out = tmp_path / "r"
    write_report(small_cnn(), digits_data, out, config=SMALL, progress=False)
    (out / "stale.png").write_bytes(b"old")
    write_report(
        small_cnn(), digits_data, out, config=ReportConfig(robustness_images=30), progress=False
    )
    assert not (out / "stale.png").exists()
    assert json.loads((out / "metrics.json").read_text())["robustness"]["images"] == 30
    assert [p.name for p in tmp_path.iterdir()] == ["r"]


def test_a_failure_leaves_the_previous_report_untouched(
    tmp_path, digits_data, monkeypatch, one_figure
):
    out = tmp_path / "r"
    write_report(small_cnn(), digits_data, out, config=SMALL, progress=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def failing(metrics):  # the last step: figures and metrics.json are written
        raise OSError("disk full")

    monkeypatch.setattr("digitnet.report.html.render_html", failing)
    with pytest.raises(OSError, match="disk full"):
        write_report(small_cnn(), digits_data, out, config=SMALL, progress=False)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["r"]
    with pytest.raises(OSError, match="disk full"):  # and a new folder: none at all
        write_report(small_cnn(), digits_data, tmp_path / "new", config=SMALL, progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["r"]


@pytest.mark.parametrize(
    "setting,value,needle",
    [
        ("robustness_images", 0, "robustness_images=0"),
        ("gallery", -1, "gallery=-1"),
        ("calibration_bins", 0, "calibration_bins=0"),
        ("example", 300, "the split has 300"),
    ],
)
def test_invalid_settings_are_named(setting, value, needle, tmp_path, digits_data):
    config = ReportConfig(**{setting: value})
    with pytest.raises(ConfigError, match=needle):
        write_report(small_cnn(), digits_data, tmp_path / "r", config=config, progress=False)
    assert not (tmp_path / "r").exists()


# -- command line ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args,needle",
    [
        (["report", "missing.npz"], "model file missing.npz not found"),
        (["report", "m.npz", "--robustness-images", "0"], "expected a positive integer or 'all'"),
        (["report", "m.npz", "--out", "/no/such/dir/r"], "/no/such/dir does not exist"),
        (["evaluate", "m.npz", "--reject-below", "1.5"], "expected a number in [0, 1]"),
        (["train", "--report", "/no/such/dir/r"], "/no/such/dir does not exist"),
    ],
)
def test_cli_mistakes_are_one_line(args, needle, capsys):
    try:
        code = main(args)
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert code != 0 and needle in err and err.count("\n") == 1


@pytest.mark.mnist
def test_train_report_and_report_command_on_mnist(mnist_dir, tmp_path):
    """`train --report`, `report` and `evaluate --json` agree on a freshly trained model."""
    model, first, second = tmp_path / "m.npz", tmp_path / "r1", tmp_path / "r2"
    proc = run_cli(
        "train",
        "--preset",
        "relu-128-64",
        "--epochs",
        "1",
        "--data-dir",
        str(mnist_dir),
        "--out",
        str(model),
        "--report",
        str(first),
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["report"] == str(first / "index.html")
    proc = run_cli(
        "report",
        str(model),
        "--out",
        str(second),
        "--data-dir",
        str(mnist_dir),
        "--robustness-images",
        "500",
        "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    assert str(second / "index.html") in proc.stdout
    proc = run_cli(
        "evaluate", str(model), "--data-dir", str(mnist_dir), "--json", "--reject-below", "0.9"
    )
    assert proc.returncode == 0, proc.stderr
    cli = json.loads(proc.stdout)
    reject = cli.pop("reject_option")
    assert (cli.pop("model"), cli.pop("split")) == (str(model), "test")
    for folder in (first, second):
        m = json.loads((folder / "metrics.json").read_text())
        assert m["test"] == cli and cli["accuracy"] == result["test_accuracy"] > 0.9
        assert m["model"]["epochs_trained"] == [1] and m["model"]["num_parameters"] == 109386
        assert m["data"]["checksums"] == m["model"]["data_checksums"]
        assert reject in m["confidence"]["reject_option"]
        for file in FIGURES.values():
            png_size(folder / file)
    assert json.loads((second / "metrics.json").read_text())["robustness"]["images"] == 500
