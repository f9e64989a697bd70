"""``digitnet serve``: the web page and its JSON API."""

from __future__ import annotations

import argparse
import os
from typing import Any

from digitnet.apps.cli import common
from digitnet.errors import DigitnetError


def add_arguments(sub: Any) -> None:
    p = common.command(
        sub, "serve", run_serve, "a web page to draw or photograph digits, and a JSON API"
    )
    common.add_model(p)
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on; 0.0.0.0 for every interface"
    )
    common.add_count(p, "--port", "the port", 8000)
    common.add_count(p, "--workers", "worker processes, each with its own copy of the model", 1)
    p.add_argument(
        "--max-upload-mb",
        type=common.positive_float,
        default=10,
        metavar="MB",
        help="refuse larger uploads with 413",
    )
    common.add_data_dir(
        p,
        help='where "adapt to my handwriting" finds MNIST\'s training digits '
        "to replay (default: as train)",
    )


def run_serve(args: argparse.Namespace) -> int:
    """Serve a page where you draw a digit (or photograph a number) and watch the network
    read it, and the JSON API it uses (documented at /docs). Needs pip install
    'digitnet[serve]'."""
    try:
        import uvicorn

        from digitnet.apps.serve import create_app
    except ImportError:
        raise DigitnetError(
            "digitnet serve needs the web extra: pip install "
            "'digitnet[serve]' (FastAPI, uvicorn, python-multipart)"
        ) from None
    model = common.model_path(args)
    limit = int(args.max_upload_mb * 1024 * 1024)
    create_app(model, max_upload=limit)  # a bad model fails here, in one line
    os.environ["DIGITNET_SERVE_MODEL"] = str(model)
    os.environ["DIGITNET_SERVE_MAX_UPLOAD"] = str(limit)
    if args.data_dir:
        os.environ["DIGITNET_DATA_DIR"] = str(args.data_dir)  # for every worker
    print(
        f"digitnet serve: http://{args.host}:{args.port}/ (model {model}; Ctrl+C stops)", flush=True
    )
    uvicorn.run(
        "digitnet.apps.serve.factory:app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
        timeout_keep_alive=5,
    )
    return 0
