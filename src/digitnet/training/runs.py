"""A training run's settings in one place: what ``digitnet train`` was asked for, what a
checkpoint records of it, how a resumed run takes its own settings back, and the command
that trains the same model again.

Typical use::

    run = RunSettings(preset="cnn", seed=0, overrides={"epochs": 5})
    run = run.resumed_from(checkpoint_run)       # settings not given come from the run
    run.reproduce_command()                      # 'digitnet train --preset cnn --seed 0 ...'
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from digitnet.data.mnist import DEFAULT_VAL_SIZE
from digitnet.training import presets

#: the training settings a run may override, with their command-line flags
OVERRIDES = {
    "epochs": "--epochs",
    "lr": "--lr",
    "batch_size": "--batch-size",
    "patience": "--patience",
}


@dataclass
class RunSettings:
    """What a training run was asked for.

    Attributes
    ----------
    preset : str
    seed : int or None
        None: the preset's own seed.
    overrides : dict
        Training settings that replace the preset's (keys of :data:`OVERRIDES`).
    ensemble : int
        Networks trained with seeds ``seed, seed + 1, ...`` and averaged.
    val_size : int
        Validation images held out from the end of MNIST's training file.
    add_usps : str or None
        A USPS folder whose training digits join the training split.
    extra_dir : str or None
        Where a preset's extra handwriting is (:mod:`digitnet.training.mix`).
    """

    preset: str = presets.DEFAULT_PRESET
    seed: int | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    ensemble: int = 1
    val_size: int = DEFAULT_VAL_SIZE
    add_usps: str | None = None
    extra_dir: str | None = None

    @property
    def effective_seed(self) -> int:
        return presets.get(self.preset).config.seed if self.seed is None else self.seed

    def to_run(self, checksums: dict[str, str]) -> dict[str, Any]:
        """The mapping a checkpoint keeps to recognise its run (with the data's checksums)."""
        return {
            "preset": self.preset,
            "seed": self.effective_seed,
            "settings": self.overrides,
            "ensemble": self.ensemble,
            "val_size": self.val_size,
            "add_usps": self.add_usps,
            "extra_dir": self.extra_dir,
            "data": dict(checksums),
        }

    def resumed_from(self, run: dict[str, Any], given: set[str]) -> RunSettings:
        """These settings completed by a checkpoint's ``run``: each setting not in ``given``
        (the names the user set) takes the run's value; those given are kept (and checked
        against the run later, by :func:`digitnet.training.checkpoint.check_same_run`)."""
        saved = run.get("settings") or {}
        out = dataclasses.replace(self, overrides=dict(self.overrides))
        for name in ("preset", "seed", "ensemble", "val_size", "add_usps", "extra_dir"):
            if name not in given and run.get(name) is not None:
                setattr(out, name, run[name])
        for name in OVERRIDES:
            if name not in given and saved.get(name) is not None:
                out.overrides[name] = saved[name]
        return out

    def reproduce_command(self) -> str:
        """The ``digitnet train`` command that trains this model again, bit for bit on the
        same machine: the preset, the seed used and every setting that differs from the
        defaults."""
        parts = ["digitnet train", f"--preset {self.preset}", f"--seed {self.effective_seed}"]
        if self.ensemble > 1:
            parts.append(f"--ensemble {self.ensemble}")
        parts += [
            f"{flag} {self.overrides[name]}"
            for name, flag in OVERRIDES.items()
            if self.overrides.get(name) is not None
        ]
        if self.val_size != DEFAULT_VAL_SIZE:
            parts.append(f"--val-size {self.val_size}")
        if self.add_usps is not None:
            parts.append(f"--add-usps {self.add_usps}")
        if self.extra_dir is not None:
            parts.append(f"--extra-dir {self.extra_dir}")
        return " ".join(parts)
