"""Named architectures with their training settings: the seed projects' networks, reproduced
and beaten, and our own.

``build(name, seed)`` returns a freshly initialised model and its :class:`TrainConfig`; the
accuracy each preset reaches with ``digitnet train --preset NAME`` is recorded in the README.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from digitnet.errors import ConfigError
from digitnet.nn import Dense, Dropout, Flatten, Module, ReLU, Sequential, Sigmoid
from digitnet.train import TrainConfig, seed_streams

INPUT_SHAPE = (1, 28, 28)


@dataclass(frozen=True)
class Preset:
    name: str
    summary: str                      # one line: architecture and optimizer
    seed_result: str                  # what the seed project reported ("—" for ours)
    target: float                     # test accuracy this preset must reach
    layers: Callable[[], list[Module]]
    config: TrainConfig


def _mlp(hidden: list[int], act: Callable[[], Module] = ReLU, init: str = "he",
         dropout: float = 0.0) -> Callable[[], list[Module]]:
    def layers() -> list[Module]:
        out: list[Module] = [Flatten()]
        for units in hidden:
            out += [Dense(units, init=init), act()]
            if dropout:
                out.append(Dropout(dropout))
        out.append(Dense(10, init="xavier" if act is Sigmoid else init))
        return out
    return layers


PRESETS: dict[str, Preset] = {}


def _add(p: Preset) -> None:
    PRESETS[p.name] = p


_add(Preset(
    "sigmoid", "784-256-128-64-10 sigmoid, softmax output, mini-batch SGD", "94.62%", 0.965,
    _mlp([256, 128, 64], Sigmoid, init="xavier"),
    TrainConfig(epochs=30, batch_size=32, optimizer="sgd", lr=0.5)))
_add(Preset(
    "relu-128-64", "784-128-64-10 ReLU, He init, softmax, momentum, L2, cosine", "95.24%",
    0.975,
    _mlp([128, 64]),
    TrainConfig(epochs=20, batch_size=128, optimizer="momentum", lr=0.1, momentum=0.9,
                weight_decay=5e-4, schedule="cosine")))
_add(Preset(
    "relu-10", "784-10-10 ReLU, softmax, mini-batch gradient descent", "88%", 0.91,
    _mlp([10]),
    TrainConfig(epochs=20, batch_size=64, optimizer="sgd", lr=0.1)))
_add(Preset(
    "relu-128-64-32", "784-128-64-32-10 ReLU, softmax, momentum, L2, cosine", "97.10%", 0.978,
    _mlp([128, 64, 32]),
    TrainConfig(epochs=30, batch_size=128, optimizer="momentum", lr=0.1, weight_decay=5e-4,
                schedule="cosine")))
_add(Preset(
    "mlp", "784-1024-1024-10 ReLU, dropout 0.3, Nesterov momentum, cosine schedule", "—",
    0.985,
    _mlp([1024, 1024], dropout=0.3),
    TrainConfig(epochs=40, batch_size=128, optimizer="nesterov", lr=0.05, momentum=0.9,
                schedule="cosine", warmup=1)))

DEFAULT_PRESET = "mlp"


def get(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)} "
                          "(see `digitnet presets`)") from None


def build(name: str, seed: int | None = None, **overrides) -> tuple[Sequential, TrainConfig]:
    """A freshly initialised model and its training settings.

    ``seed`` (default: the preset's) fixes the initial weights, the shuffling and the dropout
    masks; ``overrides`` replace training settings (e.g. ``epochs=5``).
    """
    preset = get(name)
    config = dataclasses.replace(preset.config, **overrides)
    if seed is not None:
        config.seed = seed
    config.validate()
    try:
        model = Sequential(preset.layers(), INPUT_SHAPE, seed_streams(config.seed)["init"])
    except ValueError as exc:
        raise ConfigError(f"preset {name!r}: {exc}") from None
    return model, config
