"""Checkpoint and resume: a run stopped anywhere (mid-epoch, at an epoch's end, killed with
SIGKILL, Ctrl+C) and resumed ends with the weights of the run that never stopped, bit for bit
(the same code path on the same machine, so bit identity is what to expect); damaged, foreign
and newer checkpoints give one line and overwrite nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import SRC, run_cli

from digitnet.apps.cli import main
from digitnet.errors import CheckpointError
from digitnet.modelfile import load_model
from digitnet.nn import BatchNorm, Dense, Dropout, Flatten, ReLU, Sequential
from digitnet.training import checkpoint as ckpt
from digitnet.training.loop import Interrupted, TrainConfig, fit, seed_streams

CONFIG = dict(
    epochs=3,
    batch_size=100,
    optimizer="adam",
    lr=2e-3,
    schedule="cosine",
    warmup=0.5,
    patience=5,
    augment={"rotate": 8.0, "shift": 1.5},
    seed=3,
)


def build() -> Sequential:
    """Dropout, BatchNorm (buffers), Adam (moments): every kind of state there is."""
    return Sequential(
        [Flatten(), Dense(48), BatchNorm(), ReLU(), Dropout(0.3), Dense(10)],
        (28, 28, 1),
        seed_streams(CONFIG["seed"])["init"],
    )


def weights(model: Sequential) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in model.state_dict().items()}


def assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k


@pytest.fixture(scope="module")
def uninterrupted(digits_data):
    model = build()
    history = fit(model, digits_data.train, digits_data.val, TrainConfig(**CONFIG), progress=False)
    return weights(model), history


@pytest.mark.parametrize("stop_after", [5, 12, 13, 30])  # 12 mini-batches per epoch
def test_a_run_stopped_anywhere_resumes_to_the_same_weights(
    digits_data, uninterrupted, tmp_path, stop_after
):
    saver = ckpt.Checkpointer(tmp_path, {"run": "test"}, every=4)
    steps = []
    with pytest.raises(Interrupted):
        fit(
            build(),
            digits_data.train,
            digits_data.val,
            TrainConfig(**CONFIG),
            progress=False,
            checkpoint=saver,
            checkpoint_every=saver.every,
            stop=lambda: steps.append(1) or len(steps) >= stop_after,
        )
    resumed = ckpt.load(tmp_path)
    assert resumed.run == {"run": "test"}
    history = fit(
        resumed.model,
        digits_data.train,
        digits_data.val,
        resumed.config,
        progress=False,
        resume=(resumed.state, resumed.optimizer),
    )
    expected, full = uninterrupted
    assert_same(weights(resumed.model), expected)
    assert [e["train_loss"] for e in history.epochs] == [e["train_loss"] for e in full.epochs]
    assert [e["val_correct"] for e in history.epochs] == [e["val_correct"] for e in full.epochs]


def test_the_resume_test_would_see_a_lost_random_stream(digits_data, uninterrupted, tmp_path):
    """The same resumption with the augmentation stream started afresh ends elsewhere: the
    test above can tell."""
    saver = ckpt.Checkpointer(tmp_path, {}, every=4)
    steps = []
    with pytest.raises(Interrupted):
        fit(
            build(),
            digits_data.train,
            digits_data.val,
            TrainConfig(**CONFIG),
            progress=False,
            checkpoint=saver,
            checkpoint_every=4,
            stop=lambda: steps.append(1) or len(steps) > 5,
        )
    resumed = ckpt.load(tmp_path)
    resumed.state.rng["augment"] = seed_streams(99)["augment"].bit_generator.state
    fit(
        resumed.model,
        digits_data.train,
        digits_data.val,
        resumed.config,
        progress=False,
        resume=(resumed.state, resumed.optimizer),
    )
    expected, _ = uninterrupted
    assert any(not np.array_equal(v, expected[k]) for k, v in weights(resumed.model).items())


def test_checkpoints_are_written_at_epoch_ends_and_every_n_steps(digits_data, tmp_path):
    saver = ckpt.Checkpointer(tmp_path, {}, every=5)
    fit(
        build(),
        digits_data.train,
        digits_data.val,
        TrainConfig(**CONFIG),
        progress=False,
        checkpoint=saver,
        checkpoint_every=5,
    )
    assert saver.saved == 3 * 2 + 3  # steps 5 and 10 of each 12, and 3 epoch ends
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.npz"]  # no temp left
    done = ckpt.load(tmp_path)
    assert done.state.finished and done.state.epoch == 4 and done.state.order is None


@pytest.mark.parametrize(
    "damage,message",
    [
        (lambda p: p.write_bytes(p.read_bytes()[:200]), "damaged or truncated"),
        (lambda p: p.write_bytes(b"not a zip"), "damaged or truncated"),
        (lambda p: np.savez(p, x=np.zeros(3)), "damaged or truncated"),
        (lambda p: p.unlink(), "no checkpoint there"),
    ],
)
def test_bad_checkpoints_give_one_line(digits_data, tmp_path, damage, message):
    saver = ckpt.Checkpointer(tmp_path, {}, every=None)
    fit(
        build(),
        digits_data.train,
        None,
        TrainConfig(**{**CONFIG, "epochs": 1}),
        progress=False,
        checkpoint=saver,
    )
    damage(tmp_path / "checkpoint.npz")
    with pytest.raises(CheckpointError, match=message) as info:
        ckpt.load(tmp_path)
    assert "\n" not in str(info.value)


def test_a_checkpoint_from_a_newer_digitnet_is_refused(digits_data, tmp_path):
    saver = ckpt.Checkpointer(tmp_path, {}, every=None)
    fit(
        build(),
        digits_data.train,
        None,
        TrainConfig(**{**CONFIG, "epochs": 1}),
        progress=False,
        checkpoint=saver,
    )
    path = tmp_path / "checkpoint.npz"
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays[ckpt.META_KEY].tobytes())
    meta["format_version"] = ckpt.FORMAT_VERSION + 1
    arrays[ckpt.META_KEY] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(path, **arrays)
    with pytest.raises(CheckpointError, match="newer digitnet"):
        ckpt.load(tmp_path)


# -- the command line ----------------------------------------------------------------------

TRAIN = ("train", "--preset", "relu-128-64", "--epochs", "2", "--seed", "4", "--quiet")


def _train_process(mnist_dir: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen(
        [sys.executable, "-m", "digitnet", *TRAIN, "--data-dir", str(mnist_dir), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, f"no {path} after {timeout} s"
        time.sleep(0.02)


@pytest.mark.mnist
def test_sigkill_mid_epoch_then_resume_equals_the_uninterrupted_run(mnist_dir, tmp_path):
    """`train --checkpoint DIR` killed with SIGKILL mid-epoch (just after a step checkpoint),
    then `train --resume DIR`: the saved model equals an uninterrupted run's, bit for bit."""
    whole = tmp_path / "whole.npz"
    done = run_cli(*TRAIN, "--data-dir", str(mnist_dir), "--out", str(whole))
    assert done.returncode == 0, done.stderr
    folder, out = tmp_path / "ck", tmp_path / "resumed.npz"
    proc = _train_process(
        mnist_dir, "--checkpoint", str(folder), "--checkpoint-every", "100", "--out", str(out)
    )
    _wait_for(folder / "checkpoint.npz", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = ckpt.load(folder).state
    assert not state.finished and not out.exists()  # killed before the run's end
    done = run_cli("train", "--resume", str(folder), "--data-dir", str(mnist_dir), "--quiet")
    assert done.returncode == 0, done.stderr
    assert_same(load_model(out).state_dict(), load_model(whole).state_dict())


@pytest.mark.mnist
def test_ctrl_c_saves_a_checkpoint_and_says_how_to_resume(mnist_dir, tmp_path):
    folder, out = tmp_path / "ck", tmp_path / "m.npz"
    proc = _train_process(
        mnist_dir, "--checkpoint", str(folder), "--checkpoint-every", "200", "--out", str(out)
    )
    _wait_for(folder / "checkpoint.npz", proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert f"digitnet train --resume {folder}" in err and len(err.strip().splitlines()) == 1
    assert not ckpt.load(folder).state.finished and not out.exists()
    done = run_cli("train", "--resume", str(folder), "--data-dir", str(mnist_dir), "--quiet")
    assert done.returncode == 0, done.stderr
    assert load_model(out).meta["test"]["accuracy"] > 0.85


@pytest.mark.mnist
def test_an_ensemble_member_resumes_too(mnist_dir, tmp_path):
    """Killed while training the second member of `--ensemble 2`: the first is read back
    from its file, the second continues; the ensemble equals the uninterrupted one."""
    whole = tmp_path / "whole.npz"
    done = run_cli(
        *TRAIN,
        "--ensemble",
        "2",
        "--epochs",
        "1",
        "--data-dir",
        str(mnist_dir),
        "--out",
        str(whole),
    )
    assert done.returncode == 0, done.stderr
    folder, out = tmp_path / "ck", tmp_path / "resumed.npz"
    proc = _train_process(
        mnist_dir,
        "--ensemble",
        "2",
        "--epochs",
        "1",
        "--checkpoint",
        str(folder),
        "--checkpoint-every",
        "100",
        "--out",
        str(out),
    )
    _wait_for(folder / "member-1.npz", proc)
    while ckpt.load(folder).member != 1:
        assert proc.poll() is None
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = run_cli("train", "--resume", str(folder), "--data-dir", str(mnist_dir), "--quiet")
    assert done.returncode == 0, done.stderr
    assert_same(load_model(out).state_dict(), load_model(whole).state_dict())


def test_user_mistakes_with_checkpoints_are_one_line(tmp_path, capsys, digits_data):
    saver = ckpt.Checkpointer(tmp_path / "ck", {"preset": "relu-10"}, every=None)
    (tmp_path / "ck").mkdir()
    fit(
        build(),
        digits_data.train,
        None,
        TrainConfig(**{**CONFIG, "epochs": 1}),
        progress=False,
        checkpoint=saver,
    )
    before = (tmp_path / "ck" / "checkpoint.npz").read_bytes()
    for args, message in (
        (["--checkpoint", str(tmp_path / "ck")], "already holds a checkpoint"),
        (["--checkpoint-every", "5"], "needs --checkpoint"),
        (["--resume", str(tmp_path / "nothing")], "no checkpoint there"),
        (["--resume", str(tmp_path / "ck"), "--checkpoint", str(tmp_path)], "not both"),
        (["--checkpoint", str(tmp_path / "no" / "such")], "does not exist"),
    ):
        assert main(["train", "--quiet", *args]) == 1
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    assert (tmp_path / "ck" / "checkpoint.npz").read_bytes() == before
