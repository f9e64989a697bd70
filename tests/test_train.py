"""The training loop: determinism, divergence, early stopping, and learning real handwriting."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from digitnet.errors import ConfigError, DivergenceError
from digitnet.nn import Dense, Dropout, Flatten, ReLU, Sequential
from digitnet.training.loop import TrainConfig, fit, seed_streams


def toy_split(n, seed):
    """Ten blurry prototype images plus noise: learnable, 28x28 uint8, like MNIST."""
    rng = np.random.default_rng(1234)
    protos = rng.random((10, 28, 28)) > 0.7
    r = np.random.default_rng(seed)
    labels = r.integers(0, 10, n)
    noise = r.random((n, 28, 28)) < 0.1
    images = (protos[labels] ^ noise).astype(np.uint8) * 255
    return SimpleNamespace(images=images, labels=labels)


def tiny_model(seed=0, dropout=0.0):
    layers = [Flatten(), Dense(32), ReLU()] + ([Dropout(dropout)] if dropout else [])
    return Sequential(layers + [Dense(10)], (1, 28, 28), seed_streams(seed)["init"])


def test_same_seed_gives_bit_identical_weights():
    train, val = toy_split(600, 1), toy_split(200, 2)
    config = TrainConfig(epochs=2, batch_size=50, lr=0.05, seed=7)
    a, b = tiny_model(7, dropout=0.3), tiny_model(7, dropout=0.3)
    ha = fit(a, train, val, config, progress=False)
    hb = fit(b, train, val, config, progress=False)
    for (_, pa, _, _), (_, pb, _, _) in zip(
        a.named_parameters(), b.named_parameters(), strict=True
    ):
        assert np.array_equal(pa, pb)
    assert [r["train_loss"] for r in ha.epochs] == [r["train_loss"] for r in hb.epochs]
    c = tiny_model(8, dropout=0.3)
    fit(c, train, val, TrainConfig(epochs=2, batch_size=50, lr=0.05, seed=8), progress=False)
    assert not np.array_equal(a.layers[1].params["W"], c.layers[1].params["W"])


def test_learns_the_toy_problem_and_logs_each_epoch():
    train, val = toy_split(1000, 1), toy_split(300, 2)
    records = []
    model = tiny_model()
    history = fit(
        model,
        train,
        val,
        TrainConfig(epochs=3, batch_size=32, lr=0.05),
        log=records.append,
        progress=False,
    )
    assert [r["epoch"] for r in records] == [1, 2, 3] and history.epochs == records
    for key in ("train_loss", "val_loss", "val_accuracy", "val_correct", "seconds"):
        assert key in records[0]
    assert records[-1]["val_accuracy"] > 0.95
    assert records[-1]["train_loss"] < records[0]["train_loss"]


def test_divergence_is_reported_with_the_learning_rate():
    train = toy_split(200, 1)
    with pytest.raises(DivergenceError, match="learning rate .* too high"):
        fit(
            tiny_model(),
            train,
            None,
            TrainConfig(epochs=3, lr=1e6, optimizer="sgd"),
            progress=False,
        )


def test_early_stopping_restores_best_weights():
    train, val = toy_split(200, 1), toy_split(100, 2)
    r = np.random.default_rng(5)  # 40% wrong labels: it will overfit
    train.labels = np.where(r.random(200) < 0.4, r.integers(0, 10, 200), train.labels)
    model = tiny_model()
    seen = []

    def log(record):
        seen.append((record["val_loss"], model.copy_state()))

    history = fit(
        model,
        train,
        val,
        TrainConfig(epochs=60, lr=0.05, patience=3, monitor="val_loss"),
        log=log,
        progress=False,
    )
    assert history.stopped_early and len(history.epochs) < 60
    losses = [loss for loss, _ in seen]
    best = int(np.argmin(losses))
    assert history.best_epoch == best + 1
    assert len(history.epochs) == history.best_epoch + 3  # patience 3 after the best
    for name, arr in model.state_dict().items():
        assert np.array_equal(arr, seen[best][1][name])


@pytest.mark.parametrize(
    "bad",
    [
        dict(epochs=0),
        dict(batch_size=-1),
        dict(lr=0),
        dict(optimizer="sgdd"),
        dict(schedule="wavy"),
        dict(monitor="loss"),
        dict(patience=0),
        dict(seed=-1),
    ],
)
def test_invalid_settings_are_named(bad):
    key = next(iter(bad))
    with pytest.raises(ConfigError) as e:
        TrainConfig(**bad).validate()
    assert key in str(e.value) or str(bad[key]) in str(e.value)


def test_end_to_end_on_real_handwriting():
    """scikit-learn's 1,797 handwritten digits, upscaled to 28x28: a small MLP reaches 95%."""
    pytest.importorskip("sklearn")
    from digitnet.data.digits import load_digits_28

    images, labels = load_digits_28()
    order = np.random.default_rng(0).permutation(len(labels))
    images, labels = images[order], labels[order]
    cut = 1400
    train = SimpleNamespace(images=images[:cut], labels=labels[:cut])
    held = SimpleNamespace(images=images[cut:], labels=labels[cut:])
    model = Sequential(
        [Flatten(), Dense(128), ReLU(), Dense(10)], (1, 28, 28), seed_streams(0)["init"]
    )
    fit(
        model,
        train,
        None,
        TrainConfig(epochs=30, batch_size=32, lr=0.05, schedule="cosine"),
        progress=False,
    )
    from digitnet.evaluation.evaluate import evaluate

    acc = evaluate(model, held.images, held.labels)["accuracy"]
    assert acc >= 0.95, f"held-out accuracy {acc:.3f}"
