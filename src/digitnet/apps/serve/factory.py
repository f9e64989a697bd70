"""The app as uvicorn's worker processes build it (``uvicorn.run(..., factory=True)``): the
settings come from the environment that ``digitnet serve`` sets (one JSON variable), so
each worker loads its own copy of the model and all share one work folder."""

from __future__ import annotations

import json
import os

from digitnet.apps.serve.app import create_app

#: the environment variable holding ``create_app``'s keyword arguments as JSON
SETTINGS = "DIGITNET_SERVE_SETTINGS"


def app():
    options = json.loads(os.environ.get(SETTINGS) or "{}")
    return create_app(options.pop("model_path", None), **options)
