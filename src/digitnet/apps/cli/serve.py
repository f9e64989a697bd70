"""``digitnet serve``: the web page and its JSON API."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from typing import Any

from digitnet.apps.cli.common import (
    add_data_dir,
    add_model,
    model_path,
    positive_float,
    positive_int,
)
from digitnet.errors import DigitnetError


def add_arguments(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="a web page to draw or photograph digits, and a JSON API",
        description="Serve a page where you draw a digit (or photograph a "
        "number) and watch the network read it, and the JSON API it uses "
        "(documented at /docs). Needs pip install 'digitnet[serve]'.",
    )
    add_model(p)
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)",
    )
    p.add_argument("--port", type=positive_int, default=8000, help="default 8000")
    p.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        metavar="N",
        help="worker processes, each with its own copy of the model (default 1)",
    )
    p.add_argument(
        "--threads",
        type=positive_int,
        default=1,
        metavar="N",
        help="threads per worker for the network (default 1: use one worker per core)",
    )
    p.add_argument(
        "--max-upload-mb",
        type=positive_float,
        default=10,
        metavar="MB",
        help="refuse larger uploads with 413 (default 10)",
    )
    p.add_argument(
        "--no-samples",
        action="store_true",
        help="keep no samples and adapt no personal model (a public demo)",
    )
    p.add_argument(
        "--max-samples",
        type=positive_int,
        default=500,
        metavar="N",
        help="samples one browser may keep (default 500)",
    )
    p.add_argument(
        "--store",
        metavar="DB",
        help="the samples database (default: $DIGITNET_SAMPLES, else the user's data folder)",
    )
    p.add_argument("--quiet", action="store_true", help="no access log")
    add_data_dir(
        p,
        help="where adapting and the Train panel find MNIST (default: as train; "
        "the server never downloads it)",
    )
    p.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn  # noqa: F401

        import digitnet.apps.serve  # noqa: F401
    except ImportError:
        raise DigitnetError(
            "digitnet serve needs the web extra: pip install "
            "'digitnet[serve]' (FastAPI, uvicorn, python-multipart)"
        ) from None
    model = model_path(args)
    options = {
        "model_path": str(model),
        "max_upload": int(args.max_upload_mb * 1024 * 1024),
        "samples": args.store,
        "data_dir": str(args.data_dir) if args.data_dir else None,
        "keep_samples": not args.no_samples,
        "max_samples": args.max_samples,
        "threads": args.threads,
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

    model = options["model_path"]
    create_app(**{k: v for k, v in options.items() if k != "threads"})  # fails here, in one line
    os.environ[SETTINGS] = json.dumps(options)  # what each worker builds its app from
    print(
        f"digitnet serve: http://{args.host}:{args.port}/ (model {model}"
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
