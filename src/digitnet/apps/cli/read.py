"""``digitnet predict`` and ``digitnet read-all``: reading people's images."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from digitnet.apps.cli import common
from digitnet.errors import DigitnetError


def add_arguments(sub: Any) -> None:
    p = common.command(sub, "predict", run_predict, "read the digits in your own images")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    common.add_model(p)
    p.add_argument(
        "--single",
        action="store_true",
        help="each image holds one digit: read all its ink as one digit",
    )
    p.add_argument(
        "--top",
        type=common.top_k,
        metavar="K",
        help="show the K most probable digits (default 1; 3 with --json)",
    )
    common.add_output(
        p,
        json_help="print a JSON list with one object per image (file, prediction, "
        "reason, confidence, digits, error)",
    )
    p.add_argument(
        "--explain",
        metavar="DIR",
        help="write DIR/<image>.explain.png showing each preprocessing step and "
        "the 28x28 inputs the network received",
    )
    p.add_argument(
        "--style",
        choices=("auto", "continental", "american"),
        default="auto",
        help="whose handwriting to expect where cultures disagree: continental "
        "(a flagged stroke is a 1, a closed top a 4) or american (a 7, a 9); "
        "default auto: the network decides",
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--checker",
        metavar="CHECKER.npz",
        help="the segment checker, which helps to split touching digits and "
        "whose digit probabilities are averaged with the model's (default: "
        "the one shipped with digitnet; see `digitnet train-checker`)",
    )
    which.add_argument(
        "--no-checker",
        action="store_true",
        help="read with the model alone (touching digits split by shape and "
        "the model's confidence)",
    )

    p = common.command(
        sub,
        "read-all",
        run_read_all,
        "read every image of a folder, archive or list, resumably, on all cores or a Dask cluster",
    )
    p.add_argument("source", metavar="SOURCE")
    common.add_out(p, "RESULTS.jsonl", "the results file (.csv: CSV)")
    p.add_argument("--format", choices=("jsonl", "csv"), help="default: from --out's suffix")
    common.add_count(p, "--workers", "processes (default: the usable CPUs)")
    p.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="a Dask scheduler (tcp://host:8786), or 'local' for a LocalCluster of --workers "
        "processes",
    )
    p.add_argument(
        "--errors-only", action="store_true", help="read again the images whose result is an error"
    )
    common.add_model(p)
    common.add_output(p, quiet_help="no progress bar and no summary")


def run_predict(args: argparse.Namespace) -> int:
    """Recognise handwritten digits in image files (PNG, JPEG, BMP, GIF, TIFF, WebP; photos
    of paper welcome): one line per image with the digits read and the confidence, or "not a
    digit". Several digits in an image are read left to right as a number. Exit status 1 if
    any image failed (the others are still answered)."""
    from digitnet.modelfile import load_model
    from digitnet.progress import ProgressBar
    from digitnet.reading.explain import write_explain
    from digitnet.reading.recognise import explain_path, recognise_files

    model = load_model(common.model_path(args))
    checker = False if args.no_checker else (load_checker(args.checker) if args.checker else True)
    explain = _explain_folder(args.explain)
    top = args.top if args.top is not None else (3 if args.json else 1)
    results, failed, taken = [], 0, set()
    # text mode prints a line per image as it goes; --json prints at the end: a progress bar
    with ProgressBar(len(args.images), "Reading", enabled=None if args.json else False) as bar:
        for r in recognise_files(
            args.images, model, single=args.single, top=top, checker=checker, style=args.style
        ):
            bar.update()
            if r.prepared is not None and explain is not None:
                r.explain = str(write_explain(explain_path(explain, r.file, taken), r))
            failed += not r.ok
            if args.json:
                results.append(r.to_dict())
            elif r.ok:
                print(format_recognition(r, top), flush=True)
            else:
                common.warn("predict", f"error: {r.error}")
    if args.json:
        common.print_json(results)
    return common.EXIT_ERROR if failed else common.EXIT_OK


def load_checker(path: str):
    from digitnet.data.pieces import NOT_ONE_DIGIT
    from digitnet.modelfile import load_model

    checker = load_model(path)
    outputs = checker.output_shape[-1]
    if outputs != NOT_ONE_DIGIT + 1:
        raise DigitnetError(
            f"--checker {path}: not a segment checker (it has {outputs} "
            f"outputs, a checker has {NOT_ONE_DIGIT + 1}); train one with "
            "`digitnet train-checker`"
        )
    return checker


def _explain_folder(folder: str | None) -> Path | None:
    if folder is None:
        return None
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DigitnetError(
            f"--explain {folder}: cannot create the folder ({exc.strerror or exc})"
        ) from None
    return path


def format_recognition(r, top: int = 1) -> str:
    """``photo.jpg: 7 (99.2%)``; with alternatives ``photo.jpg: 7 (99.2%)  1 0.5%  2 0.1%``;
    a number: ``n.png: 4096 (97.1%)  digits 4 99.9%, 0 98.0%, 9 99.5%, 6 99.7%``;
    ``scribble.png: not a digit``."""
    if r.prediction is None:
        return f"{r.file}: {r.reason}"
    if len(r.digits) == 1:
        d = r.digits[0]
        alts = "".join(f"  {a} {p:.1%}" for a, p in d.top[1:top])
        return f"{r.file}: {r.prediction} ({r.confidence:.1%}){alts}"
    parts = []
    for d in r.digits:
        alts = ", ".join(f"{a} {p:.1%}" for a, p in d.top[1:top])
        parts.append(f"{d.digit} {d.confidence:.1%}" + (f" ({alts})" if alts else ""))
    return f"{r.file}: {r.prediction} ({r.confidence:.1%})  digits " + ", ".join(parts)


def run_read_all(args: argparse.Namespace) -> int:
    """Read every image of SOURCE (a folder, walked recursively; a .zip or .tar(.gz)
    archive; or a text file with one path per line) and append one result per image to --out
    as it goes (JSON Lines, or CSV). Run it again with the same --out to continue: images
    already answered are skipped. The results file is locked while a run writes it: a second
    run on it stops at once. Exit status 0 if every image was answered, 1 if any failed (or
    on a bad source or results file), 2 on a usage error, 130 when interrupted."""
    from digitnet.apps.bulk import Results, run

    fmt = args.format or ("csv" if args.out.endswith(".csv") else "jsonl")
    results = Results(args.out, fmt, retry_errors=args.errors_only)
    workers = args.workers or len(os.sched_getaffinity(0))
    model = None if args.model is None else str(common.model_path(args))
    bar = None
    if not args.quiet and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(unit="img", desc="read-all", file=sys.stderr)
    try:
        counts = run(
            args.source,
            results,
            workers=workers,
            dask=args.dask,
            model_path=model,
            progress=bar.update if bar is not None else None,
            on_todo=(lambda n: bar.reset(total=n)) if bar is not None else None,
        )
    finally:
        results.close()
        if bar is not None:
            bar.close()
    if not args.quiet:
        print(
            f"{counts['read']:,} read, {counts['errors']:,} errors, {counts['skipped']:,} "
            f"already in {args.out} ({counts['images']:,} images in {args.source})"
        )
    return common.EXIT_ERROR if counts["errors"] else common.EXIT_OK
