"""`digitnet serve`'s JSON API through FastAPI's test client: every field, every error code,
and a schemathesis run against its OpenAPI schema (no 5xx for any input)."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
from fastapi.testclient import TestClient  # noqa: E402
from photo_helpers import mnist_style_digits, number_photo, photo  # noqa: E402
from PIL import Image  # noqa: E402
from test_imagefile import png_header_only as bomb_png  # noqa: E402

from digitnet.apps.serve import create_app  # noqa: E402

# the sample store (and the personal model beside it) in a folder of the test's own, never
# the user's: schemathesis posts to /api/samples and /api/adapt too
APP = create_app(
    max_upload=2_000_000, samples=Path(tempfile.mkdtemp(prefix="digitnet-serve-test-")) / "s.sqlite"
)


@pytest.fixture(scope="module")
def app():
    return APP


@pytest.fixture(scope="module")
def client(app):
    return TestClient(app)


@pytest.fixture(scope="module")
def digits():
    return mnist_style_digits()


def png(img: Image.Image | np.ndarray) -> bytes:
    img = Image.fromarray(img) if isinstance(img, np.ndarray) else img
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def upload(client, data: bytes, name: str = "x.png"):
    return client.post("/api/read", files={"image": (name, data, "application/octet-stream")})


def test_the_page_and_its_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text and "aria-live" in page.text
    for asset in ("/static/app.js", "/static/style.css"):
        assert client.get(asset).status_code == 200
    assert "https://" not in page.text  # nothing from the internet
    assert client.get("/openapi.json").json()["paths"].keys() >= {
        "/api/read",
        "/api/read-pixels",
        "/api/model",
        "/api/inside",
    }


def test_model_facts(client):
    m = client.get("/api/model").json()
    assert m["parameters"] > 100_000 and m["test_accuracy"] > 0.99
    assert m["preset"] == "cnn-general" and m["layers"][0].startswith("Conv2D")


def test_the_model_downloads_as_onnx(client, digits):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    r = client.get("/api/model.onnx")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    onnx.checker.check_model(onnx.load_from_string(r.content))
    images, _ = digits
    session = ort.InferenceSession(r.content, providers=["CPUExecutionProvider"])
    label = session.run(["label"], {"pixels": images[:5]})[0]
    from digitnet.evaluation.evaluate import predict_proba
    from digitnet.models import load_shipped_model

    assert label.tolist() == predict_proba(load_shipped_model(), images[:5]).argmax(1).tolist()


def test_a_photo_of_a_digit_is_read_with_every_field(client, digits):
    images, labels = digits
    body = upload(client, png(photo(images[3], 3))).json()
    assert body["number"] == str(labels[3])
    (d,) = body["digits"]
    assert d["digit"] == labels[3] and 0 < d["confidence"] <= 1 and d["sure"] is True
    assert [t["digit"] for t in d["top"]][0] == d["digit"] and len(d["top"]) == 3
    assert len(d["probabilities"]) == 10 and abs(sum(d["probabilities"]) - 1) < 1e-3
    assert np.asarray(d["input"]).shape == (28, 28)
    left, top, right, bottom = d["box"]
    assert 0 <= left < right <= body["width"] and 0 <= top < bottom <= body["height"]


def test_a_number_is_read_as_several_digits(client, digits):
    images, labels = digits
    pick = [0, 1, 2, 4]
    body = upload(client, png(number_photo(images[pick], 7, touching=0))).json()
    assert len(body["digits"]) == 4
    assert body["number"] == "".join(str(labels[i]) for i in pick)
    assert 0 < body["confidence"] <= 1


def test_pixels_are_read_in_every_documented_form(client, digits):
    images, labels = digits
    x = images[0]
    for pixels in (x.tolist(), x.ravel().tolist(), (x / 255).tolist()):
        body = client.post("/api/read-pixels", json={"pixels": pixels}).json()
        assert body["digit"] == labels[0] and len(body["probabilities"]) == 10
        assert body["input"] == x.tolist() or np.abs(np.array(body["input"]) - x).max() <= 1


def test_inside_gives_one_picture_per_layer(client, digits):
    images, _ = digits
    body = client.post("/api/inside", json={"pixels": images[0].tolist()}).json()
    assert len(body["layers"]) >= 5
    assert all(layer["image"].startswith("data:image/png;base64,") for layer in body["layers"])


@pytest.mark.parametrize(
    "data,needle",
    [
        (b"", "empty upload"),
        (b"hello, I am text", "not an image"),
        (png(np.full((40, 40), 255, np.uint8)), "no ink"),
        (png(np.full((40, 40), 255, np.uint8))[:60], "truncated"),
        (bomb_png(100_000, 100_000), "too large"),
    ],
    ids=["empty", "text", "blank", "truncated", "bomb"],
)
def test_bad_images_get_400_with_one_line(client, data, needle):
    r = upload(client, data)
    assert r.status_code == 400
    assert needle in r.json()["detail"] and "\n" not in r.json()["detail"]


@pytest.mark.parametrize(
    "pixels",
    [[[0] * 28] * 27, [0] * 783, [[0] * 29] * 28, [300] * 784, [-1] * 784, "zeros", [[1, 2], 3]],
    ids=["27 rows", "783", "29 columns", "above 255", "negative", "text", "ragged"],
)
def test_bad_pixels_get_422(client, pixels):
    r = client.post("/api/read-pixels", json={"pixels": pixels})
    assert r.status_code == 422
    assert client.post("/api/inside", json={"pixels": pixels}).status_code == 422


def test_an_upload_above_the_limit_gets_413_without_being_read(client):
    big = b"\0" * 2_500_000
    r = upload(client, big)
    assert r.status_code == 413 and "too large" in r.json()["detail"]


def test_a_chunked_upload_above_the_limit_gets_413(app):
    """No Content-Length: the body is counted as it arrives and cut at the limit."""
    small = create_app(max_upload=10_000)

    def chunks():
        for _ in range(50):
            yield b"\0" * 1000

    r = TestClient(small).post(
        "/api/read", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=x"}
    )
    assert r.status_code == 413


def test_a_stalled_upload_gets_408():
    """A body that stops arriving mid-way is answered 408 after the read timeout."""
    import asyncio

    from digitnet.apps.serve.app import UploadLimit

    async def app(scope, receive, send):
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    sent, calls = [], []

    async def receive_then_stall():
        calls.append(1)
        if len(calls) == 1:
            return {"type": "http.request", "body": b"x" * 10, "more_body": True}
        await asyncio.sleep(60)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "headers": [], "method": "POST", "path": "/api/read"}
    asyncio.run(UploadLimit(app, limit=1000, timeout=0.2)(scope, receive_then_stall, send))
    assert sent[0]["status"] == 408 and b"stalled" in sent[1]["body"]


try:
    import schemathesis
    from hypothesis import HealthCheck, settings
except ImportError:  # the fuzz run needs the test extra
    schemathesis = None

if schemathesis is not None:
    SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", APP)

    @SCHEMA.parametrize()
    @settings(
        max_examples=30, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    def test_schemathesis_finds_no_server_error(case):
        """Requests generated from the OpenAPI schema (schemathesis, in-process, 30 per
        operation): every answer is a 2xx or a 4xx, never a 5xx."""
        response = case.call()
        assert response.status_code < 500, (case.path, response.status_code, response.text)
