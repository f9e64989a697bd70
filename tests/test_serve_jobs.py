"""`digitnet serve` for many people at once: each browser's samples and personal model are
its own, limits, `--no-samples`; adapting streams its queue position and progress; the
Train panel's runs (one per server, events, stop, a model to read with)."""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
from fastapi.testclient import TestClient  # noqa: E402
from test_samples import png  # noqa: E402

from digitnet.apps.serve import create_app  # noqa: E402


@pytest.fixture
def app(tmp_path):
    return create_app(
        samples=tmp_path / "store" / "s.sqlite", work_dir=tmp_path / "work", max_samples=3
    )


def keep(client, digits_data, i: int, digit: int | None = None):
    test = digits_data.test
    return client.post(
        "/api/samples",
        data={"digit": str(test.labels[i] if digit is None else digit)},
        files={"image": ("d.png", png(test.images[i]), "image/png")},
    )


def test_two_browsers_see_and_delete_only_their_own_samples(app, digits_data, tmp_path):
    alice, bob = TestClient(app), TestClient(app)
    a = keep(alice, digits_data, 0).json()["id"]
    keep(alice, digits_data, 1)
    assert alice.get("/api/samples").json()["total"] == 2
    seen = bob.get("/api/samples").json()
    assert seen["total"] == 0 and seen["samples"] == []
    assert bob.get(f"/api/samples/{a}.png").status_code == 404
    r = bob.delete(f"/api/samples/{a}")
    assert r.status_code == 404 and r.json()["code"] == "no_sample"
    assert bob.delete("/api/samples").json()["deleted"] == 0
    assert alice.get(f"/api/samples/{a}.png").headers["content-type"] == "image/png"
    assert alice.delete(f"/api/samples/{a}").json()["total"] == 1
    assert alice.delete("/api/samples").json() | {"samples": None} == {
        "deleted": 1,
        "keeping": True,
        "counts": [0] * 10,
        "total": 0,
        "limit": 3,
        "personal_model": False,
        "samples": None,
    }
    for body in (alice.get("/api/samples").text, bob.get("/api/samples").text):
        assert str(tmp_path) not in body and "sqlite" not in body


def test_a_browser_keeps_at_most_the_limit(app, digits_data):
    c = TestClient(app)
    assert all(keep(c, digits_data, i).status_code == 200 for i in range(3))
    r = keep(c, digits_data, 3)
    assert r.status_code == 409 and r.json()["code"] == "sample_limit"


def test_no_samples_server_keeps_nothing(tmp_path, digits_data):
    c = TestClient(create_app(samples=tmp_path / "s.sqlite", keep_samples=False))
    r = keep(c, digits_data, 0)
    assert r.status_code == 403 and r.json()["code"] == "samples_off"
    assert c.post("/api/adapt").json()["code"] == "samples_off"
    assert c.get("/api/samples").json()["keeping"] is False
    assert not (tmp_path / "s.sqlite").exists()


def fake_personalise(calls):
    """A stand-in for `personalise` with the lead's contract: `progress(done, total)`."""
    from digitnet.nn import Sequential

    def personalise(base, base_path, images, labels, data, *, source, digest, progress=None, **kw):
        for k in range(1, 5):
            time.sleep(0.15)
            if progress is not None:
                progress(k, 4)
        calls.append(len(labels))
        tuned = Sequential.from_config(base.get_config())
        tuned.load_state_dict(base.copy_state())
        tuned.meta = {
            "adapt": {"samples": len(labels), "per_digit": [0] * 10},
            "base_model": {"file": "base.npz", "test_accuracy": 0.99},
        }
        return tuned

    return personalise


def events(response) -> list[dict]:
    return [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]


def test_adapt_streams_position_and_progress_one_job_per_browser(app, digits_data, monkeypatch):
    from digitnet.training import adapt as adapt_module

    calls = []
    monkeypatch.setattr(adapt_module, "personalise", fake_personalise(calls))
    app.state.digitnet.mnist.get = lambda: object()  # no MNIST needed by the fake
    alice, bob = TestClient(app), TestClient(app)
    keep(alice, digits_data, 0)
    keep(bob, digits_data, 1)
    sse = {"Accept": "text/event-stream"}
    with alice.stream("POST", "/api/adapt", headers=sse) as first:
        assert first.headers["content-type"].startswith("text/event-stream")
        # alice's job runs; a second one of hers is refused; bob's waits behind it
        again = alice.post("/api/adapt", headers=sse)
        assert again.status_code == 409 and again.json()["code"] == "adapt_busy"
        with bob.stream("POST", "/api/adapt", headers=sse) as second:
            mine, theirs = events(first), events(second)
    assert [e["state"] for e in mine][-1] == "done"
    running = [e for e in mine if e["state"] == "running" and e["total"]]
    assert running and running[-1]["done"] == 4 and running[-1]["total"] == 4
    assert mine[-1]["model"]["file"] == "your personal model"
    assert theirs[0] == {"state": "queued", "job": theirs[0]["job"], "position": 1}
    assert theirs[-1]["state"] == "done" and calls == [1, 1]
    assert alice.get("/api/samples").json()["personal_model"] is True
    x = {"pixels": digits_data.test.images[0].tolist()}
    assert alice.post("/api/read-pixels?model=personal", json=x).status_code == 200
    # without an event-stream Accept header the answer waits for the model
    plain = bob.post("/api/adapt")
    assert plain.status_code == 200 and plain.json()["adapted"]["samples"] == 1
    assert alice.delete("/api/samples").json()["personal_model"] is False


def test_adapt_or_train_without_mnist_says_so(tmp_path, digits_data):
    app = create_app(
        samples=tmp_path / "s.sqlite", data_dir=tmp_path / "empty", work_dir=tmp_path / "w"
    )
    c = TestClient(app)
    keep(c, digits_data, 0)
    for r in (c.post("/api/adapt"), c.post("/api/train", json={})):
        assert r.status_code == 503 and r.json()["code"] == "no_mnist"
    assert c.post("/api/train", json={"preset": "cnn"}).json()["code"] in ("no_mnist", "bad_preset")


@pytest.mark.mnist
def test_a_small_network_trains_streams_its_curves_and_reads(tmp_path, mnist_dir, digits_data):
    app = create_app(samples=tmp_path / "s.sqlite", data_dir=mnist_dir, work_dir=tmp_path / "w")
    c = TestClient(app)
    assert (
        c.post("/api/read-pixels?model=trained", json={"pixels": [0] * 784}).json()["code"]
        == "no_trained_model"
    )
    run = c.post("/api/train", json={"digits": 1000, "epochs": 3}).json()["run"]
    busy = c.post("/api/train", json={})
    assert busy.status_code == 409 and busy.json()["code"] == "training_busy"
    assert busy.json()["run"] == run
    with c.stream("GET", f"/api/train/{run}/events") as r:
        got = events(r)
    kinds = [e["type"] for e in got]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("epoch") == 3
    epochs = [e for e in got if e["type"] == "epoch"]
    assert all(0 <= e["val_accuracy"] <= 1 and e["train_loss"] > 0 for e in epochs)
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
    assert got[0]["filters"]["shape"] == [32, 28, 28]  # relu-128-64's first units
    assert got[-1]["test_accuracy"] > 0.5  # it learnt: 1,000 digits, 3 epochs (74.7% here)
    x = {"pixels": digits_data.test.images[0].tolist()}
    assert c.post("/api/read-pixels?model=trained", json=x).status_code == 200
    assert c.get("/api/model?model=trained").json()["file"] == "trained on this page"
    # a second run, stopped at once: it ends as "stopped" and keeps a model
    run2 = c.post("/api/train", json={"digits": 20000, "epochs": 30}).json()["run"]
    assert c.post(f"/api/train/{run2}/stop").json() == {"stopping": True}
    with c.stream("GET", f"/api/train/{run2}/events") as r:
        assert events(r)[-1]["type"] == "stopped"
    assert c.get("/api/train").json()["running"] is False
