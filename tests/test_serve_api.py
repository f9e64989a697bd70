"""`digitnet serve`'s JSON API through FastAPI's test client: every field, every error code,
and a schemathesis run against its OpenAPI schema (no 5xx for any input)."""

from __future__ import annotations

import importlib.util
import io
import re
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
from digitnet.errors import DigitnetError  # noqa: E402

# the sample store (and the personal models beside it) in a folder of the test's own, never
# the user's: schemathesis posts to /api/samples, /api/adapt and /api/train too; no MNIST
# there (an empty data folder), so those answer no_mnist instead of training in the background
_HOME = Path(tempfile.mkdtemp(prefix="digitnet-serve-test-"))
APP = create_app(
    max_upload=2_000_000,
    samples=_HOME / "s.sqlite",
    data_dir=_HOME / "no-mnist",
    work_dir=_HOME / "work",
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
    assert m["preset"] == "cnn-world" and m["layers"][0].startswith("Conv2D")
    assert m["onnx"]["available"] == (importlib.util.find_spec("onnx") is not None)


def test_docs_and_favicon_are_served_from_the_package(client):
    docs = client.get("/docs")
    assert docs.status_code == 200 and "cdn" not in docs.text.lower()
    for url in ("/docs", "/redoc"):
        page = client.get(url).text
        scripts = [p.split('"')[0] for p in page.split('src="')[1:]]
        assert scripts and all(s.startswith("/") for s in scripts), scripts
        assert all(client.get(s).status_code == 200 for s in scripts)
    assert client.get("/favicon.ico").status_code == 200


def test_the_onnx_link_explains_itself_without_onnx(client, monkeypatch):
    """A serve-only install (no onnx): 501 with code onnx_missing naming the extra, and
    /api/model says so, for the page to grey the link."""
    from digitnet.apps.serve.routes import model as model_routes

    monkeypatch.setattr(model_routes, "onnx_available", lambda: False)
    r = client.get("/api/model.onnx")
    assert r.status_code == 501 and r.json()["code"] == "onnx_missing"
    assert "digitnet[onnx]" in r.json()["detail"]
    assert client.get("/api/model").json()["onnx"]["available"] is False


def test_every_error_answer_has_a_detail_and_a_code(client):
    for r in (
        client.get("/api/nowhere"),
        client.put("/api/read"),
        client.post("/api/read-pixels", content=b"{", headers={"Content-Type": "application/json"}),
        client.post("/api/read-pixels?model=personal", json={"pixels": [0] * 784}),
        client.delete("/api/samples/12345"),
        client.post("/api/train/nope/stop"),
    ):
        body = r.json()
        assert r.status_code >= 400 or body == {"stopping": False}
        if r.status_code >= 400:
            assert isinstance(body["detail"], str) and body["code"], body


def test_a_browser_gets_an_httponly_cookie_and_its_own_id(app):
    first, second = TestClient(app), TestClient(app)
    cookie = first.get("/api/samples").headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "set-cookie" not in first.get("/api/samples").headers  # kept, not made anew
    assert second.get("/api/samples").headers["set-cookie"] != cookie


def test_digits_sent_together_are_read_in_one_pass(app, digits):
    """Micro-batching: concurrent /api/read-pixels requests share forward passes, and each
    gets its own digit's answer."""
    import concurrent.futures

    images, labels = digits
    svc = app.state.digitnet
    svc.batcher.sizes.clear()
    with TestClient(app) as c, concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(
                lambda i: c.post("/api/read-pixels", json={"pixels": images[i].tolist()}).json(),
                range(64),
            )
        )
    single = TestClient(app)
    for i, a in enumerate(answers):
        alone = single.post("/api/read-pixels", json={"pixels": images[i].tolist()}).json()
        assert a["digit"] == alone["digit"]
        assert np.allclose(a["probabilities"], alone["probabilities"], atol=1e-5)
    assert sum(svc.batcher.sizes) >= 64 and max(svc.batcher.sizes) > 1


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


def test_the_style_option_weighs_the_ambiguous_pairs(client, digits):
    """?style=continental makes a 1 likelier than a 7 (and american the reverse), as the
    library's styles do; an unknown style is a 422 with a code."""
    images, _ = digits
    data = png(photo(images[3], 3))
    ones = {
        style: upload_to(client, f"/api/read?style={style}", data)["digits"][0]["probabilities"]
        for style in ("auto", "continental", "american")
    }
    ratio = {s: p[1] / max(p[7], 1e-12) for s, p in ones.items()}
    assert ratio["continental"] > ratio["auto"] > ratio["american"]
    bad = client.post("/api/read?style=swiss", files={"image": ("x.png", data, "image/png")})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_request"


def upload_to(client, url: str, data: bytes) -> dict:
    return client.post(url, files={"image": ("x.png", data, "image/png")}).json()


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


def decode(layer: dict) -> np.ndarray:
    """An encoded array of the API back to floats (value = (byte - 128) / 127 * scale)."""
    import base64

    q = np.frombuffer(base64.b64decode(layer["data"]), np.uint8).reshape(layer["shape"])
    return (q.astype(np.float64) - 128) / 127 * layer["scale"]


def test_inside_gives_each_layers_values(client, digits):
    """Blocks (conv + batch norm + ReLU as one) by default, every layer on request; the
    values decode to what the library computes, within the byte's step."""
    from digitnet.evaluation.inside import layer_activations
    from digitnet.models import load_shipped_model

    images, _ = digits
    body = client.post("/api/inside", json={"pixels": images[0].tolist()}).json()
    names = [layer["name"] for layer in body["layers"]]
    assert names[0] == "input" and names[1] == "Conv2D 32 5x5 + BatchNorm + ReLU"
    assert names[-1] == "Dense 10" and abs(sum(body["probabilities"]) - 1) < 1e-6
    acts = {a.index: a.values for a in layer_activations(load_shipped_model(), images[0])}
    for layer in body["layers"]:
        want = acts[layer["index"]]
        assert np.abs(decode(layer) - want).max() <= layer["scale"] / 127 + 1e-6
    every = client.post("/api/inside?detail=all", json={"pixels": images[0].tolist()}).json()
    assert len(every["layers"]) > len(body["layers"])


def test_what_feeds_a_map_and_a_unit(client, digits):
    images, _ = digits
    pixels = images[0].tolist()
    conv = client.post("/api/inside/feeds", json={"pixels": pixels, "layer": 6, "unit": 3}).json()
    assert conv["kind"] == "conv" and conv["weights"]["shape"] == [32, 3, 3]
    assert conv["contributions"]["shape"] == [32] and conv["source_name"] == "MaxPool2D 2x2"
    out = client.post("/api/inside/feeds", json={"pixels": pixels, "layer": 16, "unit": 7})
    assert out.json()["kind"] == "dense" and out.json()["weights"]["shape"] == [256]
    bad = client.post("/api/inside/feeds", json={"pixels": pixels, "layer": 99, "unit": 0})
    assert bad.status_code == 422 and bad.json()["code"] == "bad_pixels"


def test_first_layer_filters(client):
    body = client.get("/api/model/filters").json()
    assert body["kind"] == "conv" and body["filters"]["shape"] == [5, 5, 32]


def test_a_blank_image_is_read_as_no_number(client):
    """A blank image is an answer, not an error (as `digitnet predict` says): no number, the
    library's reason, and the code the page branches on."""
    body = upload(client, png(np.full((40, 40), 255, np.uint8))).json()
    assert body["number"] is None and body["code"] == "blank" and body["digits"] == []
    assert body["reason"].startswith("blank")
    zero = client.post("/api/read-pixels", json={"pixels": [0] * 784}).json()
    assert zero["digit"] is None and zero["code"] == "blank" and zero["number"] is None


def test_a_mark_the_model_refuses_is_not_a_digit(client, digits, monkeypatch):
    """With a model whose not-a-digit threshold refuses everything, both reading paths say
    so: digit null, reason and code (issue 31's contract)."""
    images, _ = digits
    svc = client.app.state.digitnet
    monkeypatch.setitem(svc.models.base.model.meta, "not_a_digit_below", 1.01)
    r = client.post("/api/read-pixels", json={"pixels": images[0].tolist()}).json()
    assert r["digit"] is None and r["code"] == "not_a_digit" and r["reason"] == "not a digit"
    body = upload(client, png(photo(images[3], 3))).json()
    assert body["number"] is None and body["code"] == "not_a_digit"
    assert body["digits"][0]["digit"] is None and len(body["digits"][0]["probabilities"]) == 10


@pytest.mark.parametrize(
    "data,needle,code",
    [
        (b"", "empty upload", "empty_upload"),
        (b"hello, I am text", "not an image", "bad_image"),
        (png(np.full((40, 40), 255, np.uint8))[:60], "truncated", "bad_image"),
        (bomb_png(100_000, 100_000), "too large", "bad_image"),
    ],
    ids=["empty", "text", "truncated", "bomb"],
)
def test_bad_images_get_400_with_one_line_and_a_code(client, data, needle, code):
    r = upload(client, data)
    assert r.status_code == 400
    body = r.json()
    assert needle in body["detail"] and "\n" not in body["detail"] and body["code"] == code
    assert len(body["detail"]) <= 200


@pytest.mark.parametrize(
    "pixels",
    [[[0] * 28] * 27, [0] * 783, [[0] * 29] * 28, [300] * 784, [-1] * 784, "zeros", [[1, 2], 3]],
    ids=["27 rows", "783", "29 columns", "above 255", "negative", "text", "ragged"],
)
def test_bad_pixels_get_422(client, pixels):
    r = client.post("/api/read-pixels", json={"pixels": pixels})
    assert r.status_code == 422 and r.json()["code"] in ("bad_pixels", "invalid_request")
    assert isinstance(r.json()["detail"], str) and "\n" not in r.json()["detail"]
    assert client.post("/api/inside", json={"pixels": pixels}).status_code == 422


def test_an_upload_above_the_limit_gets_413_without_being_read(client):
    big = b"\0" * 2_500_000
    r = upload(client, big)
    assert r.status_code == 413 and "too large" in r.json()["detail"]
    assert r.json()["code"] == "too_large" and "2 MB" in r.json()["detail"]


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

    from digitnet.apps.serve.middleware import UploadLimit

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


def test_a_long_answer_after_a_whole_body_is_not_cut_by_the_stall_timeout():
    """The stall timeout is for bodies still arriving: a streamed answer (adapt's events)
    that listens for a disconnect for longer than the timeout is delivered whole."""
    import asyncio

    from digitnet.apps.serve.middleware import UploadLimit

    async def app(scope, receive, send):
        await receive()  # the whole (empty) body
        listening = asyncio.ensure_future(receive())  # as Starlette's streaming does
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.sleep(0.5)
        await send({"type": "http.response.body", "body": b"late", "more_body": False})
        listening.cancel()

    sent, calls = [], []

    async def receive():
        calls.append(1)
        if len(calls) == 1:
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(60)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "headers": [], "method": "POST", "path": "/api/adapt"}
    asyncio.run(UploadLimit(app, limit=1000, timeout=0.2)(scope, receive, send))
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"late"


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
        operation): every answer is a 2xx or a 4xx, never a 5xx -- except the documented 503
        ``no_mnist`` of training and adapting, which this app (given no MNIST on purpose, so
        that no training runs in the background) gives to every valid request there."""
        response = case.call()
        if response.status_code == 503 and case.path in ("/api/train", "/api/adapt"):
            assert response.json()["code"] == "no_mnist", response.text
            return
        assert response.status_code < 500, (case.path, response.status_code, response.text)


def test_learn_serves_the_built_site_or_says_how_to_build_it(tmp_path):
    """/learn/ is the documentation site when one is built (here a stand-in with the pages
    the page links to), else a 404 page that says how to build it; the page links its
    "inside the network" panel to the site's How it works sections."""
    from digitnet.apps.serve.routes import page

    links = re.findall(r'href="(/learn/[^"]+)"', (page.STATIC / "index.html").read_text())
    assert "/learn/how-it-works/convolution/" in links
    site = tmp_path / "site"
    for link in ["/learn/", *links]:
        folder = site / link.removeprefix("/learn/")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "index.html").write_text(f"<h1>{link}</h1>")
    with_site = TestClient(create_app(learn=site, keep_samples=False))
    for link in links:
        r = with_site.get(link)
        assert r.status_code == 200 and link in r.text
    missing = TestClient(create_app(learn=None, keep_samples=False))
    if page.find_site(None) is None:  # a checkout without a built site
        r = missing.get("/learn/how-it-works/convolution/")
        assert r.status_code == 404 and "mkdocs build" in r.text
    with pytest.raises(DigitnetError, match="not a built documentation site"):
        create_app(learn=tmp_path / "empty", keep_samples=False)
