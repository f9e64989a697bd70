"""The training loop: mini-batch SGD-family training with per-epoch validation, early stopping,
divergence detection and bit-exact determinism for a given seed.

Typical use::

    from digitnet.training import loop, presets
    from digitnet.data import load_mnist
    data = load_mnist()
    model, config = presets.build("mlp")
    history = loop.fit(model, data.train, data.val, config, log=print)
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from digitnet.data.preprocess import to_input
from digitnet.errors import ConfigError, DivergenceError
from digitnet.nn import Optimizer, Sequential, make_optimizer, make_schedule
from digitnet.nn.losses import get_loss, softmax_cross_entropy
from digitnet.progress import ProgressBar


@dataclass
class TrainConfig:
    """Hyper-parameters of a training run (stored in the model file)."""

    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "momentum"  # sgd, momentum, nesterov, adam, adamw, rmsprop, adagrad
    lr: float = 0.05
    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)  # Adam's moment decay rates (adam, adamw)
    weight_decay: float = 0.0  # L2 on weights (not biases)
    schedule: str = "constant"  # constant, step, exponential, cosine, onecycle
    warmup: float = 0.0  # epochs of linear warm-up (onecycle: of rising rate)
    step_size: int = 10  # epochs between drops (step schedule)
    gamma: float = 0.1  # drop factor (step / exponential)
    min_lr: float = 0.0  # floor of the cosine schedule
    loss: str = "cross_entropy"  # cross_entropy or mse
    label_smoothing: float = 0.0
    patience: int | None = None  # early stopping: epochs without improvement
    monitor: str = "val_accuracy"  # val_accuracy or val_loss
    restore_best: bool = True  # keep the best weights seen on validation
    seed: int = 0
    augment: dict[str, float] | None = None
    eval_batch_size: int = 1000
    shuffle: bool = True  # a new order each epoch; False: the training set's own order

    def validate(self) -> None:
        """Raise ConfigError naming the first invalid setting."""

        def bad(name: str, why: str) -> ConfigError:
            return ConfigError(f"invalid {name}={getattr(self, name)!r}: {why}")

        for name in ("epochs", "batch_size", "eval_batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise bad(name, "must be a positive integer")
        for name in (
            "lr",
            "momentum",
            "weight_decay",
            "warmup",
            "gamma",
            "min_lr",
            "label_smoothing",
        ):
            if not math.isfinite(float(getattr(self, name))):
                raise bad(name, "must be a finite number")
        if not self.lr > 0:  # named here: the schedule's message would not
            raise bad("lr", "the learning rate must be positive")
        if self.patience is not None and self.patience <= 0:
            raise bad("patience", "must be a positive number of epochs")
        if self.monitor not in ("val_loss", "val_accuracy"):
            raise bad("monitor", "choose val_loss or val_accuracy")
        if not 0 <= self.label_smoothing < 1:
            raise bad("label_smoothing", "must be in [0, 1)")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise bad("seed", "must be a non-negative integer")
        if not isinstance(self.shuffle, bool):
            raise bad("shuffle", "must be True or False")
        try:
            get_loss(self.loss)
            self.lr_schedule()
            # the optimizer checks its own settings (name, lr, momentum, weight decay)
            make_optimizer(
                self.optimizer,
                [(np.zeros(1), np.zeros(1), False)],
                self.lr,
                momentum=self.momentum,
                weight_decay=self.weight_decay,
                betas=self.betas,
            )
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    def lr_schedule(self) -> Callable[[float], float]:
        """The learning rate at a point of the run (in epochs from 0), from these settings."""
        return make_schedule(
            self.schedule,
            self.lr,
            self.epochs,
            warmup=self.warmup,
            step_size=self.step_size,
            gamma=self.gamma,
            min_lr=self.min_lr,
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown training setting(s): {', '.join(unknown)}")
        d = dict(d)
        if isinstance(d.get("betas"), list):  # JSON has no tuples
            d["betas"] = tuple(d["betas"])
        return cls(**d)


@dataclass
class History:
    """Per-epoch records and the outcome of a training run."""

    epochs: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False
    train_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def seed_streams(seed: int) -> dict[str, np.random.Generator]:
    """Independent generators for initialisation, shuffling, dropout and augmentation, all
    derived from one seed, so changing e.g. augmentation never changes the initial weights."""
    children = np.random.SeedSequence(seed).spawn(4)
    names = ("init", "shuffle", "dropout", "augment")
    return {n: np.random.default_rng(s) for n, s in zip(names, children, strict=True)}


def evaluate_loss_accuracy(
    model: Sequential,
    images: np.ndarray,
    labels: np.ndarray,
    loss: str = "cross_entropy",
    batch_size: int = 1000,
) -> tuple[float, int]:
    """Mean loss and the number of correct predictions over a labelled set (inference mode)."""
    loss_fn = get_loss(loss)
    total, correct, n = 0.0, 0, images.shape[0]
    for i in range(0, n, batch_size):
        xb = to_input(images[i : i + batch_size], model.input_shape)
        yb = labels[i : i + batch_size]
        out = model.forward(xb, training=False)
        total += loss_fn(out, yb)[0] * xb.shape[0]
        correct += int((out.argmax(axis=1) == yb).sum())
    return total / max(n, 1), correct


@dataclass
class LoopState:
    """Where a training run is, besides the weights and the optimizer: what resuming it bit
    for bit needs (:mod:`digitnet.training.checkpoint` saves it).

    ``epoch`` is the epoch in progress (1-based) and ``step`` the number of its mini-batches
    done; ``order`` is that epoch's permutation (None between epochs); ``loss_sum`` the sum
    of its mini-batch losses times their sizes; ``best_score`` / ``best_state`` / ``waited``
    the early-stopping bookkeeping; ``rng`` the state of each random stream
    (:func:`seed_streams`) when it was saved; ``finished`` is set once training ended.
    """

    epoch: int = 1
    step: int = 0
    order: np.ndarray | None = None
    loss_sum: float = 0.0
    epoch_seconds: float = 0.0
    best_score: float | None = None
    best_state: dict[str, np.ndarray] | None = None
    waited: int = 0
    history: History = field(default_factory=History)
    rng: dict[str, Mapping[str, Any]] | None = None
    finished: bool = False


class Interrupted(Exception):
    """Training stopped at a step boundary because ``stop()`` said so (e.g. Ctrl+C), after
    the checkpoint callback saw the state."""

    def __init__(self, state: LoopState) -> None:
        super().__init__(f"training interrupted at epoch {state.epoch}, step {state.step}")
        self.state = state


#: ``checkpoint(model, optimizer, config, state)``: called with everything a resumption needs
Checkpoint = Callable[[Sequential, Any, "TrainConfig", LoopState], None]


def make_model_optimizer(model: Sequential, config: TrainConfig) -> Optimizer:
    """The optimizer :func:`fit` trains ``model`` with: ``config``'s kind and settings over
    the model's parameters, updated in its flat buffers."""
    return make_optimizer(
        config.optimizer,
        list(model.named_parameters()),
        config.lr,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
        betas=config.betas,
        flat=model.flat_buffers(),
    )


def fit(
    model: Sequential,
    train: Any,
    val: Any | None,
    config: TrainConfig,
    *,
    log: Callable[[dict[str, Any]], None] | None = None,
    progress: bool | None = None,
    checkpoint: Checkpoint | None = None,
    checkpoint_every: int | None = None,
    resume: tuple[LoopState, dict[str, np.ndarray]] | None = None,
    stop: Callable[[], bool] | None = None,
    optimizer: Optimizer | None = None,
) -> History:
    """Train ``model`` in place and return its :class:`History`.

    Parameters
    ----------
    model : Sequential
        A built model (its initial weights come from the caller, e.g. ``presets.build``).
    train, val : objects with ``images`` (N, 28, 28) uint8 and ``labels`` (N,) int
        Training and validation splits; ``val`` may be None or empty (no early stopping then).
    config : TrainConfig
    log : callable, optional
        Receives each epoch's record (a dict) as soon as the epoch ends.
    progress : bool, optional
        Draw a per-batch progress bar on stderr (default: only on a terminal).
    checkpoint : callable, optional
        ``checkpoint(model, optimizer, config, state)`` at the end of every epoch and every
        ``checkpoint_every`` mini-batches (:class:`LoopState`; see
        :mod:`digitnet.training.checkpoint`).
    resume : (LoopState, optimizer state), optional
        Continue a run from a checkpoint; ``model`` must hold the checkpoint's weights. The
        result is bit for bit that of the uninterrupted run (same machine and code).
    stop : callable, optional
        Asked after every mini-batch; when it returns True the state is checkpointed and
        :class:`Interrupted` raised.
    optimizer : Optimizer, optional
        The optimizer to continue with (:func:`make_model_optimizer` of ``model``, its
        moments and step count carried over from earlier calls, as scikit-learn's
        ``partial_fit`` does); by default a new one. Not together with ``resume``.

    Raises
    ------
    DivergenceError
        When the loss becomes NaN or infinite.
    """
    config.validate()
    streams = seed_streams(config.seed)
    for layer in model.layers:  # dropout draws from its own stream
        if hasattr(layer, "rng"):
            layer.rng = streams["dropout"]
    if optimizer is None:
        optimizer = make_model_optimizer(model, config)
    elif resume is not None:
        raise ConfigError("give an optimizer to continue with or a run to resume, not both")
    schedule = config.lr_schedule()
    augment = _make_augmenter(config, streams["augment"])
    state = LoopState()
    if resume is not None:
        state, optimizer_state = resume
        try:
            optimizer.load_state_dict(optimizer_state)
            if state.rng is None:
                raise ValueError("it holds no random streams")
            for name, gen in streams.items():
                gen.bit_generator.state = state.rng[name]
        except (ValueError, TypeError, KeyError) as exc:
            raise ConfigError(
                f"the checkpoint does not fit this model and settings: {exc}"
            ) from None
    has_val = val is not None and len(val.labels) > 0
    history = state.history

    def save() -> None:
        if checkpoint is not None:
            state.rng = {name: gen.bit_generator.state for name, gen in streams.items()}
            checkpoint(model, optimizer, config, state)

    def after_step() -> None:
        if stop is not None and stop():
            save()
            raise Interrupted(state)
        if checkpoint_every and state.step % checkpoint_every == 0:
            save()

    while state.epoch <= config.epochs and not state.finished:
        epoch = state.epoch
        # a diverging run overflows before its loss turns NaN: report that once, clearly,
        # instead of a screen of numpy warnings
        with np.errstate(over="ignore", invalid="ignore"):
            record = _train_epoch(
                model,
                train,
                config,
                optimizer,
                schedule,
                streams["shuffle"],
                augment,
                state,
                progress,
                after_step,
            )
        history.train_seconds += record["seconds"]
        if has_val:
            record.update(_validate(model, val, config))
        history.epochs.append(record)
        if log is not None:
            log(record)
        state.epoch = epoch + 1
        if has_val:
            score = record["val_loss"] if config.monitor == "val_loss" else -record["val_accuracy"]
            if state.best_score is None or score < state.best_score:
                state.best_score, state.waited, history.best_epoch = score, 0, epoch
                if config.restore_best:
                    state.best_state = model.copy_state()
            else:
                state.waited += 1
                if config.patience is not None and state.waited >= config.patience:
                    history.stopped_early = True
                    state.finished = True
        state.finished = state.finished or state.epoch > config.epochs
        save()
    if state.best_state is not None:
        model.load_state_dict(state.best_state)
    return history


def _make_augmenter(config: TrainConfig, rng: np.random.Generator):
    if not config.augment:
        return None
    from digitnet.data.augment import Augmenter

    # the settings come from presets, model files and checkpoints (JSON): Augmenter checks
    # each name and value, and an unknown name is a TypeError
    settings: dict[str, Any] = dict(config.augment)
    try:
        return Augmenter(**settings, rng=rng)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid augmentation settings {config.augment}: {exc}") from None


def _train_epoch(
    model, train, config, optimizer, schedule, rng, augment, state, progress, after_step
):
    """The rest of the epoch ``state.epoch`` from mini-batch ``state.step`` (a new epoch
    draws its permutation first); returns the epoch's record and resets the position."""
    images, labels = train.images, np.asarray(train.labels)
    n, bs = images.shape[0], config.batch_size
    loss_fn = get_loss(config.loss)
    steps = math.ceil(n / bs)
    buf = np.empty((bs,) + tuple(model.input_shape), dtype=np.float32)
    epoch = state.epoch
    start = time.perf_counter() - state.epoch_seconds
    if state.order is None:
        order = rng.permutation(n) if config.shuffle else np.arange(n)
        state.order, state.step, state.loss_sum = order, 0, 0.0
    order = state.order
    label = f"Epoch {epoch}/{config.epochs}"
    with ProgressBar(steps, label, enabled=progress) as bar:
        for step in range(state.step, steps):
            idx = order[step * bs : (step + 1) * bs]
            xb = to_input(images[idx], model.input_shape, buf[: idx.size])
            if augment is not None:
                xb = augment(xb)
            optimizer.lr = schedule(epoch - 1 + step / steps)
            out = model.forward(xb, training=True)
            if config.loss == "cross_entropy":
                loss, dout = softmax_cross_entropy(out, labels[idx], config.label_smoothing)
            else:
                loss, dout = loss_fn(out, labels[idx])
            if not math.isfinite(loss):
                raise DivergenceError(
                    f"training diverged at epoch {epoch}, batch {step + 1} (loss {loss}): the "
                    f"learning rate {optimizer.lr:g} is probably too high; try "
                    f"{config.lr / 10:g}"
                )
            model.backward(dout)
            optimizer.step()
            state.loss_sum += loss * idx.size
            state.step = step + 1
            state.epoch_seconds = time.perf_counter() - start
            bar.update()
            if bar.enabled and step % 20 == 0:
                bar.note(_run_left(state, step + 1, steps, config.epochs - epoch))
            if state.step < steps:
                after_step()
    seconds = time.perf_counter() - start
    record = {
        "epoch": epoch,
        "epochs": config.epochs,
        "train_loss": state.loss_sum / n,
        "lr": optimizer.lr,
        "seconds": seconds,
    }
    state.order, state.step, state.loss_sum, state.epoch_seconds = None, 0, 0.0, 0.0
    return record


def _run_left(state: LoopState, done: int, steps: int, epochs_after: int) -> str:
    """``run ~4m10s left``: this epoch's rest and the epochs after it, at this epoch's pace."""
    per_step = state.epoch_seconds / max(done, 1)
    seconds = per_step * ((steps - done) + epochs_after * steps)
    minutes, secs = divmod(int(seconds), 60)
    return f"run ~{minutes}m{secs:02d}s left" if minutes else f"run ~{secs}s left"


def _validate(model, val, config) -> dict[str, Any]:
    start = time.perf_counter()
    loss, correct = evaluate_loss_accuracy(
        model, val.images, np.asarray(val.labels), config.loss, config.eval_batch_size
    )
    total = len(val.labels)
    return {
        "val_loss": loss,
        "val_correct": correct,
        "val_total": total,
        "val_accuracy": correct / total,
        "eval_seconds": time.perf_counter() - start,
    }
