"""Checkpoints: a training run saved as it goes, so that a crash costs minutes, not the run.

``digitnet train --checkpoint DIR`` keeps ``DIR/checkpoint.npz``: written at the end of every
epoch and every ``--checkpoint-every`` mini-batches, atomically (a temporary file in DIR,
fsync, rename: the previous checkpoint stays whole until the new one is complete). A run
that trains an ensemble also keeps each finished member as ``DIR/member-<i>.npz`` (a model
file). ``digitnet train --resume DIR`` continues the run and ends with the same weights, bit
for bit, as the uninterrupted run on the same machine.

Layout of ``checkpoint.npz`` (``np.load(allow_pickle=False)``; no pickle):

- ``model.<name>``: the network's parameters and buffers;
- ``optimizer.<name>``: the optimizer's step count and state arrays (momentum, Adam moments);
- ``best.<name>``: the weights of the best validation epoch so far (when kept);
- ``order``: the permutation of the epoch in progress (when saved mid-epoch);
- ``__checkpoint__``: UTF-8 JSON bytes: ``format``, ``format_version``, ``digitnet_version``,
  ``run`` (what identifies the run: preset, seed, settings, ensemble size, data checksums and
  sizes), ``member`` (which network of an ensemble), ``architecture``, ``train_config`` and
  ``loop`` (epoch, step, loss so far, early-stopping state, history, every random stream's
  state).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from digitnet import __version__
from digitnet.errors import CheckpointError, DigitnetError, one_line
from digitnet.modelfile import read_npz
from digitnet.nn import Sequential
from digitnet.training.loop import History, LoopState, TrainConfig

FORMAT = "digitnet-checkpoint"
FORMAT_VERSION = 1
META_KEY = "__checkpoint__"
FILE = "checkpoint.npz"


@dataclass
class Resumed:
    """A checkpoint, read back: the run it belongs to and where it stood."""

    run: dict[str, Any]
    member: int
    model: Sequential
    config: TrainConfig
    state: LoopState
    optimizer: dict[str, np.ndarray]


def member_path(folder: str | Path, member: int) -> Path:
    """Where a finished member ``member`` (0-based) of an ensemble run is kept."""
    return Path(folder) / f"member-{member + 1}.npz"


class Checkpointer:
    """Saves one run's checkpoints into ``folder`` (the callback :func:`digitnet.training.loop.fit`
    calls); ``run`` identifies the run, ``member`` the network being trained, ``every``
    the number of mini-batches between checkpoints within an epoch (None: epoch ends only)."""

    def __init__(
        self, folder: str | Path, run: dict[str, Any], member: int = 0, every: int | None = None
    ) -> None:
        self.folder, self.run, self.member, self.every = Path(folder), run, member, every
        self.saved = 0

    def for_member(self, member: int) -> Checkpointer:
        return Checkpointer(self.folder, self.run, member, self.every)

    def __call__(
        self, model: Sequential, optimizer: Any, config: TrainConfig, state: LoopState
    ) -> None:
        from digitnet.files import atomic_write

        arrays = {f"model.{k}": v for k, v in model.state_dict().items()}
        arrays.update({f"optimizer.{k}": v for k, v in optimizer.state_dict().items()})
        if state.best_state is not None:
            arrays.update({f"best.{k}": v for k, v in state.best_state.items()})
        if state.order is not None:
            arrays["order"] = state.order
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "digitnet_version": __version__,
            "run": self.run,
            "member": self.member,
            "architecture": model.get_config(),
            "train_config": config.to_dict(),
            "loop": {
                "epoch": state.epoch,
                "step": state.step,
                "loss_sum": state.loss_sum,
                "epoch_seconds": state.epoch_seconds,
                "best_score": state.best_score,
                "waited": state.waited,
                "history": state.history.to_dict(),
                "rng": state.rng,
                "finished": state.finished,
            },
        }
        arrays[META_KEY] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        atomic_write(self.folder / FILE, lambda f: np.savez(f, **arrays))
        self.saved += 1


def new_run_folder(folder: str | Path) -> Path:
    """The folder a new run will checkpoint into, created if needed (its parent must
    exist); a folder that already holds a checkpoint is refused, so that no run is lost."""
    folder = Path(folder)
    if (folder / FILE).exists():
        raise CheckpointError(
            f"{folder} already holds a checkpoint: continue that run (resume it from "
            f"{folder}), or choose another folder",
            subject=str(folder),
        )
    if not folder.parent.is_dir():
        raise CheckpointError(
            f"{folder}: folder {folder.parent} does not exist; create it or choose another path",
            subject=str(folder),
        )
    folder.mkdir(exist_ok=True)
    return folder


def load(folder: str | Path) -> Resumed:
    """Read ``folder/checkpoint.npz``.

    Raises
    ------
    CheckpointError
        No checkpoint there, a damaged or truncated file, or one of a newer format.
    """
    path = Path(folder) / FILE
    damaged = (
        f"{path}: damaged or truncated checkpoint ({{cause}}); delete it to start the run again"
    )
    arrays = read_npz(
        path,
        CheckpointError,
        missing=f"{path}: no checkpoint there; give the folder a run was checkpointed into",
        damaged=damaged,
    )
    try:
        meta = json.loads(arrays.pop(META_KEY).tobytes().decode())
    except (KeyError, ValueError) as exc:  # no metadata, not UTF-8, not JSON
        raise CheckpointError(damaged.format(cause=one_line(exc, 80))) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a digitnet checkpoint")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {version!r} is from a newer digitnet "
            f"({meta.get('digitnet_version')}, this is {__version__}); upgrade digitnet"
        )
    try:
        loop = meta["loop"]
        model = Sequential.from_config(meta["architecture"], initialise=False)
        model.load_state_dict(_prefixed(arrays, "model."))
        best = _prefixed(arrays, "best.") or None
        state = LoopState(
            epoch=int(loop["epoch"]),
            step=int(loop["step"]),
            order=arrays.get("order"),
            loss_sum=float(loop["loss_sum"]),
            epoch_seconds=float(loop["epoch_seconds"]),
            best_score=loop["best_score"],
            best_state=best,
            waited=int(loop["waited"]),
            history=History(**loop["history"]),
            rng=loop["rng"],
            finished=bool(loop["finished"]),
        )
        config = TrainConfig.from_dict(meta["train_config"])
        return Resumed(
            run=meta["run"],
            member=int(meta["member"]),
            model=model,
            config=config,
            state=state,
            optimizer=_prefixed(arrays, "optimizer."),
        )
    except (KeyError, TypeError, ValueError, DigitnetError) as exc:
        raise CheckpointError(
            f"{path}: damaged checkpoint ({one_line(exc, 80)}); delete it to start the run again"
        ) from None


def check_same_run(folder: str | Path, saved: dict[str, Any], given: dict[str, Any]) -> None:
    """Refuse to resume a checkpoint with settings or data other than its own: name the
    first difference."""
    for key in sorted(set(saved) | set(given)):
        if saved.get(key) != given.get(key):
            raise CheckpointError(
                f"{Path(folder) / FILE} is of another run (its {key} is {saved.get(key)!r}, "
                f"here {given.get(key)!r}); resume with its settings and data"
            )


def _prefixed(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}


__all__ = [
    "CheckpointError",
    "Checkpointer",
    "FILE",
    "Resumed",
    "check_same_run",
    "load",
    "member_path",
]
