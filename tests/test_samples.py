"""The sample store: samples kept by the page, counted, exported as an ImageFolder that
`digitnet adapt` reads; two processes writing at once lose nothing."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import numpy as np
import pytest
from cli_helpers import SRC
from PIL import Image

from digitnet.apps.samples import SampleStore
from digitnet.errors import ConfigError
from digitnet.training.adapt import load_samples


def png(digit: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(255 - digit).save(buf, format="PNG")
    return buf.getvalue()


def test_add_count_export_and_adapt_reads_it(tmp_path, digits_data):
    store = SampleStore(tmp_path / "s.sqlite")
    assert store.counts() == [0] * 10 and not store.path.exists()  # nothing until added
    test = digits_data.test
    for d in range(10):
        i = int(np.flatnonzero(test.labels == d)[0])
        store.add(d, png(test.images[i]))
    store.add(3, png(test.images[0]))
    assert store.counts() == [1, 1, 1, 2, 1, 1, 1, 1, 1, 1]
    assert store.export(tmp_path / "out") == 11
    images, labels, _ = load_samples(tmp_path / "out")
    assert images.shape == (11, 28, 28) and np.bincount(labels).tolist()[3] == 2
    with pytest.raises(ConfigError, match="already exists"):
        store.export(tmp_path / "out")
    with pytest.raises(ConfigError, match="0-9"):
        store.add(10, b"x")


WRITER = """
import sys
from digitnet.apps.samples import SampleStore
store = SampleStore(sys.argv[1])
for k in range(60):
    store.add(k % 10, bytes([k]) * 100)
"""


def test_two_processes_adding_at_once_lose_nothing(tmp_path):
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    db = str(tmp_path / "s.sqlite")
    SampleStore(db).add(0, b"first")  # the database exists before both start
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, db], env=env) for _ in range(2)]
    assert [p.wait(120) for p in procs] == [0, 0]
    assert sum(SampleStore(db).counts()) == 121


def test_the_page_keeps_a_sample_only_when_asked(tmp_path, digits_data):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from digitnet.apps.serve import create_app

    db = tmp_path / "s.sqlite"
    client = TestClient(create_app(samples=db))
    i = int(np.flatnonzero(digits_data.test.labels == 7)[0])
    data = png(digits_data.test.images[i])
    client.post("/api/read", files={"image": ("d.png", data, "image/png")})
    assert not db.exists()  # reading stores nothing
    r = client.post(
        "/api/samples", files={"image": ("d.png", data, "image/png")}, data={"digit": "7"}
    )
    assert r.status_code == 200 and r.json()["counts"][7] == 1
    assert client.get("/api/samples").json()["counts"][7] == 1
    bad = client.post(
        "/api/samples", files={"image": ("d.png", data, "image/png")}, data={"digit": "12"}
    )
    assert bad.status_code == 422
    blank = client.post(
        "/api/samples",
        files={"image": ("d.png", png(np.zeros((28, 28), np.uint8)), "image/png")},
        data={"digit": "1"},
    )
    assert blank.status_code == 400 and SampleStore(db).counts()[1] == 0


def test_store_load_reads_samples_as_the_network_sees_them(tmp_path, digits_data):
    store = SampleStore(tmp_path / "s.sqlite")
    assert store.load()[0].shape == (0, 28, 28)  # nothing kept: no database made
    assert not store.path.exists()
    for i in range(3):
        store.add(int(digits_data.test.labels[i]), png(digits_data.test.images[i]))
    images, labels, digest = store.load()
    assert images.shape == (3, 28, 28) and images.dtype == np.uint8
    assert labels.tolist() == digits_data.test.labels[:3].tolist() and len(digest) == 64


@pytest.mark.mnist
def test_the_page_adapts_to_kept_samples_and_reads_with_either_model(
    tmp_path, digits_data, digits_mlp, mnist_dir
):
    """ "Adapt to my handwriting": the kept samples make a personal model beside the store;
    a request chooses the base or the personal model; nothing personal exists before."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from digitnet.apps.serve import create_app
    from digitnet.modelfile import save_model

    base = tmp_path / "base.npz"
    save_model(base, digits_mlp)
    db = tmp_path / "data" / "s.sqlite"
    client = TestClient(create_app(base, samples=db, data_dir=mnist_dir))
    pixels = {"pixels": digits_data.test.images[0].tolist()}
    gone = client.post("/api/read-pixels?model=personal", json=pixels)
    assert gone.status_code == 404 and "no personal model yet" in gone.json()["detail"]
    empty = client.post("/api/adapt")
    assert empty.status_code == 400 and "no samples" in empty.json()["detail"]
    assert client.get("/api/samples").json()["personal_model"] is False
    test = digits_data.test
    for i in range(20):
        r = client.post(
            "/api/samples",
            data={"digit": str(test.labels[i])},
            files={"image": ("d.png", png(test.images[i]), "image/png")},
        )
        assert r.status_code == 200
    r = client.post("/api/adapt")
    assert r.status_code == 200, r.text
    body = r.json()
    assert sum(body["samples"]) == 20 and body["adapted"]["samples"] == 20
    assert body["adapted"]["base_model"] == "base.npz" and 0 < body["test_accuracy"] <= 1
    assert (tmp_path / "data" / "personal-model.npz").is_file()
    assert client.get("/api/samples").json()["personal_model"] is True
    assert client.get("/api/model").json()["adapted"] is None  # the base is untouched
    mine = client.post("/api/read-pixels?model=personal", json=pixels).json()
    theirs = client.post("/api/read-pixels", json=pixels).json()
    assert mine["probabilities"] != theirs["probabilities"]  # another model read it
    assert client.post("/api/read-pixels?model=other", json=pixels).status_code == 422
