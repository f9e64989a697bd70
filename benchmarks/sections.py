"""The measurements of the benchmark suite, one function per section.

Every section returns a JSON-compatible dict with a ``status`` ("ok", "skipped", "error") and
its rows. A peer framework that is not installed gives a row entry
``{"status": "skipped", "reason": "not installed"}``, never an error.

Fairness rules applied throughout:

- the thread count is fixed before NumPy and PyTorch are imported (see run.py);
- the frameworks alternate (digitnet, PyTorch, digitnet, PyTorch, ...) so that machine
  noise hits both alike, with a short pause at each switch (:func:`settle`) so that the other
  library's spinning BLAS/OpenMP worker threads have gone to sleep;
- the same architecture (the PyTorch twin is built from the digitnet model's config and
  verified to compute the same function), batch size, optimizer, float32 and data pipeline
  (per-batch gather from uint8 images, then /255);
- no data augmentation in the speed comparisons.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import flops
import numpy as np

from digitnet.data import Split
from digitnet.data.preprocess import to_input
from digitnet.nn import Dense, Flatten, ReLU, Sequential, Sigmoid
from digitnet.training import presets
from digitnet.training.loop import TrainConfig, fit, seed_streams

SETTLE_SECONDS = 0.25
BATCH_SIZE = 128
SPEED_LR = 0.01  # speed runs: small enough never to diverge; speed ignores it
FULL_EPOCH = 50_000  # training images per epoch (MNIST minus 10,000 for validation)

# The targets. Ratios are digitnet time / PyTorch time (lower is better).
TARGETS = {
    "train_ratio": {"relu-128-64": 0.7, "wide-mlp": 1.0, "lenet5": 1.5, "cnn": 1.5},
    # "Wide MLP and inference at batch 1000: digitnet <= 1.0x PyTorch" (MLPs); the CNNs are
    # held to the CNN bound, 1.5x
    "inference_ratio": {"relu-128-64": 1.0, "wide-mlp": 1.0, "lenet5": 1.5, "cnn": 1.5},
    "shipped_latency_ms": 2.0,
    "seed_speedup": 20.0,
    "memory_mb": {"lenet5": 2000.0, "cnn": 2000.0},
    "accuracy": {"relu-128-64": 0.98, "lenet5": 0.99},
}


@dataclass
class Plan:
    """How much to measure: the full suite, or a smoke run (--quick)."""

    quick: bool
    warmup_epochs: int = 1
    epochs: int = 5
    train_images: int | None = None  # None: the whole training split
    infer_images: int = 10_000
    infer_repeats: int = 11  # passes per framework (5 left +-15% noise)
    latency_calls: int = 300  # per framework
    latency_rounds: int = 5
    target_cap: dict[str, int] | None = None  # None: the preset's own epochs
    target_train_images: int | None = None
    seed_examples: int = FULL_EPOCH  # examples per timed run of the per-sample loop
    seed_runs: int = 5
    memory_presets: tuple[str, ...] | None = None  # None: every preset
    memory_check_preset: str = "cnn"
    sgemm_size: int = 2048
    sgemm_repeats: int = 5
    models: tuple[str, ...] | None = None  # None: every model of sections 1 and 2

    @classmethod
    def make(cls, quick: bool) -> Plan:
        if not quick:
            return cls(quick=False)
        return cls(
            quick=True,
            warmup_epochs=1,
            epochs=2,
            train_images=3840,
            infer_images=2000,
            infer_repeats=2,
            latency_calls=40,
            latency_rounds=2,
            target_cap={"relu-128-64": 1, "lenet5": 2},
            target_train_images=5000,
            seed_examples=2000,
            seed_runs=1,
            memory_presets=("relu-10", "relu-128-64"),
            memory_check_preset="relu-10",
            sgemm_size=1024,
            sgemm_repeats=3,
        )


@dataclass
class Bench:
    """What every section needs: data, plan, optional peers, a logger."""

    data: Any  # digitnet.data.MNIST
    data_dir: Path
    plan: Plan
    threads: int
    torch: Any = None  # the module, or None
    sklearn_ok: bool = False
    log: Callable[[str], None] = print
    results: dict[str, Any] = field(default_factory=dict)

    def train_split(self, n: int | None) -> Split:
        if n is None or n >= len(self.data.train):
            return self.data.train
        return Split(self.data.train.images[:n], self.data.train.labels[:n])


def settle() -> None:
    """Between frameworks: collect garbage, then let spinning worker threads sleep."""
    gc.collect()
    time.sleep(SETTLE_SECONDS)


def summary(values: list[float], digits: int = 4) -> dict[str, Any]:
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "values": [round(v, digits) for v in values],
    }


def skipped(reason: str) -> dict[str, str]:
    return {"status": "skipped", "reason": reason}


def failed(exc: BaseException) -> dict[str, str]:
    return {
        "status": "error",
        "error": f"{type(exc).__name__}: {exc}",
        "traceback": traceback.format_exc(),
    }


def describe(config: dict[str, Any]) -> str:
    """A one-line architecture from a model config, e.g. 'conv6@5x5 relu pool2 ... dense10'."""
    parts = []
    for layer in config["layers"]:
        t = layer["type"]
        if t == "Dense":
            parts.append(f"dense{layer['units']}")
        elif t == "Conv2D":
            k = layer["kernel_size"]
            parts.append(f"conv{layer['filters']}@{k[0]}x{k[1]}")
        elif t in ("MaxPool2D", "AvgPool2D"):
            parts.append(("max" if t == "MaxPool2D" else "avg") + f"pool{layer['pool_size'][0]}")
        elif t == "Dropout":
            parts.append(f"dropout{layer['rate']:g}")
        elif t == "BatchNorm":
            parts.append("bn")
        elif t != "Flatten":
            parts.append(t.lower())
    return " ".join(parts)


# -- the models compared ----------------------------------------------------------------------


def wide_mlp(seed: int = 0) -> Sequential:
    """784-512-256-10 ReLU, He init: the issue's wide MLP."""
    return Sequential(
        [Flatten(), Dense(512), ReLU(), Dense(256), ReLU(), Dense(10)],
        presets.INPUT_SHAPE,
        seed_streams(seed)["init"],
    )


def speed_models(only: tuple[str, ...] | None = None) -> list[tuple[str, Callable[[], Sequential]]]:
    """The models of sections 1 and 2 (all, or those named in ``only``); run.py's
    SPEED_MODELS lists the same names."""
    makers = {
        "relu-128-64": lambda: presets.build("relu-128-64", 0)[0],
        "wide-mlp": wide_mlp,
        "lenet5": lambda: presets.build("lenet5", 0)[0],
        "cnn": lambda: presets.build("cnn", 0)[0],
    }
    return [(name, make) for name, make in makers.items() if only is None or name in only]


def _torch_data(torch, split: Split):
    images = torch.from_numpy(np.array(split.images, dtype=np.uint8))  # writable copy
    labels = torch.from_numpy(np.asarray(split.labels, dtype=np.int64).copy())
    return images, labels


def _twin(b: Bench, model: Sequential) -> tuple[Any, dict[str, Any]]:
    """(twin with the model's weights, check result); raises if the twin does not match."""
    import torch_twin

    twin = torch_twin.build(model.get_config())
    torch_twin.copy_weights(model, twin)
    test = b.data.test
    check = torch_twin.verify(model, twin, test.images[:64], test.labels[:64])
    if not check["ok"]:
        raise RuntimeError(f"the PyTorch twin does not match the model: {check['max_rel_error']}")
    return twin, check


def _peer_status(b: Bench) -> dict[str, str] | None:
    return None if b.torch is not None else skipped("not installed")


# -- 1. training epoch ------------------------------------------------------------------------


def train_epochs(b: Bench) -> dict[str, Any]:
    p = b.plan
    train = b.train_split(p.train_images)
    n = len(train)
    scale = FULL_EPOCH / n if n != FULL_EPOCH else 1.0
    rows = []
    for name, make in speed_models(b.plan.models):
        try:
            rows.append(_train_row(b, name, make, train, scale))
        except Exception as exc:  # digitnet itself failed on this model
            b.log(f"[train] {name}: ERROR {exc}")
            rows.append(
                {"model": name, "digitnet": failed(exc), "torch": skipped("digitnet failed")}
            )
    return {
        "status": "ok",
        "rows": rows,
        "images_per_epoch": FULL_EPOCH,
        "measured_images": n,
        "scaled": scale != 1.0,
        "warmup_epochs": p.warmup_epochs,
        "measured_epochs": p.epochs,
        "batch_size": BATCH_SIZE,
        "optimizer": f"SGD with momentum 0.9, lr {SPEED_LR}, constant, no weight decay",
        "augmentation": "none",
    }


def _train_row(
    b: Bench, name: str, make: Callable[[], Sequential], train: Split, scale: float
) -> dict[str, Any]:
    """Alternating digitnet and PyTorch epochs of one model."""
    p, n = b.plan, len(train)
    model = make()
    config = model.get_config()
    row: dict[str, Any] = {
        "model": name,
        "architecture": describe(config),
        "parameters": model.num_parameters(),
        "config": config,
    }
    b.log(f"[train] {name}: {row['architecture']} ({row['parameters']:,} parameters)")
    cfg = TrainConfig(
        epochs=1,
        batch_size=BATCH_SIZE,
        optimizer="momentum",
        lr=SPEED_LR,
        momentum=0.9,
        weight_decay=0.0,
        schedule="constant",
        augment=None,
    )
    twin = torch_run = None
    row["torch"] = _peer_status(b)
    if b.torch is not None:
        try:
            import torch_twin

            twin, row["twin_check"] = _twin(b, model)
            opt = torch_twin.make_optimizer(twin, "momentum", SPEED_LR, 0.9)
            images_t, labels_t = _torch_data(b.torch, train)
            gen = b.torch.Generator().manual_seed(0)

            def torch_run(twin=twin, opt=opt, images_t=images_t, labels_t=labels_t, gen=gen):
                return torch_twin.train_epoch(
                    twin,
                    opt,
                    images_t,
                    labels_t,
                    BATCH_SIZE,
                    lambda: b.torch.randperm(n, generator=gen),
                )["seconds"]
        except Exception as exc:
            row["torch"] = failed(exc)
            twin = torch_run = None
    d_times, t_times = [], []
    for k in range(p.warmup_epochs + p.epochs):
        measured = k >= p.warmup_epochs
        settle()
        sec = fit(model, train, None, dataclasses.replace(cfg, seed=k), progress=False).epochs[0][
            "seconds"
        ]
        if measured:
            d_times.append(sec * scale)
        if torch_run is not None:
            settle()
            try:
                t = torch_run()
                if measured:
                    t_times.append(t * scale)
            except Exception as exc:
                row["torch"] = failed(exc)
                torch_run = None
        b.log(
            f"[train] {name} epoch {k + 1}{'' if measured else ' (warm-up)'}: "
            f"digitnet {sec * scale:.2f} s"
            + (f", PyTorch {t * scale:.2f} s" if torch_run is not None else "")
        )
    row["digitnet"] = {"status": "ok", "seconds": summary(d_times)}
    target = TARGETS["train_ratio"].get(name)
    if target is not None:
        row["target"] = {"max_ratio": target, "met": None}  # None: no peer, no verdict
    if torch_run is not None and t_times:
        row["torch"] = {"status": "ok", "seconds": summary(t_times)}
        ratio = row["digitnet"]["seconds"]["median"] / row["torch"]["seconds"]["median"]
        row["ratio"] = round(ratio, 3)
        if target is not None:
            row["target"]["met"] = ratio <= target
    return row


# -- 2. inference -----------------------------------------------------------------------------


def _latency_ms(
    calls: list[Callable[[], Any]], count: int, rounds: int, skip: int = 3
) -> list[list[float]]:
    """Per-call milliseconds of each function, alternating blocks of calls between them.

    The first ``skip`` calls of each block (just after a switch) are discarded."""
    per_block = max(count // rounds, 1)
    out: list[list[float]] = [[] for _ in calls]
    for _ in range(rounds):
        for i, fn in enumerate(calls):
            settle()
            for j in range(per_block + skip):
                t = time.perf_counter_ns()
                fn(j)
                dt = (time.perf_counter_ns() - t) / 1e6
                if j >= skip:
                    out[i].append(dt)
    return out


def _latency_summary(ms: list[float]) -> dict[str, Any]:
    ms = sorted(ms)
    return {
        "median_ms": round(statistics.median(ms), 4),
        "min_ms": round(ms[0], 4),
        "p90_ms": round(ms[int(0.9 * (len(ms) - 1))], 4),
        "calls": len(ms),
    }


def inference(b: Bench) -> dict[str, Any]:
    n = min(b.plan.infer_images, len(b.data.test))
    rows = []
    for name, make in speed_models(b.plan.models):
        try:
            rows.append(_inference_row(b, name, make, n))
        except Exception as exc:
            b.log(f"[inference] {name}: ERROR {exc}")
            rows.append(
                {"model": name, "digitnet": failed(exc), "torch": skipped("digitnet failed")}
            )
    return {
        "status": "ok",
        "rows": rows,
        "images": n,
        "batch_size": 1000,
        "shipped": _shipped(b, n),
    }


def _inference_row(b: Bench, name: str, make: Callable[[], Sequential], n: int) -> dict[str, Any]:
    """Throughput at batch 1000 and single-image latency of one model, both frameworks."""
    p, test = b.plan, b.data.test
    model = make()
    row: dict[str, Any] = {"model": name, "architecture": describe(model.get_config())}
    x = to_input(test.images[:n], model.input_shape)  # (n, *input) float32
    twin, row["torch"] = None, _peer_status(b)
    if b.torch is not None:
        try:
            import torch_twin

            twin, _ = _twin(b, model)
            xt = torch_twin.to_torch_input(x, twin)
        except Exception as exc:
            row["torch"] = failed(exc)
            twin = None
    d_ips, t_ips = [], []
    for _ in range(p.infer_repeats):
        settle()
        t0 = time.perf_counter()
        model.predict_logits(x, 1000)
        d_ips.append(n / (time.perf_counter() - t0))
        if twin is not None:
            settle()
            t0 = time.perf_counter()
            torch_twin.predict_logits(twin, xt, 1000)
            t_ips.append(n / (time.perf_counter() - t0))
    calls = [lambda j, m=model, x=x: m.predict_logits(x[j % 100 : j % 100 + 1])]
    if twin is not None:
        net = twin.net.eval()

        def torch_one(j, net=net, xt=xt):
            with b.torch.inference_mode():
                return net(xt[j % 100 : j % 100 + 1])

        calls.append(torch_one)
    lat = _latency_ms(calls, p.latency_calls, p.latency_rounds)
    row["digitnet"] = {
        "status": "ok",
        "images_per_second": summary(d_ips, 0),
        "latency": _latency_summary(lat[0]),
    }
    target = TARGETS["inference_ratio"].get(name)
    if target is not None:
        row["target"] = {"max_ratio": target, "met": None}
    if twin is not None:
        row["torch"] = {
            "status": "ok",
            "images_per_second": summary(t_ips, 0),
            "latency": _latency_summary(lat[1]),
        }
        tr = (
            row["torch"]["images_per_second"]["median"]
            / row["digitnet"]["images_per_second"]["median"]
        )
        lr = row["digitnet"]["latency"]["median_ms"] / row["torch"]["latency"]["median_ms"]
        row["throughput_time_ratio"] = round(tr, 3)
        row["latency_ratio"] = round(lr, 3)
        if target is not None:
            row["target"]["met"] = tr <= target
    b.log(
        f"[inference] {name}: digitnet {row['digitnet']['images_per_second']['median']:,.0f}"
        f" img/s, {row['digitnet']['latency']['median_ms']:.3f} ms"
        + (
            f"; PyTorch {row['torch']['images_per_second']['median']:,.0f} img/s, "
            f"{row['torch']['latency']['median_ms']:.3f} ms"
            if twin is not None
            else ""
        )
    )
    return row


def _shipped(b: Bench, n: int) -> dict[str, Any]:
    """The model shipped in the package: throughput, and end-to-end single-image latency
    (uint8 image -> probabilities, the model's share of `digitnet predict`, which also runs
    the segment checker, a network of the same size: about twice this)."""
    try:
        from digitnet.errors import ModelFileError
        from digitnet.evaluation.evaluate import predict_proba
        from digitnet.models import load_shipped_model, shipped_model_path

        try:
            path = shipped_model_path()
        except ModelFileError:
            return skipped("no shipped model in this install")
        model = load_shipped_model()
        test = b.data.test
        x = to_input(test.images[:n], model.input_shape)
        ips = []
        for _ in range(b.plan.infer_repeats):
            settle()
            t0 = time.perf_counter()
            model.predict_logits(x, 1000)
            ips.append(n / (time.perf_counter() - t0))
        images = test.images
        lat = _latency_ms(
            [lambda j: predict_proba(model, images[j % 100 : j % 100 + 1])],
            b.plan.latency_calls,
            b.plan.latency_rounds,
        )[0]
        out = {
            "status": "ok",
            "path": str(path),
            "kind": type(model).__name__,
            "preset": model.meta.get("preset"),
            "images_per_second": summary(ips, 0),
            "latency": _latency_summary(lat),
        }
        ms = out["latency"]["median_ms"]
        out["target"] = {
            "max_ms": TARGETS["shipped_latency_ms"],
            "met": ms <= TARGETS["shipped_latency_ms"],
        }
        b.log(
            f"[inference] shipped model: {out['images_per_second']['median']:,.0f} img/s, "
            f"{ms:.3f} ms end to end"
        )
        return out
    except Exception as exc:
        return failed(exc)


# -- 3. time to target accuracy ---------------------------------------------------------------


class _Stop(Exception):
    pass


@dataclass
class _Runner:
    """One framework's run towards the target: epochs, training seconds, test accuracy."""

    name: str
    target: float
    cap: int
    epoch_fn: Callable[[int], float] | None = None  # trains one epoch, returns seconds
    acc_fn: Callable[[], float] | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    error: dict[str, str] | None = None

    @property
    def done(self) -> bool:
        return (
            self.error is not None
            or len(self.history) >= self.cap
            or bool(self.history and self.history[-1]["test_accuracy"] >= self.target)
        )

    def record(self, seconds: float, acc: float, log) -> None:
        total = seconds + (self.history[-1]["train_seconds_total"] if self.history else 0.0)
        self.history.append(
            {
                "epoch": len(self.history) + 1,
                "train_seconds": round(seconds, 3),
                "train_seconds_total": round(total, 3),
                "test_accuracy": round(acc, 4),
            }
        )
        log(f"[target]   {self.name} epoch {len(self.history)}: {acc:.2%} ({total:.1f} s training)")

    def step(self, log) -> None:
        try:
            sec = self.epoch_fn(len(self.history) + 1)
            self.record(sec, self.acc_fn(), log)
        except Exception as exc:
            self.error = failed(exc)

    def result(self) -> dict[str, Any]:
        if self.error is not None:
            return self.error
        last = self.history[-1]
        reached = last["test_accuracy"] >= self.target
        return {
            "status": "ok",
            "reached": reached,
            "epochs": last["epoch"],
            "train_seconds": last["train_seconds_total"],
            "best_test_accuracy": max(h["test_accuracy"] for h in self.history),
            "history": self.history,
        }


def _torch_runner(
    b: Bench, model: Sequential, cfg: TrainConfig, train: Split, target: float
) -> _Runner:
    """PyTorch trained exactly like digitnet's fit: same initial weights, same shuffled
    order (digitnet's own shuffle stream), same optimizer (momentum in digitnet's form, see
    torch_twin.train_epoch), weight decay on weights only, and the same per-batch
    learning-rate schedule. Only float32 rounding differs."""
    import torch_twin

    from digitnet.nn import make_schedule

    twin, _ = _twin(b, model)
    if cfg.loss != "cross_entropy":
        raise torch_twin.TwinError(f"loss {cfg.loss!r} has no twin here")
    opt = torch_twin.make_optimizer(twin, cfg.optimizer, cfg.lr, cfg.momentum, cfg.weight_decay)
    schedule = make_schedule(
        cfg.schedule,
        cfg.lr,
        cfg.epochs,
        warmup=cfg.warmup,
        step_size=cfg.step_size,
        gamma=cfg.gamma,
        min_lr=cfg.min_lr,
    )
    shuffle = seed_streams(cfg.seed)["shuffle"]
    images_t, labels_t = _torch_data(b.torch, train)
    test = b.data.test
    xt = torch_twin.to_torch_input(to_input(test.images, model.input_shape), twin)
    n = len(train)

    def epoch(e: int) -> float:
        return torch_twin.train_epoch(
            twin,
            opt,
            images_t,
            labels_t,
            cfg.batch_size,
            lambda: b.torch.from_numpy(shuffle.permutation(n)),
            lambda frac: schedule(e - 1 + frac),
            cfg.label_smoothing,
            digitnet_momentum=cfg.optimizer in ("momentum", "nesterov"),
        )["seconds"]

    return _Runner(
        "PyTorch", target, cfg.epochs, epoch, lambda: torch_twin.accuracy(twin, xt, test.labels)
    )


def _sklearn_runner(
    b: Bench, config: dict[str, Any], cfg: TrainConfig, train: Split, target: float
) -> _Runner:
    """scikit-learn's MLPClassifier with the same hidden layers, its default solver (adam,
    lr 0.001, alpha 1e-4), batch 128, one partial_fit (one shuffled epoch) at a time."""
    import warnings

    from sklearn.neural_network import MLPClassifier

    layers = config["layers"]
    dense = [l_["units"] for l_ in layers if l_["type"] == "Dense"]
    acts = {l_["type"] for l_ in layers} - {"Dense", "Flatten"}
    if acts != {"ReLU"}:
        raise ValueError(f"only ReLU MLPs have an MLPClassifier twin here, got {acts}")
    clf = MLPClassifier(
        hidden_layer_sizes=tuple(dense[:-1]),
        activation="relu",
        solver="adam",
        batch_size=cfg.batch_size,
        random_state=cfg.seed,
        shuffle=True,
    )
    x = train.images.reshape(len(train), -1).astype(np.float32) / np.float32(255)
    y = np.asarray(train.labels)
    test = b.data.test
    xtest = test.images.reshape(len(test), -1).astype(np.float32) / np.float32(255)
    classes = np.arange(10)

    def epoch(e: int) -> float:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.partial_fit(x, y, classes=classes)
        return time.perf_counter() - t0

    return _Runner(
        "scikit-learn",
        target,
        cfg.epochs,
        epoch,
        lambda: float((clf.predict(xtest) == test.labels).mean()),
    )


def time_to_accuracy(b: Bench) -> dict[str, Any]:
    p = b.plan
    train = b.train_split(p.target_train_images)
    rows = []
    for name, target in TARGETS["accuracy"].items():
        preset = presets.get(name)
        cap = (p.target_cap or {}).get(name, preset.config.epochs)
        cap = max(cap, math.floor(preset.config.warmup) + 1)  # the schedule needs it
        model, cfg = presets.build(name, 0, epochs=cap)
        notes = []
        if cfg.augment:
            cfg = dataclasses.replace(cfg, augment=None)
            notes.append("augmentation turned off (on every side)")
        row: dict[str, Any] = {
            "model": name,
            "target": target,
            "cap_epochs": cap,
            "train_images": len(train),
            "settings": {
                k: getattr(cfg, k)
                for k in (
                    "batch_size",
                    "optimizer",
                    "lr",
                    "momentum",
                    "weight_decay",
                    "schedule",
                    "warmup",
                )
            },
            "notes": notes,
        }
        b.log(f"[target] {name}: until {target:.1%} test accuracy, at most {cap} epochs")
        x_test = to_input(b.data.test.images, model.input_shape)
        d_run = _Runner("digitnet", target, cap)
        others: list[_Runner] = []
        row["torch"] = _peer_status(b)
        if b.torch is not None:
            try:
                others.append(_torch_runner(b, model, cfg, train, target))
            except Exception as exc:
                row["torch"] = failed(exc)
        if name == "relu-128-64":
            row["sklearn"] = skipped("not installed")
            if b.sklearn_ok:
                try:
                    others.append(_sklearn_runner(b, model.get_config(), cfg, train, target))
                except Exception as exc:
                    row["sklearn"] = failed(exc)

        def on_epoch(
            record: dict[str, Any], model=model, x_test=x_test, d_run=d_run, others=others
        ) -> None:
            acc = float((model.predict(x_test) == b.data.test.labels).mean())
            d_run.record(record["seconds"], acc, b.log)
            for r in others:  # interleave: one epoch of each peer
                if not r.done:
                    settle()
                    r.step(b.log)
            settle()
            if d_run.done:
                raise _Stop

        try:
            settle()
            fit(model, train, None, cfg, log=on_epoch, progress=False)
        except _Stop:
            pass
        except Exception as exc:
            d_run.error = failed(exc)
        while not all(r.done for r in others):
            for r in others:
                if not r.done:
                    settle()
                    r.step(b.log)
        row["digitnet"] = (
            d_run.result() if d_run.history or d_run.error else failed(RuntimeError("no epoch ran"))
        )
        for r in others:
            row["torch" if r.name == "PyTorch" else "sklearn"] = r.result()
        rows.append(row)
    return {
        "status": "ok",
        "rows": rows,
        "sklearn_solver": "adam (MLPClassifier's default: lr 0.001, alpha 1e-4)",
    }


# -- 4. the seeds' per-sample loop ------------------------------------------------------------


def seed_loop(b: Bench) -> dict[str, Any]:
    import seed_loop as sl

    p = b.plan
    full = b.data.train
    n_seed = min(p.seed_examples, len(full))
    examples = sl.as_examples(full.images[:n_seed], full.labels[:n_seed])
    rng = np.random.default_rng(0)
    net = sl.PerSampleNetwork([784, 30, 10], rng)
    train = b.train_split(p.train_images)
    d_scale = FULL_EPOCH / len(train)
    seed_scale = FULL_EPOCH / n_seed

    preset_model, preset_cfg = presets.build("sigmoid", 0, epochs=1)
    same = Sequential(
        [Flatten(), Dense(30, init="lecun"), Sigmoid(), Dense(10, init="lecun"), Sigmoid()],
        presets.INPUT_SHAPE,
        seed_streams(0)["init"],
    )
    same_cfg = TrainConfig(epochs=1, batch_size=10, optimizer="sgd", lr=3.0, loss="mse")
    times: dict[str, list[float]] = {
        "per-sample loop": [],
        "sigmoid preset": [],
        "same network": [],
    }
    net.train_examples(examples[:1000], 10, 3.0, rng)  # warm-up
    for k in range(p.warmup_epochs + p.seed_runs):
        measured = k >= p.warmup_epochs
        now: dict[str, float] = {}
        if measured:  # the loop needs no warm-up epoch: it is the same code each time
            settle()
            now["per-sample loop"] = net.train_examples(examples, 10, 3.0, rng) * seed_scale
            times["per-sample loop"].append(now["per-sample loop"])
        for key, model, cfg in (
            ("sigmoid preset", preset_model, preset_cfg),
            ("same network", same, same_cfg),
        ):
            settle()
            now[key] = (
                fit(model, train, None, dataclasses.replace(cfg, seed=k), progress=False).epochs[0][
                    "seconds"
                ]
                * d_scale
            )
            if measured:
                times[key].append(now[key])
        b.log(
            f"[seed] run {k + 1}{'' if measured else ' (warm-up)'}: "
            + ", ".join(f"{key} {v:.2f} s" for key, v in now.items())
        )
    test = b.data.test
    acc = net.accuracy(test.images, test.labels)
    seed_s = summary(times["per-sample loop"], 3)
    preset_s = summary(times["sigmoid preset"], 3)
    ratio = seed_s["median"] / preset_s["median"]
    # work per epoch: the loop does the same matrix products as digitnet on `same`, one
    # example at a time (no input gradient for the first layer either)
    gflop = {
        "seed": flops.training_flops(same.get_config(), FULL_EPOCH)["total"] / 1e9,
        "preset": flops.training_flops(preset_model.get_config(), FULL_EPOCH)["total"] / 1e9,
    }
    gflop["same"] = gflop["seed"]
    return {
        "status": "ok",
        "gflop_per_epoch": {k: round(v, 2) for k, v in gflop.items()},
        "gflops": {
            "seed": round(gflop["seed"] / seed_s["median"], 2),
            "preset": round(gflop["preset"] / preset_s["median"], 2),
            "same": round(gflop["same"] / statistics.median(times["same network"]), 2),
        },
        "seed": {
            "network": "[784, 30, 10] sigmoid, quadratic cost, float64, mini-batch 10, "
            "a Python loop over the examples of each mini-batch",
            "seconds_per_epoch": seed_s,
            "timed_examples": n_seed,
            "scaled": n_seed != FULL_EPOCH,
            "test_accuracy_after_timed_training": round(acc, 4),
        },
        "preset": {
            "network": describe(preset_model.get_config())
            + f" (preset sigmoid: batch {preset_cfg.batch_size}, "
            f"{preset_cfg.optimizer} lr {preset_cfg.lr})",
            "seconds_per_epoch": preset_s,
        },
        "same_network": {
            "network": "[784, 30, 10] sigmoid, quadratic cost, float32, "
            "mini-batch 10, SGD lr 3.0, in digitnet",
            "seconds_per_epoch": summary(times["same network"], 3),
            "speedup": round(seed_s["median"] / statistics.median(times["same network"]), 2),
        },
        "digitnet_measured_images": len(train),
        "digitnet_scaled": d_scale != 1.0,
        "speedup": round(ratio, 2),
        "target": {"min_speedup": TARGETS["seed_speedup"], "met": ratio >= TARGETS["seed_speedup"]},
    }


# -- 5. peak memory ---------------------------------------------------------------------------


def _child_env() -> dict[str, str]:
    """The environment of the child processes: the same threads, the same digitnet."""
    import digitnet

    env = dict(os.environ)
    src = str(Path(digitnet.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    return env


# A small process that starts the measured command and reports that command's own peak RSS.
# The wrapper matters: a child forked from this (large) process starts with this process's
# resident pages and Linux carries that peak over the exec into ru_maxrss; a child forked
# from a fresh ~10 MB interpreter carries only that.
_WRAPPER = """
import json, os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as f:
    json.dump({"exit_code": os.waitstatus_to_exitcode(status),
               "maxrss": usage.ru_maxrss}, f)
"""


def run_measured(cmd: list[str], cwd: str) -> dict[str, Any]:
    """Run ``cmd`` in a fresh process; return its exit code, wall seconds and peak RSS (MB).

    ``os.wait4`` (in the wrapper) gives the resource usage of that one child, so each run's
    peak is its own, not the maximum over every child so far as ``RUSAGE_CHILDREN`` would."""
    with tempfile.TemporaryDirectory(prefix="digitnet-rss-") as tmp:
        report = Path(tmp) / "rss.json"
        log = Path(tmp) / "output.txt"
        with open(log, "wb") as out:
            t0 = time.perf_counter()
            wrapper = subprocess.run(
                [sys.executable, "-c", _WRAPPER, str(report), *cmd],
                cwd=cwd,
                env=_child_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            )
            wall = time.perf_counter() - t0
        tail = log.read_text(errors="replace")[-2000:]
        if wrapper.returncode != 0 or not report.exists():
            return {
                "exit_code": wrapper.returncode,
                "wall_seconds": round(wall, 2),
                "peak_rss_mb": None,
                "output_tail": tail,
            }
        r = json.loads(report.read_text())
    nbytes = r["maxrss"] * (1 if sys.platform == "darwin" else 1024)  # Linux: KiB
    return {
        "exit_code": r["exit_code"],
        "wall_seconds": round(wall, 2),
        "peak_rss_mb": round(nbytes / 1e6, 1),
        "output_tail": tail,
    }


def min_epochs(name: str) -> int:
    """One epoch: the peak is reached in the first one (checked against two for one preset).
    A shortened run shortens the preset's warm-up with it, so every preset accepts 1."""
    return 1


def memory(b: Bench) -> dict[str, Any]:
    p = b.plan
    names = list(p.memory_presets or presets.PRESETS)
    rows = []
    with tempfile.TemporaryDirectory(prefix="digitnet-bench-") as tmp:

        def measure(name: str, epochs: int) -> dict[str, Any]:
            cmd = [
                sys.executable,
                "-m",
                "digitnet",
                "train",
                "--preset",
                name,
                "--epochs",
                str(epochs),
                "--data-dir",
                str(b.data_dir),
                "--out",
                str(Path(tmp) / f"{name}-{epochs}.npz"),
                "--quiet",
            ]
            r = {"preset": name, "epochs": epochs, **run_measured(cmd, tmp)}
            r["status"] = "ok" if r["exit_code"] == 0 and r["peak_rss_mb"] is not None else "error"
            if r["status"] == "ok":
                r.pop("output_tail")
            b.log(
                f"[memory] {name}, {epochs} epoch(s): {r['peak_rss_mb']} MB "
                f"({r['wall_seconds']} s, exit {r['exit_code']})"
            )
            return r

        base = run_measured(
            [
                sys.executable,
                "-c",
                "import sys; from digitnet.data import "
                "load_mnist; load_mnist(sys.argv[1], download=False)",
                str(b.data_dir),
            ],
            tmp,
        )
        b.log(f"[memory] baseline (Python + NumPy + MNIST loaded): {base['peak_rss_mb']} MB")
        for name in names:
            row = measure(name, min_epochs(name))
            limit = TARGETS["memory_mb"].get(name)
            if limit is not None and row["status"] == "ok":
                row["target"] = {"max_mb": limit, "met": row["peak_rss_mb"] < limit}
            rows.append(row)
        check_name = p.memory_check_preset
        first = next((r for r in rows if r["preset"] == check_name), None) or measure(
            check_name, min_epochs(check_name)
        )
        more = measure(check_name, first["epochs"] + 1)
    if first["status"] != "ok" or more["status"] != "ok":
        growth = None
    else:
        growth = round((more["peak_rss_mb"] - first["peak_rss_mb"]) / first["peak_rss_mb"], 4)
    return {
        "status": "ok",
        "rows": rows,
        "baseline": base,
        "first_epoch_check": {
            "preset": check_name,
            "epochs": first["epochs"],
            "mb": first["peak_rss_mb"],
            "more_epochs": more["epochs"],
            "more_mb": more["peak_rss_mb"],
            "growth": growth,
            "peak_in_first_epochs": growth is not None and abs(growth) < 0.05,
        },
        "command": "python -m digitnet train --preset NAME --epochs E --data-dir DIR "
        "--out TMP --quiet",
    }


# -- 6. efficiency ----------------------------------------------------------------------------


def efficiency(b: Bench) -> dict[str, Any]:
    train = b.results.get("sections", {}).get("train")
    if not train or train.get("status") != "ok":
        return skipped("needs the train section")
    rates = b.results.get("machine", {}).get("sgemm_gflops", {})
    np_rate, t_rate = rates.get("numpy"), rates.get("torch")
    rows = []
    for r in train["rows"]:
        if "config" not in r:
            continue
        f = flops.training_flops(r["config"], FULL_EPOCH)
        row: dict[str, Any] = {"model": r["model"], "gflop_per_epoch": round(f["total"] / 1e9, 2)}
        for who, rate in (("digitnet", np_rate), ("torch", t_rate)):
            peer = r.get(who) or {}
            if peer.get("status") != "ok":
                row[who] = peer or skipped("not measured")
                continue
            gflops = f["total"] / peer["seconds"]["median"] / 1e9
            row[who] = {
                "status": "ok",
                "gflops": round(gflops, 2),
                "percent_of_sgemm": round(100 * gflops / rate, 1) if rate else None,
                "percent_of_numpy_sgemm": round(100 * gflops / np_rate, 1) if np_rate else None,
            }
        rows.append(row)
    return {
        "status": "ok",
        "rows": rows,
        "sgemm_gflops": rates,
        "counted": "matrix products of Dense and Conv2D layers only: forward, weight "
        "gradient and input gradient (none for the first layer with "
        "parameters); 2 FLOPs per multiply-add",
    }


def augmentation(b: Bench) -> dict[str, Any]:
    """What on-the-fly augmentation costs: for each preset that augments, a training epoch
    with its augmentation and one without (same seed, same batches; alternated twice, the
    fastest of each kept), and the augmenter's own time over an epoch's batches (timed
    alone)."""
    from digitnet.data.augment import Augmenter

    train = b.train_split(b.plan.train_images)
    rows = []
    for name in ("cnn", "mlp-augment"):
        preset = presets.get(name)
        settings = dict(preset.config.augment or {})
        epoch: dict[str, float] = {}
        for _ in range(2):  # alternate, keep the fastest: no warm-up bias
            for label, aug in (("without", None), ("with", settings)):
                model, cfg = presets.build(name, seed=0, epochs=1, augment=aug, warmup=0.0)
                seconds = fit(model, train, None, cfg, progress=False).epochs[0]["seconds"]
                epoch[label] = min(epoch.get(label, math.inf), seconds)
                settle()
        augmenter = Augmenter(**settings, rng=np.random.default_rng(0))
        order = np.random.default_rng(1).permutation(len(train))
        alone = 0.0
        for start in range(0, len(train), BATCH_SIZE):
            x = to_input(train.images[order[start : start + BATCH_SIZE]], preset.input_shape)
            t0 = time.perf_counter()
            augmenter(x)
            alone += time.perf_counter() - t0
        rows.append(
            {
                "preset": name,
                "settings": settings,
                "images": len(train),
                "epoch_with_s": round(epoch["with"], 3),
                "epoch_without_s": round(epoch["without"], 3),
                "augmenter_alone_s": round(alone, 3),
                "overhead_percent": round(100 * alone / epoch["without"], 1),
            }
        )
        b.log(
            f"[augment] {name}: epoch {epoch['without']:.2f} s without, "
            f"{epoch['with']:.2f} s with augmentation; augmenter alone {alone:.2f} s "
            f"({rows[-1]['overhead_percent']}% of the plain epoch)"
        )
    return {"status": "ok", "rows": rows}


SECTIONS: dict[str, Callable[[Bench], dict[str, Any]]] = {
    "train": train_epochs,
    "inference": inference,
    "target": time_to_accuracy,
    "seed": seed_loop,
    "memory": memory,
    "efficiency": efficiency,
    "augment": augmentation,
}
