"""The app as uvicorn's worker processes build it (``uvicorn.run(..., factory=True)``): the
settings come from the environment that ``digitnet serve`` sets, so each worker loads its own
copy of the model."""

from __future__ import annotations

import os

from digitnet.apps.serve.app import MAX_UPLOAD, create_app


def app():
    return create_app(
        os.environ.get("DIGITNET_SERVE_MODEL") or None,
        max_upload=int(os.environ.get("DIGITNET_SERVE_MAX_UPLOAD", MAX_UPLOAD)),
    )
