"""A training run's settings: the reproduce command and how a resumed run takes its own
settings back (training/runs.py, the one home of train's defaults)."""

from __future__ import annotations

from digitnet.data.mnist import DEFAULT_VAL_SIZE
from digitnet.training.runs import RunSettings


def test_the_reproduce_command_names_the_seed_and_only_what_differs():
    assert RunSettings(preset="cnn").reproduce_command() == "digitnet train --preset cnn --seed 0"
    run = RunSettings(
        preset="mlp",
        seed=3,
        overrides={"epochs": 5, "lr": 0.1},
        ensemble=2,
        val_size=5000,
        extra_dir="data",
    )
    assert run.reproduce_command() == (
        "digitnet train --preset mlp --seed 3 --ensemble 2 --epochs 5 --lr 0.1 "
        "--val-size 5000 --extra-dir data"
    )


def test_a_resumed_run_takes_back_the_settings_not_given():
    saved = RunSettings(
        preset="mlp", seed=7, overrides={"epochs": 3}, ensemble=2, val_size=500
    ).to_run({"f": "0"})
    assert saved["seed"] == 7 and saved["data"] == {"f": "0"}
    given = RunSettings(preset="cnn", overrides={"lr": 0.2})
    run = given.resumed_from(saved, given={"lr"})
    assert (run.preset, run.seed, run.ensemble, run.val_size) == ("mlp", 7, 2, 500)
    assert run.overrides == {"lr": 0.2, "epochs": 3}
    assert RunSettings().val_size == DEFAULT_VAL_SIZE
