"""Model files: round trip without pickle, atomic writes and one-line errors for bad files."""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest

from digitnet.errors import ModelFileError
from digitnet.modelfile import FORMAT_VERSION, META_KEY, load_model, save_model
from digitnet.nn import Dense, Dropout, Flatten, ReLU, Sequential


@pytest.fixture
def model():
    m = Sequential(
        [Flatten(), Dense(8), ReLU(), Dropout(0.2), Dense(10)],
        (1, 28, 28),
        np.random.default_rng(0),
    )
    m.meta = {"preset": "tiny", "test": {"accuracy": 0.5}}
    return m


def test_round_trip(tmp_path, model):
    path = save_model(tmp_path / "m.npz", model)
    loaded = load_model(path)
    assert loaded.get_config() == model.get_config()
    assert loaded.meta == model.meta
    for (n1, a, _, _), (n2, b, _, _) in zip(
        model.named_parameters(), loaded.named_parameters(), strict=True
    ):
        assert n1 == n2 and a.dtype == b.dtype and np.array_equal(a, b)
    x = np.random.default_rng(1).random((3, 1, 28, 28), dtype=np.float32)
    assert np.array_equal(model.predict_logits(x), loaded.predict_logits(x))
    with np.load(path, allow_pickle=False) as npz:  # every entry loads without pickle
        assert META_KEY in npz.files and all(npz[k].dtype != object for k in npz.files)
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temporary file left
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # permissions as open() gives


def test_failed_write_leaves_nothing(tmp_path, model):
    model.meta = {"bad": object()}  # not JSON-serialisable
    with pytest.raises(TypeError):
        save_model(tmp_path / "m.npz", model)
    assert list(tmp_path.iterdir()) == []


def test_overwrite_keeps_old_file_until_new_one_is_complete(tmp_path, model):
    path = save_model(tmp_path / "m.npz", model)
    before = path.read_bytes()
    model.meta = {"bad": object()}
    with pytest.raises(TypeError):
        save_model(path, model)
    assert path.read_bytes() == before


def _one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError) as e:
        load_model(tmp_path / "nope.npz")
    assert "not found" in _one_line(e)


def test_truncated_file(tmp_path, model):
    path = save_model(tmp_path / "m.npz", model)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError) as e:
        load_model(path)
    assert "not a readable digitnet model" in _one_line(e)


def test_corrupted_bytes(tmp_path, model):
    path = save_model(tmp_path / "m.npz", model)
    data = bytearray(path.read_bytes())
    mid = len(data) // 3
    data[mid : mid + 64] = bytes(64)
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError) as e:
        load_model(path)
    _one_line(e)


def test_foreign_files(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(ModelFileError) as e:
        load_model(text)
    assert "not a readable digitnet model" in _one_line(e)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(ModelFileError) as e:
        load_model(other)
    assert "not a digitnet model" in _one_line(e)


def _rewrite_meta(path, edit):
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    doc = json.loads(arrays[META_KEY].tobytes())
    edit(doc)
    arrays[META_KEY] = np.frombuffer(json.dumps(doc).encode(), dtype=np.uint8)
    np.savez(path, **arrays)


def test_newer_format(tmp_path, model):
    path = save_model(tmp_path / "m.npz", model)
    _rewrite_meta(path, lambda d: d.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(ModelFileError) as e:
        load_model(path)
    assert "upgrade digitnet" in _one_line(e)


def test_other_format_name(tmp_path, model):
    path = save_model(tmp_path / "m.npz", model)
    _rewrite_meta(path, lambda d: d.update(format="keras"))
    with pytest.raises(ModelFileError) as e:
        load_model(path)
    assert "not a digitnet model file" in _one_line(e)


def test_weights_not_matching_architecture(tmp_path, model):
    path = save_model(tmp_path / "m.npz", model)
    _rewrite_meta(path, lambda d: d["architecture"]["layers"][1].update(units=9))
    with pytest.raises(ModelFileError) as e:
        load_model(path)
    assert "do not fit together" in _one_line(e)


def test_pickled_array_refused(tmp_path, model):
    path = save_model(tmp_path / "m.npz", model)
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["layers.1.W"] = np.array([{"evil": 1}], dtype=object)
    np.savez(path, **arrays)
    with pytest.raises(ModelFileError) as e:
        load_model(path)
    _one_line(e)
    assert zipfile.is_zipfile(path)


def test_ensemble_round_trip_and_average(tmp_path):
    from digitnet.nn import Ensemble

    members = [
        Sequential([Flatten(), Dense(6), ReLU(), Dense(10)], (1, 28, 28), np.random.default_rng(s))
        for s in range(3)
    ]
    ens = Ensemble(members)
    ens.meta = {"preset": "tiny", "ensemble": 3}
    x = np.random.default_rng(9).random((5, 1, 28, 28), dtype=np.float32)
    expected = np.mean([m.predict_proba(x) for m in members], axis=0)
    assert np.allclose(ens.predict_proba(x), expected, atol=1e-7)
    assert np.allclose(ens.predict_proba(x).sum(axis=1), 1.0, atol=1e-6)
    loaded = load_model(save_model(tmp_path / "e.npz", ens))
    assert isinstance(loaded, Ensemble) and len(loaded.members) == 3
    assert np.array_equal(loaded.predict_proba(x), ens.predict_proba(x))
    assert loaded.meta == ens.meta and loaded.num_parameters() == ens.num_parameters()
