"""The segment checker: a small network that tells one whole digit from anything else the
segmenter may cut out of a number (two touching digits, half of one, a digit with half of its
neighbour).

The digit model is trained on whole digits only and reads every input as some digit, so it
cannot say which reading of touching digits is right; the checker can. It has 11 classes: the
ten digits and :data:`~digitnet.data.pieces.NOT_ONE_DIGIT`; only the probability of the
eleventh is used (:func:`not_one_digit`), by
:func:`digitnet.reading.recognise.choose_readings`. It is trained on the segments the real
pipeline produces from numbers composed of training digits
(:mod:`digitnet.data.pieces`), validated on numbers composed of validation digits; the test
digits are never used.

Typical use::

    from digitnet.training.checker import train_checker
    checker = train_checker(load_mnist(), numbers=12000, seed=0)   # ~15 minutes
    save_model("checker.npz", checker)

or ``digitnet train-checker --out checker.npz``. A checker trained this way ships with the
package (:func:`digitnet.models.load_shipped_checker`).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from digitnet import __version__
from digitnet.data.mnist import Split
from digitnet.data.pieces import NOT_ONE_DIGIT, make_pieces
from digitnet.errors import ConfigError
from digitnet.evaluation.checker import scores
from digitnet.nn import BatchNorm, Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU, Sequential
from digitnet.training.loop import TrainConfig, fit, seed_streams

#: training settings of the checker
CONFIG = TrainConfig(
    epochs=12,
    batch_size=128,
    optimizer="nesterov",
    lr=0.05,
    weight_decay=5e-4,
    schedule="cosine",
    warmup=1,
    augment={"rotate": 5.0, "shift": 1.5, "scale": 0.05, "stroke": 0.3, "blur": 0.5},
)
#: numbers composed from training digits (their segments are the training examples)...
NUMBERS = 12000
#: ... and from validation digits
VAL_NUMBERS = 2000


def build_checker(seed: int = 0) -> Sequential:
    """The ``cnn`` preset's network with 11 outputs: conv 32@5x5-BN-pool, conv 64@3x3-BN,
    conv 64@3x3-BN-pool, 256-BN-dropout, 11 (channels-last input). (A quarter-size network,
    conv 16/32 and 128 units, read numbers of validation digits worse: 93.4% vs 94.5%.)"""

    def conv(filters: int, kernel: int) -> list:
        return [Conv2D(filters, kernel, bias=False), BatchNorm(), ReLU()]

    layers = [
        *conv(32, 5),
        MaxPool2D(2),
        *conv(64, 3),
        *conv(64, 3),
        MaxPool2D(2),
        Flatten(),
        Dense(256, bias=False),
        BatchNorm(),
        ReLU(),
        Dropout(0.4),
        Dense(NOT_ONE_DIGIT + 1),
    ]
    return Sequential(layers, (28, 28, 1), seed_streams(seed)["init"])


def pieces_split(split: Split, numbers: int, seed: int) -> Split:
    """The labelled segments of ``numbers`` numbers composed from ``split``'s digits."""
    x, y = make_pieces(split.images, split.labels, numbers, np.random.default_rng(seed))
    return Split(x, y)


def _mixed(data: Any, preset: str, seed: int, extra_dir: Any, augment: dict):
    """The digits, the non-digits and the augmentation of a checker trained for ``preset``'s
    mix (see :func:`train_checker`)."""
    import dataclasses

    from digitnet.data.nondigits import nondigits
    from digitnet.training import presets
    from digitnet.training.mix import with_mix

    chosen = presets.get(preset)
    if chosen.mix is None:
        raise ConfigError(f"preset {preset!r} trains on MNIST alone: no mix to train a checker on")
    mixed, _ = with_mix(
        data,
        dataclasses.replace(chosen.mix, nondigits=0),
        seed=seed,
        data_dir=getattr(data, "data_dir", None),
        extra_dir=extra_dir,
    )
    others, _ = nondigits(chosen.mix.nondigits, np.random.default_rng([seed, 11]), "train")
    world = chosen.config.augment or {}
    augment = {**augment, **{k: world[k] for k in ("fill", "coarse") if k in world}}
    return mixed.train, others, augment


def train_checker(
    data: Any,
    *,
    numbers: int = NUMBERS,
    val_numbers: int = VAL_NUMBERS,
    seed: int = 0,
    epochs: int | None = None,
    log=None,
    progress: bool | None = None,
    mix: str | None = None,
    extra_dir: Any = None,
) -> Sequential:
    """Train a checker on segments of numbers made of ``data.train`` digits (validated on
    ``data.val`` digits); its ``meta`` records the settings, the example counts and the
    validation scores (see :func:`scores`).

    With ``mix`` (a preset's name, e.g. ``"cnn-world"``), the numbers are composed from the
    digits that preset trains on (:mod:`digitnet.training.mix`: other writers' handwriting,
    continental strokes, box scans), the preset's non-digits join the training segments as
    "not one digit", and the preset's box-filling and coarse re-scan augmentation is added:
    a checker that agrees with that model about the world's handwriting."""
    start = time.perf_counter()
    digits, extra, config_augment = data.train, None, dict(CONFIG.augment or {})
    if mix is not None:
        digits, extra, config_augment = _mixed(data, mix, seed, extra_dir, config_augment)
    train = pieces_split(digits, numbers, seed)
    if extra is not None:
        train = Split(
            np.concatenate([train.images, extra]),
            np.concatenate([train.labels, np.full(len(extra), NOT_ONE_DIGIT, np.int64)]),
        )
    val = pieces_split(data.val, val_numbers, seed + 1) if len(data.val) and val_numbers else None
    config = TrainConfig.from_dict(
        {
            **CONFIG.to_dict(),
            "seed": seed,
            "augment": config_augment,
            **({"epochs": epochs} if epochs else {}),
        }
    )
    if config.warmup >= config.epochs:
        config.warmup = float(config.epochs - 1)
    model = build_checker(seed)
    history = fit(model, train, val, config, log=log, progress=progress)
    model.meta = {
        "kind": "checker",
        "digitnet_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": f"digitnet train-checker --numbers {numbers} --seed {seed}"
        + (f" --val-numbers {val_numbers}" if val_numbers != VAL_NUMBERS else "")
        + (f" --epochs {epochs}" if epochs else "")
        + (f" --mix {mix}" if mix else ""),
        "seed": seed,
        "numbers": numbers,
        "val_numbers": val_numbers,
        "examples": {
            "train": len(train),
            "train_not_one_digit": int((train.labels == NOT_ONE_DIGIT).sum()),
            "val": len(val) if val is not None else 0,
        },
        "train_config": config.to_dict(),
        "history": history.to_dict(),
        "wall_seconds": time.perf_counter() - start,
    }
    if val is not None:
        model.meta["val"] = scores(model, val)
    return model
