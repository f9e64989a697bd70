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
from pathlib import Path
from typing import Any

import numpy as np

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
            try:
                images.append(to_mnist(path))
            except DigitnetError as exc:
                raise ConfigError(f"{path}: cannot use this sample ({exc})") from None
            labels.append(digit)
            digest.update(path.read_bytes())
    return np.stack(images), np.array(labels, dtype=np.int64), digest.hexdigest()


def adapt(
    model: Sequential | Ensemble,
    images: np.ndarray,
    labels: np.ndarray,
    mnist: Any,
    *,
    replay: int = 2000,
    epochs: int = 4,
    lr: float = 1e-4,
    copies: int = 10,
    seed: int = 0,
) -> Sequential:
    """Fine-tune (a copy of) ``model`` on the samples ``(N, 28, 28)`` / ``(N,)``.

    Each epoch sees every sample ``copies`` times (augmented: small rotations and shifts)
    and ``replay`` MNIST training digits drawn afresh from ``mnist.train``; Adam at ``lr``.
    An ensemble is adapted through its first member (the others are dropped).
    """
    if isinstance(model, Ensemble):
        model = model.members[0]
    tuned = Sequential.from_config(model.get_config())
    tuned.load_state_dict(model.copy_state())
    rng = np.random.default_rng(seed)
    pick = rng.choice(
        len(mnist.train.labels), size=min(replay, len(mnist.train.labels)), replace=False
    )
    train_images = np.concatenate(
        [np.repeat(images, copies, axis=0), np.asarray(mnist.train.images)[pick]]
    )
    train_labels = np.concatenate([np.repeat(labels, copies), np.asarray(mnist.train.labels)[pick]])
    config = TrainConfig(
        epochs=epochs,
        batch_size=64,
        optimizer="adam",
        lr=lr,
        schedule="cosine",
        seed=seed,
        augment={"rotate": 8.0, "shift": 1.5, "scale": 0.08},
    )
    fit(tuned, _Split(train_images, train_labels), None, config, progress=False)
    tuned.meta = {
        "adapt": {
            "samples": int(len(labels)),
            "per_digit": np.bincount(labels, minlength=10).tolist(),
            "replay": int(replay),
            "epochs": epochs,
            "lr": lr,
            "copies": copies,
            "seed": seed,
        }
    }
    return tuned


def personalise(
    base: Sequential | Ensemble,
    base_path: str | os.PathLike,
    images: np.ndarray,
    labels: np.ndarray,
    data: Any,
    *,
    source: str,
    digest: str,
    replay: int = 2000,
    epochs: int = 4,
    seed: int = 0,
    progress: bool | None = None,
) -> Sequential:
    """:func:`adapt` ``base`` (loaded from ``base_path``) to the samples and record, in the
    result's metadata, the base model (file, sha256, test accuracy), the samples (``source``,
    their ``digest``) and the adapted model's MNIST test figures (``data.test``)."""
    from digitnet.evaluation.evaluate import evaluate

    base_path = Path(base_path)
    model = adapt(base, images, labels, data, replay=replay, epochs=epochs, seed=seed)
    test = evaluate(model, data.test.images, data.test.labels)
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
