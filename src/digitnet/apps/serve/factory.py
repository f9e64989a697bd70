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
    single_threaded(options.pop("threads", 1))
    return create_app(options.pop("model_path", None), **options)


def single_threaded(threads: int) -> None:
    """``threads`` for NumPy's BLAS and digitnet's element-wise work in this worker. A
    server reads many small requests at once: one thread per worker and one worker per core
    beat threads that contend for the same cores (a 28x28 digit: 0.5 ms of CPU with one
    thread, 3 ms with two on a busy 2-core machine)."""
    from digitnet.nn.runtime import set_threads

    set_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # without it, BLAS keeps its threads
        return
    threadpool_limits(threads, user_api="blas")
