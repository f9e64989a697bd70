"""Teaching a model a handwriting: fine-tune it on a few labelled samples of one writer or one
source, replaying MNIST training digits beside them so that it does not forget MNIST.

A samples folder holds one sub-folder per digit (``0/`` ... ``9/``, as torchvision's
ImageFolder), each image read through the same preprocessing as ``digitnet predict``
(:func:`digitnet.imaging.images.to_mnist`). The result is an ordinary model whose metadata
records its base model, the samples' count per digit and their checksum, and the settings.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from digitnet.data.preprocess import to_input
from digitnet.errors import ConfigError, DigitnetError
from digitnet.nn import Ensemble, Sequential
from digitnet.training.loop import TrainConfig, fit

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp"}


class _Split:
    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels = images, labels


def load_samples(folder: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, str]:
    """``(images (N, 28, 28) uint8, labels (N,), sha256 of the files)`` of a samples folder.

    Raises
    ------
    ConfigError
        No such folder, a sub-folder that is not a digit, a digit with no image, an image
        that cannot be read (each naming the folder or file).
    """
    from digitnet.imaging.images import to_mnist

    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(f"{root}: no such samples folder (one sub-folder per digit, 0/ to 9/)")
    images, labels, digest = [], [], hashlib.sha256()
    subs = sorted(p for p in root.iterdir() if p.is_dir())
    for sub in subs:
        if sub.name not in {str(d) for d in range(10)}:
            raise ConfigError(
                f"{sub}: not a digit folder; a samples folder holds only sub-folders 0/ to 9/"
            )
    for digit in range(10):
        sub = root / str(digit)
        files = (
            sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if sub.is_dir()
            else []
        )
        if not files:
            raise ConfigError(
                f"{sub}: no sample of the digit {digit}; give at least one image of every digit"
            )
        for path in files:
            if not path.is_file():  # a folder, a broken link, or a pipe that would block
                raise ConfigError(f"{path}: not an image file; remove it from the samples")
            try:
                images.append(to_mnist(path))
            except DigitnetError as exc:
                raise ConfigError(f"{path}: cannot use this sample ({exc})") from None
            labels.append(digit)
            digest.update(path.read_bytes())
    return np.stack(images), np.array(labels, dtype=np.int64), digest.hexdigest()


#: the adapt recipe: Adam on the network's dense head, the convolutions kept as they are
#: (chosen on USPS *training* digits as the new writer, 1 and 10 per digit, scored on 2,990
#: other USPS training digits: 15, 30 or 60 epochs, lr 1e-3 or 3e-3, 10 or 30 copies all
#: within 0.1 point; 15 epochs is the cheapest)
RECIPE = {"epochs": 15, "lr": 1e-3, "copies": 10, "replay": 2000, "batch_size": 64}


def head_start(model: Sequential) -> int:
    """Index of the first layer of ``model``'s dense head: the layer after its last
    ``Flatten`` (0 when it has none: every layer is tuned)."""
    names = [type(layer).__name__ for layer in model.layers]
    return max((i + 1 for i, n in enumerate(names) if n == "Flatten"), default=0)


def head_inputs(model: Sequential, images: np.ndarray, start: int, batch: int = 500) -> np.ndarray:
    """What the head sees: ``images`` ``(N, 28, 28)`` (uint8, or floats in [0, 1]) through
    ``model.layers[:start]`` in inference mode -> ``(N, D)`` float32."""
    out = []
    for i in range(0, len(images), batch):
        x = to_input(images[i : i + batch], model.input_shape)
        for layer in model.layers[:start]:
            x = layer.forward(x, training=False)
        out.append(np.array(x, dtype=np.float32).reshape(len(x), -1))
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def adapt(
    model: Sequential | Ensemble,
    images: np.ndarray,
    labels: np.ndarray,
    mnist: Any,
    *,
    replay: int = RECIPE["replay"],
    epochs: int = RECIPE["epochs"],
    lr: float = RECIPE["lr"],
    copies: int = RECIPE["copies"],
    seed: int = 0,
    progress: Progress | None = None,
) -> Sequential:
    """Fine-tune (a copy of) ``model``'s dense head on the samples ``(N, 28, 28)`` / ``(N,)``.

    Every sample is given ``copies`` times, each distorted a little (rotation, shift,
    scale), beside ``replay`` MNIST training digits (also distorted) so that MNIST is not
    forgotten. The convolutional layers are kept: each of those images goes through them
    once (:func:`head_inputs`), and the head (the layers after the ``Flatten``:
    :func:`head_start`) is trained on what they give, ``epochs`` times with Adam at ``lr``:
    seconds instead of the minute that training every layer on the images takes, and
    as good on a writer's digits (a few dozen samples cannot teach the convolutions much).
    A network without a ``Flatten`` (an MLP from pixels) is tuned whole, the same way.
    An ensemble is adapted through its first member (the others are dropped).

    ``progress(done, total)`` is called as the work advances (``total`` steps in all).
    """
    from digitnet.data.augment import Augmenter

    if isinstance(model, Ensemble):
        model = model.members[0]
    tuned = Sequential.from_config(model.get_config())
    tuned.load_state_dict(model.copy_state())
    rng = np.random.default_rng(seed)
    pick = rng.choice(
        len(mnist.train.labels), size=min(replay, len(mnist.train.labels)), replace=False
    )
    x = np.concatenate([np.repeat(images, copies, axis=0), np.asarray(mnist.train.images)[pick]])
    y = np.concatenate([np.repeat(labels, copies), np.asarray(mnist.train.labels)[pick]])
    distort = Augmenter(rotate=8.0, shift=1.5, scale=0.08, rng=rng)
    x = distort(x.astype(np.float32) / np.float32(255))
    start = head_start(tuned)
    report = _reporter(progress, total=len(x) // 500 + 1 + epochs)
    feats = []
    for i in range(0, len(x), 500):
        feats.append(head_inputs(tuned, x[i : i + 500], start))
        report(1)
    head = _head(tuned, start)
    config = TrainConfig(
        epochs=epochs,
        batch_size=RECIPE["batch_size"],
        optimizer="adam",
        lr=lr,
        schedule="cosine",
        seed=seed,
    )
    fit(
        head,
        _Split(np.concatenate(feats), y),
        None,
        config,
        progress=False,
        log=lambda record: report(1),
    )
    for i, layer in enumerate(head.layers):
        for key, value in layer.params.items():
            tuned.layers[start + i].params[key][...] = value
        for key, value in layer.buffers.items():
            tuned.layers[start + i].buffers[key][...] = value
    report(1)
    tuned.meta = {
        "adapt": {
            "samples": int(len(labels)),
            "per_digit": np.bincount(labels, minlength=10).tolist(),
            "replay": int(replay),
            "epochs": epochs,
            "lr": lr,
            "copies": copies,
            "seed": seed,
            "tuned": f"layers {start}-{len(tuned.layers) - 1} (the dense head)",
        }
    }
    return tuned


def _head(model: Sequential, start: int) -> Sequential:
    """A network of ``model.layers[start:]`` holding copies of their weights."""
    config = model.get_config()
    shape = model.input_shape if start == 0 else (int(np.prod(_shape_before(model, start))),)
    head = Sequential.from_config({"input_shape": list(shape), "layers": config["layers"][start:]})
    state = model.state_dict()
    head.load_state_dict(
        {
            f"layers.{int(k.split('.')[1]) - start}.{k.split('.', 2)[2]}": v.copy()
            for k, v in state.items()
            if int(k.split(".")[1]) >= start
        }
    )
    return head


def _shape_before(model: Sequential, index: int) -> tuple[int, ...]:
    shape = tuple(model.input_shape)
    for layer in model.layers[:index]:
        shape = layer.compute_output_shape(shape)
    return shape


Progress = Callable[[int, int], None]


def _reporter(progress: Progress | None, total: int) -> Callable[[int], None]:
    done = [0]

    def report(n: int) -> None:
        done[0] = min(total, done[0] + n)
        if progress is not None:
            progress(done[0], total)

    return report


def personalise(
    base: Sequential | Ensemble,
    base_path: str | os.PathLike,
    images: np.ndarray,
    labels: np.ndarray,
    data: Any,
    *,
    source: str,
    digest: str,
    replay: int = RECIPE["replay"],
    epochs: int = RECIPE["epochs"],
    seed: int = 0,
    progress: Progress | None = None,
) -> Sequential:
    """:func:`adapt` ``base`` (loaded from ``base_path``) to the samples and record, in the
    result's metadata, the base model (file, sha256, test accuracy), the samples (``source``,
    their ``digest``) and the adapted model's MNIST test figures (``data.test``).
    ``progress(done, total)`` as for :func:`adapt`, the MNIST check included."""
    from digitnet.evaluation.evaluate import evaluate

    base_path = Path(base_path)
    state = {"total": 1}

    def inner(done: int, total: int) -> None:
        state["total"] = total + 1
        if progress is not None:
            progress(done, total + 1)

    model = adapt(
        base, images, labels, data, replay=replay, epochs=epochs, seed=seed, progress=inner
    )
    test = evaluate(model, data.test.images, data.test.labels)
    if progress is not None:
        progress(state["total"], state["total"])
    meta = base.meta or {}
    model.meta.update(
        preset=meta.get("preset"),
        base_model={
            "file": base_path.name,
            "sha256": hashlib.sha256(base_path.read_bytes()).hexdigest(),
            "test_accuracy": (meta.get("test") or {}).get("accuracy"),
        },
        samples={"folder": source, "sha256": digest},
        test={k: test[k] for k in ("accuracy", "correct", "total", "macro_f1")},
    )
    return model
