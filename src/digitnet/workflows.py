"""End-to-end jobs that the CLI runs, callable from Python: train a preset and record
everything a model file should carry."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from typing import Any

from digitnet import __version__, presets
from digitnet.evaluate import evaluate
from digitnet.nn import Sequential
from digitnet.train import fit


def train_preset(name: str, data: Any, *, seed: int | None = None,
                 log: Callable[[dict[str, Any]], None] | None = None,
                 progress: bool | None = None, **overrides: Any) -> Sequential:
    """Train preset ``name`` on ``data`` (a :class:`digitnet.data.MNIST`) and evaluate it on
    the test split.

    Returns the trained model, whose ``meta`` holds the preset, training settings, history,
    data checksums and the test metrics; save it with :func:`digitnet.io.save_model`.
    """
    model, config = presets.build(name, seed, **overrides)
    start = time.perf_counter()
    history = fit(model, data.train, data.val, config, log=log, progress=progress)
    wall = time.perf_counter() - start
    test = evaluate(model, data.test.images, data.test.labels)
    model.meta = {
        "preset": name,
        "digitnet_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "train_config": config.to_dict(),
        "history": history.to_dict(),
        "wall_seconds": wall,
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "processor": platform.machine()},
        "data": {"checksums": dict(data.checksums), "train_size": len(data.train.labels),
                 "val_size": len(data.val.labels), "test_size": len(data.test.labels)},
        "test": {k: test[k] for k in ("accuracy", "correct", "total", "macro_f1")},
    }
    return model
