"""Named architectures with their training settings: the seed projects' networks, reproduced
and beaten, and our own.

``build(name, seed)`` returns a freshly initialised model and its :class:`TrainConfig`; the
accuracy each preset reaches with ``digitnet train --preset NAME`` is recorded in the README.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from digitnet.data.preprocess import INPUT_SHAPE
from digitnet.errors import ConfigError
from digitnet.nn import (
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    Module,
    ReLU,
    Sequential,
    Sigmoid,
)
from digitnet.training.loop import TrainConfig, seed_streams
from digitnet.training.mix import Mix

# Every preset takes channels-last (H, W, C) images (INPUT_SHAPE), the layout of
# digitnet.nn.conv; MLPs flatten them. Model files saved with the old MLP shape (1, 28, 28)
# load and read the same 784 values in the same order.


@dataclass(frozen=True)
class Preset:
    name: str
    summary: str  # one line: architecture and optimizer
    seed_result: str  # what the seed project reported ("—" for ours)
    target: float  # test accuracy this preset must reach
    layers: Callable[[], list[Module]]
    config: TrainConfig
    input_shape: tuple[int, ...] = INPUT_SHAPE
    mix: Mix | None = None  # what it trains on besides MNIST's training digits


def _mlp(
    hidden: list[int], act: Callable[[], Module] = ReLU, init: str = "he", dropout: float = 0.0
) -> Callable[[], list[Module]]:
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


_add(
    Preset(
        "sigmoid",
        "784-64-32-16-10 sigmoid, Xavier init, softmax output, mini-batch SGD with "
        "momentum, cosine",
        "94.62%",
        0.965,
        _mlp([64, 32, 16], Sigmoid, init="xavier"),
        TrainConfig(epochs=40, batch_size=256, optimizer="momentum", lr=0.4, schedule="cosine"),
    )
)
_add(
    Preset(
        "relu-128-64",
        "784-128-64-10 ReLU, He init, softmax, momentum, L2, cosine",
        "95.24%",
        0.975,
        _mlp([128, 64]),
        TrainConfig(
            epochs=20,
            batch_size=128,
            optimizer="momentum",
            lr=0.1,
            momentum=0.9,
            weight_decay=5e-4,
            schedule="cosine",
        ),
    )
)
_add(
    Preset(
        "relu-10",
        "784-10-10 ReLU, softmax, mini-batch gradient descent",
        "88%",
        0.91,
        _mlp([10]),
        TrainConfig(epochs=20, batch_size=64, optimizer="sgd", lr=0.1),
    )
)
_add(
    Preset(
        "relu-128-64-32",
        "784-128-64-32-10 ReLU, softmax, momentum, L2, cosine",
        "97.10%",
        0.978,
        _mlp([128, 64, 32]),
        TrainConfig(
            epochs=30,
            batch_size=128,
            optimizer="momentum",
            lr=0.1,
            weight_decay=5e-4,
            schedule="cosine",
        ),
    )
)


def _mlp_bn(hidden: list[int], drop_in: float, drop: float) -> Callable[[], list[Module]]:
    """Dense (no bias) -> BatchNorm -> ReLU -> Dropout per hidden layer, input dropout."""

    def layers() -> list[Module]:
        out: list[Module] = [Flatten(), Dropout(drop_in)]
        for units in hidden:
            out += [Dense(units, bias=False), BatchNorm(), ReLU(), Dropout(drop)]
        return out + [Dense(10)]

    return layers


_add(
    Preset(
        "mlp",
        "784-1024-1024-10 ReLU, batch norm, dropout 0.2/0.5, Nesterov, L2, cosine",
        "—",
        0.985,
        _mlp_bn([1024, 1024], 0.2, 0.5),
        TrainConfig(
            epochs=40,
            batch_size=128,
            optimizer="nesterov",
            lr=0.1,
            momentum=0.9,
            weight_decay=1e-4,
            schedule="cosine",
            warmup=1,
        ),
    )
)


def _conv_bn_relu(filters: int, kernel: int, padding: str = "valid") -> list[Module]:
    # no conv bias: the batch norm that follows would cancel it
    return [Conv2D(filters, kernel, padding=padding, bias=False), BatchNorm(), ReLU()]


def _lenet5() -> list[Module]:
    return [
        Conv2D(6, 5, padding="same"),
        ReLU(),
        MaxPool2D(2),
        Conv2D(16, 5),
        ReLU(),
        MaxPool2D(2),
        Flatten(),
        Dense(120),
        ReLU(),
        Dense(84),
        ReLU(),
        Dense(10),
    ]


def _cnn_fast() -> list[Module]:
    return [
        *_conv_bn_relu(32, 5),
        MaxPool2D(2),
        *_conv_bn_relu(64, 5),
        MaxPool2D(2),
        Flatten(),
        Dense(256, bias=False),
        BatchNorm(),
        ReLU(),
        Dropout(0.4),
        Dense(10),
    ]


def _cnn() -> list[Module]:
    return [
        *_conv_bn_relu(32, 5),
        MaxPool2D(2),
        *_conv_bn_relu(64, 3),
        *_conv_bn_relu(64, 3),
        MaxPool2D(2),
        Flatten(),
        Dense(256, bias=False),
        BatchNorm(),
        ReLU(),
        Dropout(0.4),
        Dense(10),
    ]


def _pooled_cnn() -> list[Module]:
    """conv 32@5x5 and conv 64@3x3, each max-pooled before its batch norm (both run as one
    step with their pool: :class:`digitnet.nn.conv.PooledConv2D`), dense 256: the fast-99
    network widened, with batch norm. Half the work per image of the network fast-995 had
    before (the cnn network without dropout, pools before its batch norms, whose 64 -> 64
    convolution on 10x10 maps this one does not have)."""
    return [
        Conv2D(32, 5, bias=False),
        MaxPool2D(2),
        BatchNorm(),
        ReLU(),
        Conv2D(64, 3, bias=False),
        MaxPool2D(2),
        BatchNorm(),
        ReLU(),
        Flatten(),
        Dense(256, bias=False),
        BatchNorm(),
        ReLU(),
        Dense(10),
    ]


def _fast_99() -> list[Module]:
    """The network of the fastest public one-epoch MNIST recipe (tuomaso/train_mnist_fast):
    no batch norm, each convolution pooled before its ReLU (a convolution and its pool run
    as one step: :class:`digitnet.nn.conv.PooledConv2D`)."""
    return [
        Conv2D(24, 5),
        MaxPool2D(2),
        ReLU(),
        Conv2D(32, 3),
        MaxPool2D(2),
        ReLU(),
        Flatten(),
        Dense(256),
        ReLU(),
        Dense(10),
    ]


#: random affine distortions for the convolutional networks
AUGMENT = {"rotate": 10.0, "shift": 2.5, "scale": 0.1}
#: affine plus elastic distortions (Simard et al. 2003) for the MLP, which has no built-in
#: tolerance to small deformations and profits from the stronger variety
AUGMENT_ELASTIC = {
    "rotate": 10.0,
    "shift": 2.0,
    "scale": 0.1,
    "shear": 5.0,
    "elastic_alpha": 30.0,
    "elastic_sigma": 5.0,
}

_add(
    Preset(
        "lenet5",
        "LeNet-5: conv 6@5x5, pool, conv 16@5x5, pool, 120, 84, 10 (ReLU, max-pool)",
        "—",
        0.990,
        _lenet5,
        TrainConfig(
            epochs=30,
            batch_size=128,
            optimizer="nesterov",
            lr=0.05,
            weight_decay=5e-4,
            schedule="cosine",
            warmup=1,
        ),
        INPUT_SHAPE,
    )
)
_add(
    Preset(
        "cnn-fast",
        "conv 32@5x5-BN-pool, conv 64@5x5-BN-pool, 256-BN-dropout, 10; augmentation",
        "—",
        0.993,
        _cnn_fast,
        TrainConfig(
            epochs=8,
            batch_size=128,
            optimizer="nesterov",
            lr=0.05,
            weight_decay=5e-4,
            schedule="cosine",
            warmup=1,
            augment=dict(AUGMENT),
        ),
        INPUT_SHAPE,
    )
)
_add(
    Preset(
        "cnn",
        "conv 32@5x5-BN-pool, conv 64@3x3-BN, conv 64@3x3-BN-pool, 256-BN-dropout, 10; "
        "augmentation",
        "—",
        0.996,
        _cnn,
        TrainConfig(
            epochs=30,
            batch_size=128,
            optimizer="nesterov",
            lr=0.05,
            weight_decay=5e-4,
            schedule="cosine",
            warmup=1,
            augment=dict(AUGMENT),
        ),
        INPUT_SHAPE,
    )
)
_add(
    Preset(
        "mlp-augment",
        "the mlp preset trained on elastically and affinely distorted digits",
        "—",
        0.990,
        _mlp_bn([1024, 1024], 0.1, 0.3),
        TrainConfig(
            epochs=60,
            batch_size=128,
            optimizer="nesterov",
            lr=0.1,
            momentum=0.9,
            weight_decay=5e-5,
            schedule="cosine",
            warmup=1,
            augment=dict(AUGMENT_ELASTIC),
        ),
    )
)

#: the handwriting of other people, pens and cameras: slant, aspect and elastic changes,
#: thinner and thicker strokes, blur and pixel noise on top of the affine distortions
AUGMENT_GENERAL = {
    "rotate": 10.0,
    "shift": 2.5,
    "scale": 0.12,
    "shear": 8.0,
    "elastic_alpha": 20.0,
    "elastic_sigma": 5.0,
    "stroke": 0.4,
    "blur": 0.5,
    "noise": 0.4,
}

_add(
    Preset(
        "cnn-general",
        "the cnn preset trained for other handwriting: slant, elastic, stroke "
        "width, blur and noise augmentation",
        "—",
        0.9965,
        _cnn,
        dataclasses.replace(PRESETS["cnn"].config, augment=dict(AUGMENT_GENERAL)),
        INPUT_SHAPE,
    )
)

#: the world's handwriting: the general distortions, and scans that fill their box or are
#: re-scanned coarsely in black and white
AUGMENT_WORLD = {**AUGMENT_GENERAL, "fill": 0.2, "coarse": 0.2}
#: chosen on MNIST validation and on optdigits' validation part read as box scans (never on
#: semeion): 4 copies of optdigits, USPS train, continental strokes on half of the 1/4/7/9s,
#: a box scan of 30% of the digits, 6,000 non-digits (about 6% of the examples)
WORLD_MIX = Mix(optdigits=4, usps=True, continental=0.5, box_scans=0.3, nondigits=6000)

_add(
    Preset(
        "cnn-world",
        "the cnn network trained on the world's handwriting: MNIST, optdigits "
        "(Istanbul), USPS train, continental strokes, box scans and non-digits",
        "—",
        0.9965,
        _cnn,
        dataclasses.replace(PRESETS["cnn"].config, epochs=20, augment=dict(AUGMENT_WORLD)),
        INPUT_SHAPE,
        WORLD_MIX,
    )
)

_add(
    Preset(
        "fast-99",
        "time to 99%: conv 24@5x5-pool, conv 32@3x3-pool, 256, 10 (no batch norm); Adam "
        "betas (0.7, 0.9), one cycle, label smoothing, batch 256, 1 epoch",
        "99.04% (tuomaso/train_mnist_fast, 60k digits, 30 seeds)",
        0.99,
        _fast_99,
        # tuomaso/train_mnist_fast's one-epoch recipe, plus label smoothing 0.1: chosen on
        # the validation split (training on the 50,000, seeds 0-2; the test set was not
        # used): as published 98.81 / 98.97 / 98.86%, with label smoothing 99.01 / 99.12 /
        # 99.06%; lr 0.02 98.74 / 98.88 / 98.81%, lr 0.005 98.75 / 98.77 / 98.73%, a 0.2
        # epoch rise 98.81 / 98.95%
        TrainConfig(
            epochs=1,
            batch_size=256,
            optimizer="adam",
            lr=0.01,
            betas=(0.7, 0.9),
            schedule="onecycle",
            warmup=0.3,
            label_smoothing=0.1,
        ),
        INPUT_SHAPE,
    )
)

_add(
    Preset(
        "fast-995",
        "time to 99.5%: conv 32@5x5-pool-BN, conv 64@3x3-pool-BN, 256-BN, 10; augmentation, "
        "label smoothing, Nesterov lr 0.3, cosine, 4 epochs",
        "—",
        0.995,
        _pooled_cnn,
        # chosen on the validation split, seeds 0 and 1 (the test set was not used): the
        # fewest epochs whose validation mean reached 99.55% (a margin for the 5-seed test
        # mean): 3 epochs 99.48% (seed 0), 4 epochs 99.60 / 99.50%, 5 epochs 99.63 / 99.57%.
        # Other candidates: the previous fast-995 network (twice the work per image) 3
        # epochs 99.57 / 99.54%; Adam one-cycle at batch 256 on this network, 3
        # epochs 99.53 / 99.44%; the fast-99 network with batch norm, 4 epochs 99.53 /
        # 99.44%, 5 epochs 99.48%
        TrainConfig(
            epochs=4,
            batch_size=128,
            optimizer="nesterov",
            lr=0.3,
            momentum=0.9,
            weight_decay=5e-4,
            schedule="cosine",
            warmup=0.3,
            label_smoothing=0.1,
            augment=dict(AUGMENT),
        ),
        INPUT_SHAPE,
    )
)

_add(
    Preset(
        "fast-996",
        "time to 99.6%: the fast-995 recipe for 6 epochs",
        "—",
        0.996,
        _pooled_cnn,
        # 6 epochs from fast-995's validation trend (5 epochs: 99.63 / 99.57%, seeds 0 / 1);
        # validation, seeds 0 / 1: 6 epochs 99.67 / 99.61%, 7 epochs 99.67 / 99.64% (no
        # real gain for a sixth more time); test over 3 seeds 99.58% (issue 28: missed)
        dataclasses.replace(PRESETS["fast-995"].config, epochs=6, augment=dict(AUGMENT)),
        INPUT_SHAPE,
    )
)

#: what `digitnet train` trains without --preset: the 99.5% recipe, about a minute here
DEFAULT_PRESET = "fast-995"


def get(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)} (see `digitnet presets`)"
        ) from None


def build(name: str, seed: int | None = None, **overrides) -> tuple[Sequential, TrainConfig]:
    """A freshly initialised model and its training settings.

    ``seed`` (default: the preset's) fixes the initial weights, the shuffling and the dropout
    masks; ``overrides`` replace training settings (e.g. ``epochs=5``).
    """
    preset = get(name)
    config = dataclasses.replace(preset.config, **overrides)
    if "epochs" in overrides and config.schedule == "onecycle":
        # one cycle rises over a fraction of the run (PyTorch's pct_start): keep it
        config.warmup = preset.config.warmup * config.epochs / preset.config.epochs
    elif "epochs" in overrides and config.warmup >= config.epochs:
        config.warmup = float(config.epochs - 1)  # a short run keeps a shorter warm-up
    if seed is not None:
        config.seed = seed
    config.validate()
    try:
        model = Sequential(preset.layers(), preset.input_shape, seed_streams(config.seed)["init"])
    except ValueError as exc:
        raise ConfigError(f"preset {name!r}: {exc}") from None
    return model, config
