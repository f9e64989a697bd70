"""The web app: a page to draw or photograph digits and watch the network read them, look
inside it and watch one learn, and the JSON API it uses (FastAPI; OpenAPI documentation at
``/docs`` and ``/redoc``, served from the package: no CDN).

The app is a thin layer over the library, one router per concern
(:mod:`~digitnet.apps.serve.routes`): the page, reading (``recognise``, the network on a
28x28 input), the model (its facts, ONNX, ``evaluation.inside``), samples and adapting
(``training.adapt.personalise``), training (``training.loop.fit``). What the handlers share
(models, the sample store, jobs) is built once (:class:`~digitnet.apps.serve.services.Services`)
and handed to them as FastAPI dependencies; library errors become ``{"detail", "code"}``
answers in one place (:mod:`~digitnet.apps.serve.errors`).

Each browser is told apart by an anonymous id in an HttpOnly cookie: its samples and
personal model are its own. Handlers that run NumPy are plain functions (FastAPI's thread
pool) or hand the work to a thread, so the event loop never blocks; a model runs one forward
pass at a time (a lock), and digits sent to ``/api/read-pixels`` while it is busy are read
together in its next pass (:mod:`~digitnet.apps.serve.batching`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from digitnet import __version__
from digitnet.apps.serve import errors
from digitnet.apps.serve.middleware import Owner, UploadLimit
from digitnet.apps.serve.routes import model, page, reading, samples, training
from digitnet.apps.serve.services import MAX_UPLOAD, Services, Settings
from digitnet.errors import ConfigError

STATIC = page.STATIC
ROUTERS = (page.router, reading.router, model.router, samples.router, training.router)


def create_app(
    model_path: str | Path | None = None,
    *,
    checker: Any = True,
    max_upload: int = MAX_UPLOAD,
    samples: str | Path | None = None,
    data_dir: str | Path | None = None,
    **options: Any,
) -> FastAPI:
    """The ASGI app with the model (default: the shipped one) loaded once.

    ``samples`` is the sample store's database (default: the user's,
    :mod:`digitnet.apps.samples`), written only when a browser keeps a sample; personal
    models go beside it (``personal/``). ``data_dir`` is where adapting and training find
    MNIST (default: as ``digitnet train``; never downloaded by the server). ``options`` are
    the other :class:`~digitnet.apps.serve.services.Settings` (``keep_samples``,
    ``max_samples``, ``adapt_queue``, ``work_dir``).
    """
    settings = Settings(
        model=model_path,
        checker=checker,
        max_upload=max_upload,
        samples=samples,
        data_dir=data_dir,
        **options,
    )
    app = _fastapi()
    app.state.digitnet = Services(settings)
    errors.install(app)
    app.add_middleware(UploadLimit, limit=settings.max_upload)
    app.add_middleware(Owner)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    site = page.find_site(settings.learn)
    if site is not None:
        if not (site / "index.html").is_file():
            raise ConfigError(
                f"{site}: not a built documentation site (no index.html); build "
                "it with mkdocs build"
            )
        app.mount("/learn", StaticFiles(directory=site, html=True), name="learn")
    for router in ROUTERS:
        app.include_router(router)
    return app


def _fastapi() -> FastAPI:
    """FastAPI with its documentation pages' scripts served from the package
    (fastapi-offline, in the serve extra); FastAPI's own (from a CDN) without it."""
    about = {
        "title": "digitnet",
        "version": __version__,
        "description": "Read handwritten digits: photos, drawings, or 28x28 pixels. Every "
        'error answer is `{"detail": one line, "code": a stable kind}`.',
    }
    try:
        from fastapi_offline import FastAPIOffline
    except ImportError:
        return FastAPI(**about)
    return FastAPIOffline(**about, favicon_url="/favicon.ico")
