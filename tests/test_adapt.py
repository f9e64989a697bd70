"""`digitnet adapt`: a samples folder (one sub-folder per digit) fine-tunes a model; its
metadata says what it was made from; bad folders are one line and write nothing."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from digitnet.errors import ConfigError
from digitnet.training.adapt import adapt, load_samples


def write_samples(root, images, labels, per_digit: int = 2) -> None:
    for d in range(10):
        (root / str(d)).mkdir(parents=True, exist_ok=True)
        for n, i in enumerate(np.flatnonzero(labels == d)[:per_digit]):
            Image.fromarray(255 - images[i]).save(root / str(d) / f"{n}.png")


def test_samples_are_read_like_predict_reads_images(tmp_path, digits_data):
    write_samples(tmp_path / "s", digits_data.test.images, digits_data.test.labels)
    images, labels, digest = load_samples(tmp_path / "s")
    assert images.shape == (20, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [2] * 10 and len(digest) == 64


def test_adapting_learns_the_samples_and_records_them(tmp_path, digits_data, digits_mlp):
    """A model adapted to 3 samples per digit of the test writers reads more of them, and
    its metadata holds the samples' count per digit and the settings."""
    test = digits_data.test
    write_samples(tmp_path / "s", test.images, test.labels, per_digit=3)
    images, labels, _ = load_samples(tmp_path / "s")
    before = (digits_mlp.predict(images.reshape(-1, 28, 28, 1) / np.float32(255)) == labels).mean()
    tuned = adapt(digits_mlp, images, labels, digits_data, replay=300, epochs=3, lr=1e-3)
    after = (tuned.predict(images.reshape(-1, 28, 28, 1) / np.float32(255)) == labels).mean()
    assert after >= before and after >= 0.9
    assert tuned.meta["adapt"]["per_digit"] == [3] * 10
    assert tuned.meta["adapt"]["samples"] == 30
    assert digits_mlp.layers[1].params["W"] is not tuned.layers[1].params["W"]  # a copy


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda r: None, "no such samples folder"),
        (lambda r: (r / "x").mkdir(parents=True), "not a digit folder"),
        (lambda r: (r / "3").mkdir(parents=True), "no sample of the digit 0"),
    ],
)
def test_bad_sample_folders_are_one_line(tmp_path, make, message):
    make(tmp_path / "s")
    with pytest.raises(ConfigError, match=message) as info:
        load_samples(tmp_path / "s")
    assert "\n" not in str(info.value)


def test_an_unreadable_sample_names_its_file(tmp_path, digits_data):
    write_samples(tmp_path / "s", digits_data.test.images, digits_data.test.labels, 1)
    (tmp_path / "s" / "4" / "bad.png").write_text("not an image")
    with pytest.raises(ConfigError, match="bad.png") as info:
        load_samples(tmp_path / "s")
    assert "\n" not in str(info.value)


@pytest.mark.mnist
def test_the_command_writes_nothing_on_failure_and_a_model_with_its_base(
    tmp_path, mnist_dir, digits_data
):
    from cli_helpers import run_cli

    out = tmp_path / "mine.npz"
    bad = run_cli(
        "adapt", str(tmp_path / "missing"), "--out", str(out), "--data-dir", str(mnist_dir)
    )
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1
    assert not out.exists()
    write_samples(tmp_path / "s", digits_data.test.images, digits_data.test.labels, 1)
    good = run_cli(
        "adapt",
        str(tmp_path / "s"),
        "--out",
        str(out),
        "--data-dir",
        str(mnist_dir),
        "--replay",
        "200",
        "--epochs",
        "1",
        "--quiet",
    )
    assert good.returncode == 0, good.stderr
    from digitnet.modelfile import load_model

    meta = load_model(out).meta
    assert meta["base_model"]["file"] == "digitnet-cnn.npz"
    assert len(meta["samples"]["sha256"]) == 64 and meta["adapt"]["samples"] == 10
    assert meta["test"]["accuracy"] > 0.98


def test_adapting_reports_progress_and_tunes_only_the_dense_head(digits_data):
    """A small CNN: the convolution's weights stay as they were, the dense head changes,
    and progress(done, total) climbs to its total."""
    from digitnet.nn import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential
    from digitnet.training.adapt import head_start

    model = Sequential(
        [Conv2D(4, 3), ReLU(), MaxPool2D(2), Flatten(), Dense(16), ReLU(), Dense(10)],
        (28, 28, 1),
        np.random.default_rng(0),
    )
    assert head_start(model) == 4
    test = digits_data.test
    seen = []
    tuned = adapt(
        model,
        test.images[:20],
        test.labels[:20],
        digits_data,
        replay=100,
        epochs=3,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert np.array_equal(tuned.layers[0].params["W"], model.layers[0].params["W"])
    assert not np.array_equal(tuned.layers[4].params["W"], model.layers[4].params["W"])
    totals = {t for _, t in seen}
    assert len(totals) == 1 and seen[-1][0] == seen[-1][1]
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
