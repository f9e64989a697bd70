"""``digitnet serve``: the web page and its JSON API."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
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
    common.add_count(
        p, "--threads", "threads per worker for the network (1: one worker per core instead)", 1
    )
    p.add_argument(
        "--max-upload-mb",
        type=common.positive_float,
        default=10,
        metavar="MB",
        help="refuse larger uploads with 413",
    )
    p.add_argument(
        "--no-samples",
        action="store_true",
        help="keep no samples and adapt no personal model (a public demo)",
    )
    common.add_count(p, "--max-samples", "samples one browser may keep", 500)
    p.add_argument(
        "--store",
        metavar="DB",
        help="the samples database (default: $DIGITNET_SAMPLES, else the user's data folder)",
    )
    p.add_argument("--quiet", action="store_true", help="no access log")
    p.add_argument(
        "--learn",
        metavar="SITE",
        help="the built documentation site to serve at /learn/ (default: the checkout's "
        "site/ when mkdocs has built it)",
    )
    common.add_data_dir(
        p,
        help="where adapting and the Train panel find MNIST (default: as train; "
        "the server never downloads it)",
    )


def run_serve(args: argparse.Namespace) -> int:
    """Serve a page where you draw a digit (or photograph a number), watch the network read
    it and every layer work, teach it your handwriting and watch a small network learn,
    and the JSON API it uses (documented at /docs). Each browser's samples and personal
    model are its own. Needs pip install 'digitnet[serve]'."""
    try:
        import uvicorn  # noqa: F401

        import digitnet.apps.serve  # noqa: F401
    except ImportError:
        raise DigitnetError(
            "digitnet serve needs the web extra: pip install "
            "'digitnet[serve]' (FastAPI, uvicorn, python-multipart)"
        ) from None
    options = {
        "model_path": str(common.model_path(args)),
        "max_upload": int(args.max_upload_mb * 1024 * 1024),
        "samples": args.store,
        "data_dir": str(args.data_dir) if args.data_dir else None,
        "keep_samples": not args.no_samples,
        "max_samples": args.max_samples,
        "threads": args.threads,
        "learn": args.learn,
    }
    with tempfile.TemporaryDirectory(prefix="digitnet-serve-") as work:
        # one folder for every worker: a training started by one is followed from any
        options["work_dir"] = work
        _run(args, options)
    return 0


def _run(args: argparse.Namespace, options: dict) -> None:
    import uvicorn

    from digitnet.apps.serve import create_app
    from digitnet.apps.serve.factory import SETTINGS

    create_app(**{k: v for k, v in options.items() if k != "threads"})  # fails here, in one line
    os.environ[SETTINGS] = json.dumps(options)  # what each worker builds its app from
    print(
        f"digitnet serve: http://{args.host}:{args.port}/ (model {options['model_path']}"
        + ("; no samples kept" if args.no_samples else "")
        + "; Ctrl+C stops)",
        flush=True,
    )
    uvicorn.run(
        "digitnet.apps.serve.factory:app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning" if args.quiet else "info",
        access_log=not args.quiet,
        timeout_keep_alive=5,
    )
