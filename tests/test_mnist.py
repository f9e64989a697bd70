"""Folder resolution, loading and splitting, to_input, data info; real MNIST when present."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from synth import NAMES, gz, idx_bytes, image_ids, make_arrays, write_mnist

from digitnet.data import (
    FILES,
    MnistFile,
    default_cache_dir,
    find_file,
    format_info,
    load_mnist,
    mnist_info,
    read_idx,
    resolve_data_dir,
    to_input,
)
from digitnet.errors import ConfigError, DataError

ARRAYS = make_arrays(n_train=60, n_test=20)


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No DIGITNET_DATA_DIR, and a cache under tmp_path: tests never touch the real cache."""
    monkeypatch.delenv("DIGITNET_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return monkeypatch


@pytest.fixture
def synthetic(tmp_path):
    """A folder with four small valid files; returns (folder, file table)."""
    folder = tmp_path / "synthetic"
    return folder, write_mnist(folder, ARRAYS)


# --- where the data folder is ---------------------------------------------------------------


def test_resolution_order(clean_env, tmp_path):
    assert resolve_data_dir() == (tmp_path / "xdg" / "digitnet" / "mnist", "cache")
    clean_env.setenv("DIGITNET_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir() == (tmp_path / "env", "DIGITNET_DATA_DIR")
    assert resolve_data_dir(tmp_path / "arg") == (tmp_path / "arg", "--data-dir")
    assert resolve_data_dir(str(tmp_path / "arg")) == (tmp_path / "arg", "--data-dir")


def test_default_cache_without_xdg(clean_env, tmp_path):
    clean_env.delenv("XDG_CACHE_HOME")
    clean_env.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "digitnet" / "mnist"
    clean_env.setenv("XDG_CACHE_HOME", "relative/cache")  # ignored, per the XDG spec
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "digitnet" / "mnist"


def test_empty_env_var_is_ignored(clean_env, tmp_path):
    clean_env.setenv("DIGITNET_DATA_DIR", "")
    assert resolve_data_dir()[1] == "cache"


def test_paths_are_absolute_and_expanded(clean_env, tmp_path):
    clean_env.setenv("HOME", str(tmp_path))
    clean_env.chdir(tmp_path)
    assert resolve_data_dir("~/data")[0] == tmp_path / "data"
    assert resolve_data_dir("rel")[0] == tmp_path / "rel"


@pytest.mark.parametrize("bad", ["", 3])
def test_invalid_data_dir(bad):
    with pytest.raises(ConfigError, match=f"data_dir must be a folder path, got {bad!r}"):
        resolve_data_dir(bad)


@pytest.mark.parametrize(
    "name",
    [
        "t10k-labels-idx1-ubyte.gz",
        "t10k-labels-idx1-ubyte",
        "t10k-labels.idx1-ubyte.gz",
        "t10k-labels.idx1-ubyte",
    ],
)
def test_find_file_accepts_each_spelling(tmp_path, name):
    spec = FILES["test_labels"]
    assert find_file(tmp_path, spec) is None
    (tmp_path / name).write_bytes(b"")
    assert find_file(tmp_path, spec) == tmp_path / name


@pytest.mark.parametrize(("compress", "dotted"), [(False, False), (False, True), (True, True)])
def test_loads_raw_and_variant_names(tmp_path, compress, dotted):
    table = write_mnist(tmp_path, ARRAYS, compress=compress, dotted=dotted)
    mnist = load_mnist(tmp_path, files=table, val_size=10, download=False)
    np.testing.assert_array_equal(mnist.test.images, ARRAYS["test_images"])


def test_loads_from_env_folder(clean_env, synthetic):
    folder, table = synthetic
    clean_env.setenv("DIGITNET_DATA_DIR", str(folder))
    assert load_mnist(files=table, val_size=10, download=False).data_dir == folder


# --- loading and splitting ------------------------------------------------------------------


def test_default_split_is_the_last_of_the_training_file(synthetic):
    folder, table = synthetic
    mnist = load_mnist(folder, files=table, val_size=15, download=False)
    assert (len(mnist.train), len(mnist.val), len(mnist.test)) == (45, 15, 20)
    np.testing.assert_array_equal(mnist.train.images, ARRAYS["train_images"][:45])
    np.testing.assert_array_equal(mnist.val.images, ARRAYS["train_images"][45:])
    np.testing.assert_array_equal(mnist.val.labels, ARRAYS["train_labels"][45:])
    np.testing.assert_array_equal(mnist.test.labels, ARRAYS["test_labels"])
    assert mnist.data_dir == folder


def test_dtypes_shapes_and_read_only(synthetic):
    folder, table = synthetic
    mnist = load_mnist(folder, files=table, val_size=15, val_split="random", download=False)
    for split in (mnist.train, mnist.val, mnist.test):
        assert split.images.dtype == np.uint8 and split.images.shape[1:] == (28, 28)
        assert split.labels.dtype == np.int64 and split.labels.shape == (len(split),)
        assert not split.images.flags.writeable and not split.labels.flags.writeable


def test_random_split_is_deterministic_disjoint_and_complete(synthetic):
    folder, table = synthetic

    def ids(seed):
        mnist = load_mnist(
            folder, files=table, val_size=20, val_split="random", seed=seed, download=False
        )
        # labels travel with their images
        train_ids, val_ids = image_ids(mnist.train.images), image_ids(mnist.val.images)
        np.testing.assert_array_equal(mnist.val.labels, ARRAYS["train_labels"][val_ids])
        return train_ids, val_ids

    train_ids, val_ids = ids(7)
    assert len(val_ids) == 20 and len(train_ids) == 40
    assert np.intersect1d(train_ids, val_ids).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train_ids, val_ids])), np.arange(60))
    assert np.all(np.diff(val_ids) > 0) and np.all(np.diff(train_ids) > 0)  # file order kept
    again = ids(7)
    np.testing.assert_array_equal(again[1], val_ids)
    assert not np.array_equal(ids(8)[1], val_ids)
    assert not np.array_equal(val_ids, np.arange(40, 60))  # not the "last" split


def test_random_split_accepts_a_generator(synthetic):
    folder, table = synthetic
    a = load_mnist(
        folder,
        files=table,
        val_size=20,
        val_split="random",
        seed=np.random.default_rng(3),
        download=False,
    )
    b = load_mnist(folder, files=table, val_size=20, val_split="random", seed=3, download=False)
    np.testing.assert_array_equal(a.val.images, b.val.images)


@pytest.mark.parametrize("val_split", ["last", "random"])
def test_empty_validation_set(synthetic, val_split):
    folder, table = synthetic
    mnist = load_mnist(folder, files=table, val_size=0, val_split=val_split, download=False)
    assert mnist.val.images.shape == (0, 28, 28) and mnist.val.labels.shape == (0,)
    np.testing.assert_array_equal(mnist.train.images, ARRAYS["train_images"])


def test_checksums_are_of_the_decompressed_content(synthetic):
    folder, table = synthetic
    mnist = load_mnist(folder, files=table, val_size=10, download=False)
    assert mnist.checksums == {
        NAMES[role]: hashlib.sha256(idx_bytes(ARRAYS[role])).hexdigest() for role in NAMES
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"val_size": -1},
            r"val_size must be an integer between 0 and 59 \(the training file holds "
            r"60 images\), got -1",
        ),
        ({"val_size": 60}, "val_size must be an integer between 0 and 59"),
        ({"val_size": 1.5}, "got 1.5"),
        ({"val_size": True}, "val_size must be an integer .* got True"),
        ({"val_split": "first"}, "val_split must be 'last' or 'random', got 'first'"),
        ({"seed": -1}, "seed must be a non-negative integer or a numpy Generator, got -1"),
        ({"seed": "0"}, "seed must be .* got '0'"),
        ({"download": "no"}, "download must be True or False, got 'no'"),
    ],
)
def test_invalid_arguments_fail_before_any_io(tmp_path, kwargs, message):
    table = write_mnist(tmp_path / "unused", ARRAYS)
    with pytest.raises(ConfigError, match=message):
        load_mnist(tmp_path / "does-not-exist", files=table, **{"val_size": 10, **kwargs})


def test_default_val_size_checked_against_official_count():
    with pytest.raises(ConfigError, match="between 0 and 59999 .* got 60000"):
        load_mnist("/nonexistent", val_size=60000)


def test_missing_files_without_download(tmp_path):
    folder = tmp_path / "partial"
    write_mnist(folder, ARRAYS)
    (folder / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataError) as info:
        load_mnist(folder, download=False)
    message = str(info.value)
    assert "\n" not in message
    assert message == (
        f"MNIST file t10k-images-idx3-ubyte missing from {folder} and downloading is off; "
        "point data_dir or DIGITNET_DATA_DIR at a folder with the MNIST files"
    )


@pytest.mark.parametrize(
    ("source", "hint"),
    [
        ("cache", "delete it: the next load downloads it again"),
        (
            "env",
            "replace it with the official file, or point DIGITNET_DATA_DIR at the official files",
        ),
        ("arg", "replace it with the official file, or use a folder with the official files"),
    ],
)
def test_bad_file_message_depends_on_where_the_folder_came_from(clean_env, tmp_path, source, hint):
    folder = {
        "cache": tmp_path / "xdg" / "digitnet" / "mnist",
        "env": tmp_path / "env",
        "arg": tmp_path / "arg",
    }[source]
    table = write_mnist(folder, ARRAYS)
    bad = folder / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(gz(idx_bytes(9 - ARRAYS["train_labels"])))
    if source == "env":
        clean_env.setenv("DIGITNET_DATA_DIR", str(folder))
    with pytest.raises(DataError) as info:
        load_mnist(folder if source == "arg" else None, files=table, val_size=10, download=False)
    message = str(info.value)
    assert message.startswith(f"{bad}: checksum mismatch") and message.endswith(f"; {hint}")


def test_label_out_of_range(tmp_path):
    arrays = dict(ARRAYS, test_labels=ARRAYS["test_labels"] + 5)
    table = write_mnist(tmp_path, arrays)
    with pytest.raises(
        DataError,
        match=r"t10k-labels-idx1-ubyte.gz: label 1[0-4] found, "
        r"labels must be 0-9",
    ):
        load_mnist(tmp_path, files=table, val_size=10, download=False)


def test_files_table_must_have_the_four_roles(tmp_path):
    with pytest.raises(ConfigError, match="files must have the keys"):
        load_mnist(tmp_path, files={"train_images": FILES["train_images"]})


# --- to_input -------------------------------------------------------------------------------


def test_to_input():
    images = np.zeros((3, 28, 28), np.uint8)
    images[0, 0, 0], images[1, 5, 7], images[2] = 255, 51, 128
    x = to_input(images)
    assert x.dtype == np.float32 and x.shape == (3, 28, 28, 1) and x.flags.c_contiguous
    assert x[0, 0, 0, 0] == 1.0 and x[1, 5, 7, 0] == np.float32(0.2) and x.min() == 0.0
    np.testing.assert_array_equal(x[..., 0], (images / 255).astype(np.float32))
    old_mlp = to_input(images, (1, 28, 28))  # old MLP files: the same values
    assert old_mlp.shape == (3, 1, 28, 28) and np.array_equal(old_mlp.ravel(), x.ravel())
    floats = to_input(images / np.float32(255))  # already scaled: taken as is
    assert floats.dtype == np.float32 and np.array_equal(floats, x)
    out = np.empty((3, 28, 28, 1), np.float32)
    assert to_input(images, out=out) is out and np.array_equal(out, x)
    x[0, 0, 0, 0] = 7  # a new array, not a view of the images
    assert images[0, 0, 0] == 255


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (np.zeros((2, 28, 28), np.int32), "images must be uint8 .* got dtype int32"),
        (np.zeros((28,), np.uint8), r"shape \(N, 28, 28\) .*got \(28,\)"),
        (np.zeros((2, 2, 28, 28), np.uint8), r"got \(2, 2, 28, 28\)"),
    ],
)
def test_to_input_rejects(images, message):
    with pytest.raises(ConfigError, match=message):
        to_input(images)


# --- data info ------------------------------------------------------------------------------


def test_info_reports_ok_bad_and_missing(tmp_path):
    table = write_mnist(tmp_path, ARRAYS)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    raw = idx_bytes(ARRAYS["train_labels"])
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(raw[:-1])
    info = mnist_info(tmp_path, files=table)
    assert info["data_dir"] == str(tmp_path) and info["source"] == "--data-dir"
    assert info["exists"] and not info["ok"]
    by_name = {entry["name"]: entry for entry in info["files"]}
    images = by_name["train-images-idx3-ubyte"]
    assert images["status"] == "ok" and images["problem"] is None
    assert images["size"] == os.path.getsize(tmp_path / "train-images-idx3-ubyte.gz")
    assert images["sha256"] == table["train_images"].sha256
    labels = by_name["train-labels-idx1-ubyte"]
    assert labels["status"] == "bad" and labels["path"] == str(tmp_path / labels["name"])
    assert labels["problem"].startswith("truncated") and labels["size"] == len(raw) - 1
    assert by_name["t10k-labels-idx1-ubyte"] == {
        "name": "t10k-labels-idx1-ubyte",
        "status": "missing",
        "path": None,
        "size": None,
        "sha256": None,
        "problem": "not found",
    }
    text = format_info(info)
    assert text.splitlines()[0] == f"MNIST folder: {tmp_path} (the folder given)"
    assert "problem: truncated" in text
    assert text.splitlines()[-1].startswith("2 of 4 files ok; 1 bad")


def test_info_on_absent_folder(clean_env, tmp_path):
    info = mnist_info()
    assert info["source"] == "cache" and not info["exists"] and not info["ok"]
    assert [entry["status"] for entry in info["files"]] == ["missing"] * 4
    assert "does not exist" in format_info(info).splitlines()[0]


# --- the real MNIST (skipped when the files are absent) -------------------------------------


@pytest.mark.mnist
def test_real_mnist_default_split(mnist, mnist_dir):
    assert (len(mnist.train), len(mnist.val), len(mnist.test)) == (50000, 10000, 10000)
    assert mnist.train.images.shape == (50000, 28, 28) and mnist.train.images.dtype == np.uint8
    assert mnist.checksums == {spec.name: spec.sha256 for spec in FILES.values()}
    for split in (mnist.train, mnist.val, mnist.test):
        assert split.labels.dtype == np.int64
        assert np.array_equal(np.unique(split.labels), np.arange(10))
        assert 0.1 < split.images.mean() / 255 < 0.15  # MNIST is ~13% ink
    assert mnist.data_dir == Path(mnist_dir).absolute()
    labels = read_idx(find_file(mnist_dir, FILES["train_labels"]))
    np.testing.assert_array_equal(mnist.val.labels, labels[50000:])
    # the well-known first labels of each file
    assert list(mnist.train.labels[:5]) == [5, 0, 4, 1, 9]
    assert list(mnist.test.labels[:5]) == [7, 2, 1, 0, 4]


@pytest.mark.mnist
def test_real_mnist_random_split(mnist_dir):
    mnist = load_mnist(mnist_dir, val_size=5000, val_split="random", seed=1, download=False)
    assert (len(mnist.train), len(mnist.val)) == (55000, 5000)
    assert np.bincount(mnist.val.labels, minlength=10).min() > 400  # drawn from all classes


@pytest.mark.mnist
def test_real_mnist_info(mnist_dir):
    info = mnist_info(mnist_dir)
    assert info["ok"], format_info(info)
    assert [entry["name"] for entry in info["files"]] == [s.name for s in FILES.values()]
    assert [entry["sha256"] for entry in info["files"]] == [s.sha256 for s in FILES.values()]


def test_official_table_matches_the_known_sizes():
    # From the MNIST README: decompressed sizes 47040016, 60008, 7840016, 10008 bytes.
    assert [spec.nbytes for spec in FILES.values()] == [47040016, 60008, 7840016, 10008]
    assert all(isinstance(spec, MnistFile) for spec in FILES.values())
