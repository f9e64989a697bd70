"""The web app: a page to draw or photograph digits and watch the network read them, and the
JSON API it uses (FastAPI; OpenAPI documentation at ``/docs``).

The app is a thin layer over the library: ``/api/read`` is
:func:`digitnet.reading.recognise.recognise` (the preprocessing of ``digitnet predict``),
``/api/read-pixels`` is the network on a 28x28 input, ``/api/inside`` is
:func:`digitnet.evaluation.inside.layer_activations`, ``/api/adapt`` is
:func:`digitnet.training.adapt.personalise` on the kept samples. It keeps no state between requests
(a request names the model it wants: the base one or the user's personal one) and writes to
disk only when the user asks (a kept sample, an adapted model), so it scales as N uvicorn
workers. The handlers are plain functions: FastAPI runs them in its thread pool, so NumPy
never blocks the event loop. A model is not safe to run from two threads at once (its layers
keep scratch arrays), so each worker reads one request at a time (a lock); more workers read
more at once.
"""

from __future__ import annotations

import asyncio
import base64
import io
import threading
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import FastAPI, File, Form, HTTPException, Query, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from PIL import Image
from pydantic import BaseModel, Field

from digitnet import __version__
from digitnet.errors import DigitnetError
from digitnet.evaluation.evaluate import predict_proba
from digitnet.evaluation.inside import describe, layer_activations
from digitnet.modelfile import load_model
from digitnet.nn import Conv2D, Dense
from digitnet.reading.recognise import recognise

STATIC = Path(__file__).resolve().parent / "static"
#: a digit read with less confidence than this is shown as "not sure", with the top two
SURE = 0.8
#: uploads above this many bytes are refused with 413 (``digitnet serve --max-upload-mb``)
MAX_UPLOAD = 10 * 1024 * 1024
#: a request body that stops arriving for this many seconds gets 408
READ_TIMEOUT = 20.0


class Pixels(BaseModel):
    """One digit as the network's input: 28x28 values (rows) or 784 values, 0 = background,
    in [0, 255] or in [0, 1] (when none is above 1)."""

    pixels: list[float] | list[list[float]] = Field(
        description="28 rows of 28 values, or 784 values; 0-255, or 0-1 when all are <= 1"
    )


class Models:
    """The base model and, once the user has adapted it, their personal model.

    The personal model lives in a file beside the sample store and is loaded again whenever
    that file changes, so every worker of ``digitnet serve --workers N`` reads with the latest
    one; a request names the one it wants (``?model=personal``), so the server keeps no
    per-user state.
    """

    def __init__(self, base: Any, base_path: str | Path, personal_path: Path) -> None:
        self.base, self.base_path, self.personal_path = base, Path(base_path), personal_path
        self._personal: tuple[float, Any] | None = None
        self._lock = threading.Lock()

    def get(self, which: str) -> tuple[Any, Path]:
        """``(model, its file)``; 404 when the personal model is asked for and not made yet."""
        if which == "base":
            return self.base, self.base_path
        try:
            stamp = self.personal_path.stat().st_mtime_ns
        except OSError:
            raise HTTPException(
                404,
                "no personal model yet: keep a few samples with \"that's "
                'wrong", then press "Adapt to my handwriting"',
            ) from None
        with self._lock:
            if self._personal is None or self._personal[0] != stamp:
                self._personal = (stamp, load_model(self.personal_path))
            return self._personal[1], self.personal_path


Which = Annotated[
    Literal["base", "personal"],
    Query(description="the base model, or the personal one made by /api/adapt"),
]


def create_app(
    model_path: str | Path | None = None,
    *,
    checker: Any = True,
    max_upload: int = MAX_UPLOAD,
    samples: str | Path | None = None,
    data_dir: str | Path | None = None,
) -> FastAPI:
    """The ASGI app, with the model (default: the shipped one) loaded once; ``samples`` is
    the sample store's database (default: the user's, :mod:`digitnet.apps.samples`), written
    only when the page's "that's wrong" button is pressed; the personal model that
    ``/api/adapt`` makes is saved beside it (``personal-model.npz``). ``data_dir`` is where
    adapting finds MNIST's training digits to replay (default: as ``digitnet train``)."""
    from digitnet.apps.samples import SampleStore

    store = SampleStore(samples)
    if model_path is None:
        from digitnet.models import shipped_model_path

        model_path = shipped_model_path()
    models = Models(load_model(model_path), model_path, store.path.with_name("personal-model.npz"))
    if checker is True:
        from digitnet.models import load_shipped_checker

        checker = load_shipped_checker()
    lock = threading.Lock()
    adapting = threading.Lock()
    app = FastAPI(
        title="digitnet",
        version=__version__,
        description="Read handwritten digits: photos, drawings, or 28x28 pixels.",
    )
    app.add_middleware(UploadLimit, limit=max_upload)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get(
        "/api/model",
        summary="The model: architecture, size, test accuracy, version",
        responses={404: {"description": "no personal model yet"}},
    )
    def model_facts(model: Which = "base") -> dict[str, Any]:
        return facts(*models.get(model))

    @app.get(
        "/api/model.onnx",
        summary="The model as an ONNX graph (digitnet export)",
        response_class=Response,
        responses={
            200: {"content": {"application/octet-stream": {}}},
            404: {"description": "no personal model yet"},
            501: {"description": "onnx is not installed on the server"},
        },
    )
    def model_onnx(model: Which = "base") -> Response:
        from digitnet.errors import ExportError
        from digitnet.interop import to_onnx

        net, path = models.get(model)
        try:
            data = to_onnx(net, input_type="uint8").SerializeToString()
        except ExportError as exc:
            raise HTTPException(501, _one_line(str(exc))) from None
        return Response(
            data,
            media_type="application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="{path.stem}.onnx"'},
        )

    @app.post(
        "/api/read",
        summary="Read the digits in an image file (a photo, a drawing)",
        responses={
            400: {"description": "not an image, or no digit in it"},
            404: {"description": "no personal model yet"},
            413: {"description": "upload too large"},
        },
    )
    def read(
        image: Annotated[UploadFile, File(description="PNG, JPEG, GIF, BMP, TIFF, WebP")],
        model: Which = "base",
    ) -> dict[str, Any]:
        data = image.file.read()
        if not data:
            raise HTTPException(400, "empty upload: send an image file")
        net, _ = models.get(model)
        try:
            with lock:
                result = recognise(data, net, checker=checker or False, top=10)
        except DigitnetError as exc:
            raise HTTPException(400, _one_line(str(exc).replace("image: ", "", 1))) from None
        return reading(result)

    @app.post(
        "/api/samples",
        summary="Keep a drawing as a labelled sample of your handwriting",
        responses={
            400: {"description": "not an image, or no digit in it"},
            422: {"description": "digit not 0-9"},
        },
    )
    def add_sample(
        image: Annotated[UploadFile, File(description="the drawing (PNG)")],
        digit: Annotated[int, Form(ge=0, le=9, description="what it is")],
    ) -> dict[str, Any]:
        data = image.file.read()
        try:
            with lock:
                recognise(data, models.base, checker=False, single=True)  # a readable digit
        except DigitnetError as exc:
            raise HTTPException(400, _one_line(str(exc).replace("image: ", "", 1))) from None
        sample = store.add(digit, data)
        return {"id": sample, "counts": store.counts(), "store": str(store.path)}

    @app.get("/api/samples", summary="How many samples of each digit are kept")
    def sample_counts() -> dict[str, Any]:
        return {
            "counts": store.counts(),
            "store": str(store.path),
            "personal_model": models.personal_path.is_file(),
        }

    @app.post(
        "/api/adapt",
        summary="Teach the base model the kept samples: makes (or remakes) the personal model",
        responses={
            400: {"description": "no samples kept yet"},
            409: {"description": "already adapting"},
            503: {"description": "MNIST's training digits are not available"},
        },
    )
    def adapt_to_samples() -> dict[str, Any]:
        from digitnet.data import load_mnist
        from digitnet.modelfile import save_model
        from digitnet.training.adapt import personalise

        if not adapting.acquire(blocking=False):
            raise HTTPException(409, "already adapting: wait for it to finish")
        try:
            images, labels, digest = store.load()
            if not len(labels):
                raise HTTPException(
                    400,
                    "no samples kept yet: draw a digit it misreads and "
                    'press "Keep as a sample" first',
                )
            try:
                data = load_mnist(data_dir)
            except DigitnetError as exc:
                raise HTTPException(
                    503, _one_line(f"cannot replay MNIST training digits ({exc})")
                ) from None
            tuned = personalise(
                models.base,
                models.base_path,
                images,
                labels,
                data,
                source=str(store.path),
                digest=digest,
            )
            save_model(models.personal_path, tuned)
        finally:
            adapting.release()
        out = facts(*models.get("personal"))
        out["samples"] = np.bincount(labels, minlength=10).tolist()
        return out

    @app.post(
        "/api/read-pixels",
        summary="Read one digit given as the network's 28x28 input",
        responses={
            404: {"description": "no personal model yet"},
            422: {"description": "not 28x28 / 784 finite values in range"},
        },
    )
    def read_pixels(body: Pixels, model: Which = "base") -> dict[str, Any]:
        digit = to_digit(body.pixels)
        net, _ = models.get(model)
        with lock:
            proba = predict_proba(net, digit[None])[0]
        return {"number": str(int(proba.argmax())), **_digit(proba, digit, None)}

    @app.post(
        "/api/inside",
        summary="What each layer computes for one 28x28 input",
        responses={
            404: {"description": "no personal model yet"},
            422: {"description": "not 28x28 / 784 finite values in range"},
        },
    )
    def inside(body: Pixels, model: Which = "base") -> dict[str, Any]:
        digit = to_digit(body.pixels)
        net, _ = models.get(model)
        net = net.members[0] if hasattr(net, "members") else net
        with lock:
            acts = layer_activations(net, digit)
        return {
            "layers": [
                {"name": a.name, "shape": list(a.values.shape), "image": _png_url(_tile(a.values))}
                for a in acts[1:]
            ]
        }

    return app


def facts(model: Any, path: str | Path) -> dict[str, Any]:
    """What the page shows about the model."""
    meta = getattr(model, "meta", {}) or {}
    net = model.members[0] if hasattr(model, "members") else model
    return {
        "file": Path(path).name,
        "preset": meta.get("preset"),
        "parameters": int(model.num_parameters()),
        "test_accuracy": (meta.get("test") or {}).get("accuracy"),
        "ensemble": len(model.members) if hasattr(model, "members") else 1,
        "layers": [describe(layer) for layer in net.layers],
        "convolutional": any(isinstance(layer, Conv2D) for layer in net.layers),
        "dense": any(isinstance(layer, Dense) for layer in net.layers),
        "adapted": (
            {
                "samples": meta["adapt"]["samples"],
                "per_digit": meta["adapt"]["per_digit"],
                "base_model": (meta.get("base_model") or {}).get("file"),
                "base_test_accuracy": (meta.get("base_model") or {}).get("test_accuracy"),
            }
            if "adapt" in meta
            else None
        ),
        "digitnet_version": __version__,
    }


def to_digit(pixels: list) -> np.ndarray:
    """``(28, 28)`` uint8 from 28 rows of 28 or 784 values in [0, 255] (or [0, 1]); 422
    otherwise."""
    try:
        a = np.asarray(pixels, dtype=np.float64)
    except (ValueError, TypeError):
        raise HTTPException(422, "pixels must be 28 rows of 28 numbers or 784 numbers") from None
    if a.size != 784 or a.shape not in ((784,), (28, 28)):
        raise HTTPException(
            422, f"pixels must be 28 rows of 28 numbers or 784 numbers, got shape {list(a.shape)}"
        )
    if not np.isfinite(a).all() or a.min() < 0 or a.max() > 255:
        raise HTTPException(422, "pixels must be finite numbers from 0 to 255 (or 0 to 1)")
    if a.max() <= 1:
        a = a * 255
    return np.rint(a.reshape(28, 28)).astype(np.uint8)


def reading(result: Any) -> dict[str, Any]:
    """The JSON answer for a :class:`~digitnet.reading.recognise.Recognition`."""
    p = result.prepared
    inputs = p.inputs(result.chosen)
    width, height = p.loaded.original_size
    digits = []
    for d, x in zip(result.digits, inputs, strict=True):
        digits.append({**_digit(None, x, d), "box": list(d.box)})
    return {
        "number": result.prediction,
        "confidence": result.confidence,
        "sure": all(d["sure"] for d in digits),
        "width": width,
        "height": height,
        "digits": digits,
    }


def _digit(proba: np.ndarray | None, x: np.ndarray, d: Any) -> dict[str, Any]:
    """One digit's fields: from the full probabilities, or from a DigitResult's top list."""
    if proba is not None:
        order = np.argsort(-proba, kind="stable")
        top = [{"digit": int(k), "confidence": float(proba[k])} for k in order[:3]]
        probabilities = [float(v) for v in proba]
    else:
        top = [{"digit": k, "confidence": c} for k, c in d.top[:3]]
        probabilities = [0.0] * 10
        for k, c in d.top:
            probabilities[k] = c
    return {
        "digit": top[0]["digit"],
        "confidence": top[0]["confidence"],
        "sure": top[0]["confidence"] >= SURE,
        "top": top,
        "probabilities": probabilities,
        "input": x.tolist(),
    }


def _tile(values: np.ndarray) -> np.ndarray:
    """A layer's output as one grey image: (H, W, C) maps side by side in rows of 8, or a
    (D,) vector as a strip; each map scaled to its own range."""
    if values.ndim == 3:
        h, w, c = values.shape
        cols = min(8, c)
        rows = -(-c // cols)
        out = np.zeros((rows * (h + 1) - 1, cols * (w + 1) - 1))
        for k in range(c):
            m = values[:, :, k]
            span = float(m.max() - m.min())
            r, q = divmod(k, cols)
            out[r * (h + 1) : r * (h + 1) + h, q * (w + 1) : q * (w + 1) + w] = (
                (m - m.min()) / span if span > 0 else 0
            )
        return out
    v = values.ravel()
    cols = min(32, v.size)
    v = np.concatenate([v, np.full(-v.size % cols, np.nan)]).reshape(-1, cols)
    span = float(np.nanmax(v) - np.nanmin(v))
    return np.nan_to_num((v - np.nanmin(v)) / span if span > 0 else v * 0)


def _png_url(grey: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(np.rint(np.clip(grey, 0, 1) * 255).astype(np.uint8)).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _one_line(text: str) -> str:
    return text.splitlines()[0] if text else "bad request"


class UploadLimit:
    """ASGI middleware: a request body above ``limit`` bytes gets 413 -- at once when its
    Content-Length says so, else as soon as that many bytes have arrived (the app then sees
    the body end there, and its answer is replaced by the 413): it is never read whole. A
    client that sends nothing for ``timeout`` seconds in the middle of its body gets 408, so
    a slow or stuck upload cannot hold the server."""

    def __init__(self, app: Any, limit: int, timeout: float = READ_TIMEOUT) -> None:
        self.app, self.limit, self.timeout = app, limit, timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        too_large = JSONResponse(
            {"detail": f"upload too large: the limit is {self.limit / 1e6:g} MB"}, status_code=413
        )
        if length is not None and length.isdigit() and int(length) > self.limit:
            return await too_large(scope, receive, send)
        seen, exceeded = 0, None
        end = {"type": "http.request", "body": b"", "more_body": False}

        async def counted():
            nonlocal seen, exceeded
            if exceeded:
                return end
            try:
                message = await asyncio.wait_for(receive(), self.timeout)
            except TimeoutError:
                exceeded = JSONResponse(
                    {
                        "detail": f"the upload stalled for {self.timeout:g} "
                        "s: send the whole file at once"
                    },
                    status_code=408,
                )
                return end
            seen += len(message.get("body", b""))
            if seen > self.limit:
                exceeded = too_large
                return end
            return message

        async def guarded(message):
            if exceeded is None:
                await send(message)
            elif message["type"] == "http.response.start":
                await exceeded(scope, receive, send)

        await self.app(scope, counted, guarded)
