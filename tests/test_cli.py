"""The command line: help, version, one-line errors with non-zero exits, and output formats."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_helpers import run_cli

from digitnet.apps.cli import format_epoch, main
from digitnet.modelfile import save_model
from digitnet.nn import Dense, Flatten, Sequential


@pytest.mark.parametrize("cmd", [[], ["train"], ["evaluate"], ["presets"], ["data"]])
def test_help(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        main([*cmd, "--help"])
    assert e.value.code == 0
    assert "usage: digitnet" in capsys.readouterr().out


def test_version(capsys):
    from digitnet import __version__

    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"digitnet {__version__}"


@pytest.mark.parametrize(
    "args,needle",
    [
        (["train", "--epochs", "0"], "--epochs: expected a positive integer, got '0'"),
        (["train", "--lr", "fast"], "--lr: expected a positive number, got 'fast'"),
        (["train", "--seed", "-1"], "--seed: expected an integer >= 0"),
        (["train", "--preset", "nope"], "unknown preset 'nope'"),
        (["train", "--out", "/no/such/folder/m.npz"], "folder /no/such/folder does not exist"),
        (["evaluate", "missing.npz"], "model file missing.npz not found"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_user_mistakes_give_one_line_and_nonzero_exit(args, needle, capsys):
    try:
        code = main(args)
    except SystemExit as e:  # argparse rejects bad flag values before main's body
        code = e.code
    err = capsys.readouterr().err
    assert code != 0
    assert needle in err
    assert err.count("\n") == 1 and "Traceback" not in err


def dead_mirror() -> str:
    """A URL on 127.0.0.1 where nothing listens (a port that was just free)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


@pytest.mark.parametrize("command", [["data", "download"], ["train", "--epochs", "1"]])
def test_offline_with_no_files_is_one_short_line_and_leaves_no_folder(command):
    """No network, no files, the default cache folder: one line of at most 200 characters
    (after the command's prefix) saying where and why, what to do last in the command
    line's words; the cache folder the download created is removed again. (A home-like
    path: pytest's own temporary paths are twice as long as ~/.cache/digitnet/mnist.)"""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix="dn") as home:
        _offline(Path(home) / "cache", command)


def _offline(cache, command):
    env = {"DIGITNET_MIRRORS": dead_mirror(), "XDG_CACHE_HOME": str(cache), "DIGITNET_DATA_DIR": ""}
    proc = run_cli(*command, env=env)
    assert proc.returncode == 1 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    prefix = f"digitnet {command[0]}: error: "
    line = lines[0]
    assert line.startswith(prefix) and len(line) - len(prefix) <= 200
    assert str(cache / "digitnet" / "mnist") in line and "(Connection refused" in line
    assert line.endswith("; point --data-dir or DIGITNET_DATA_DIR at a folder with the MNIST files")
    assert not cache.exists()


def test_missing_data_in_a_given_folder_is_one_clear_line(tmp_path):
    proc = run_cli(
        "train",
        "--data-dir",
        str(tmp_path),
        "--epochs",
        "1",
        "--out",
        str(tmp_path / "m.npz"),
        env={"DIGITNET_MIRRORS": dead_mirror()},
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert f"no MNIST files in {tmp_path} and the download failed" in lines[0]
    assert tmp_path.exists() and not list(tmp_path.iterdir())  # a folder given stays


def test_corrupt_model_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 definitely not a model")
    assert main(["evaluate", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.npz" in err


def test_presets_lists_every_preset_with_targets(capsys):
    from digitnet.training.presets import PRESETS

    assert main(["presets", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == list(PRESETS)
    assert all(0.9 <= r["target"] < 1 for r in rows)
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in PRESETS:
        assert name in out


def test_epoch_line_has_the_seeds_format():
    line = format_epoch(
        {
            "epoch": 3,
            "val_correct": 9712,
            "val_total": 10000,
            "train_loss": 0.0951,
            "val_loss": 0.0987,
            "val_accuracy": 0.9712,
            "seconds": 1.25,
        }
    )
    assert line.startswith("Epoch 3: 9712 / 10000")
    assert "train loss 0.0951" in line and "val loss 0.0987" in line and "1.2s" in line


@pytest.mark.mnist
def test_train_then_evaluate_on_mnist(mnist_dir, tmp_path):
    """End-to-end through the CLI on real MNIST: a short run reaches >= 95% on the test set,
    and `evaluate --json` reports the same accuracy the training run recorded."""
    out = tmp_path / "m.npz"
    proc = run_cli(
        "train",
        "--preset",
        "relu-128-64",
        "--epochs",
        "2",
        "--seed",
        "1",
        "--data-dir",
        str(mnist_dir),
        "--out",
        str(out),
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    epochs = [x for x in lines if x["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    for key in ("train_loss", "val_loss", "val_accuracy", "seconds"):
        assert all(key in e for e in epochs)
    result = lines[-1]
    assert result["event"] == "result" and result["test_accuracy"] >= 0.95
    proc = run_cli("evaluate", str(out), "--data-dir", str(mnist_dir), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["accuracy"] == result["test_accuracy"]
    from digitnet.modelfile import load_model

    assert (
        load_model(out).meta["command"] == "digitnet train --preset relu-128-64 --seed 1 --epochs 2"
    )
    assert len(report["precision"]) == len(report["recall"]) == len(report["f1"]) == 10
    cm = np.array(report["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == 10000
    assert np.array_equal(
        cm.sum(axis=1),
        np.bincount(
            np.frombuffer(
                __import__("gzip").open(mnist_dir / "t10k-labels-idx1-ubyte.gz").read(),
                np.uint8,
                offset=8,
            ),
            minlength=10,
        ),
    )
    text = run_cli("evaluate", str(out), "--data-dir", str(mnist_dir))
    assert "Confusion matrix" in text.stdout and "precision" in text.stdout


def test_evaluate_prints_tables_for_a_saved_model(tmp_path, mnist_dir):
    model = Sequential([Flatten(), Dense(10)], (1, 28, 28), np.random.default_rng(0))
    save_model(tmp_path / "m.npz", model)
    proc = run_cli("evaluate", str(tmp_path / "m.npz"), "--data-dir", str(mnist_dir), "--json")
    assert proc.returncode == 0
    assert 0.0 <= json.loads(proc.stdout)["accuracy"] <= 0.3  # an untrained model


@pytest.mark.mnist
def test_train_ensemble_averages_members(mnist_dir, tmp_path):
    """--ensemble 2 trains two seeds and saves one model whose accuracy is that of the
    averaged probabilities; each member's own accuracy is recorded too."""
    from digitnet.modelfile import load_model
    from digitnet.nn import Ensemble

    out = tmp_path / "ens.npz"
    proc = run_cli(
        "train",
        "--preset",
        "relu-10",
        "--epochs",
        "1",
        "--ensemble",
        "2",
        "--data-dir",
        str(mnist_dir),
        "--out",
        str(out),
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(x["member"], x["epoch"]) for x in lines if x["event"] == "epoch"] == [(1, 1), (2, 1)]
    model = load_model(out)
    assert isinstance(model, Ensemble) and len(model.members) == 2
    assert [m["seed"] for m in model.meta["members"]] == [0, 1]
    members = [m["member_test_accuracy"] for m in model.meta["members"]]
    assert members[0] != members[1]
    assert lines[-1]["test_accuracy"] == model.meta["test"]["accuracy"] > 0.85


@pytest.mark.mnist
def test_ensemble_command_combines_saved_models(mnist_dir, tmp_path):
    """Two single models combined with `digitnet ensemble` equal `train --ensemble 2`: the
    trainer is deterministic, so the members and the averaged accuracy are identical."""
    from digitnet.modelfile import load_model

    for seed in (0, 1):
        proc = run_cli(
            "train",
            "--preset",
            "relu-10",
            "--epochs",
            "1",
            "--seed",
            str(seed),
            "--data-dir",
            str(mnist_dir),
            "--out",
            str(tmp_path / f"m{seed}.npz"),
            "--quiet",
        )
        assert proc.returncode == 0, proc.stderr
    proc = run_cli(
        "ensemble",
        str(tmp_path / "m0.npz"),
        str(tmp_path / "m1.npz"),
        "--data-dir",
        str(mnist_dir),
        "--out",
        str(tmp_path / "e.npz"),
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    combined = json.loads(proc.stdout)
    proc = run_cli(
        "train",
        "--preset",
        "relu-10",
        "--epochs",
        "1",
        "--ensemble",
        "2",
        "--data-dir",
        str(mnist_dir),
        "--out",
        str(tmp_path / "t.npz"),
        "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    trained = load_model(tmp_path / "t.npz")
    assert combined["test_accuracy"] == trained.meta["test"]["accuracy"]
    assert combined["member_test_accuracy"] == [
        m["member_test_accuracy"] for m in trained.meta["members"]
    ]
    one = run_cli(
        "ensemble",
        str(tmp_path / "m0.npz"),
        "--data-dir",
        str(mnist_dir),
        "--out",
        str(tmp_path / "x.npz"),
    )
    assert one.returncode == 1 and "at least two" in one.stderr
