"""``digitnet data`` and ``digitnet augment-preview``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from digitnet.apps.cli.common import (
    EXIT_ERROR,
    HINTS,
    add_data_dir,
    add_output,
    load_data,
    non_negative_int,
    output_file,
    positive_int,
)
from digitnet.data.files import HINT_FOLDER
from digitnet.errors import DigitnetError

#: augment-preview's settings, with their units
AUGMENT_OPTIONS = (
    ("rotate", "degrees"),
    ("shift", "pixels"),
    ("scale", "fraction"),
    ("shear", "degrees"),
    ("elastic-alpha", "pixels"),
    ("elastic-sigma", "pixels"),
    ("stroke", "fraction of a 3x3 erosion or dilation"),
    ("blur", "fraction of a 3x3 smoothing"),
    ("noise", "pixel noise std"),
    ("fill", "probability of a box-filling stretch"),
    ("coarse", "probability of a coarse black-and-white re-scan"),
)


def add_arguments(sub: Any) -> None:
    p = sub.add_parser(
        "data",
        help="find, verify or download the MNIST files",
        description="Show where the MNIST files are and whether they verify, or download them.",
    )
    p.add_argument("action", choices=("info", "download"), help="info or download")
    add_data_dir(p)
    add_output(p, json_help="print as JSON")
    p.set_defaults(func=run_data)

    p = sub.add_parser(
        "augment-preview",
        help="draw training digits next to their random distortions",
        description="Write a PNG grid of MNIST training digits, "
        "each followed by randomly distorted versions: what a network trained "
        "with augmentation sees.",
    )
    p.add_argument("--preset", metavar="NAME", help="use this preset's augmentation settings")
    for name, unit in AUGMENT_OPTIONS:
        p.add_argument(
            f"--{name}", type=float, metavar="X", help=f"maximum {name.replace('-', ' ')} ({unit})"
        )
    p.add_argument(
        "--count", type=positive_int, default=8, metavar="K", help="how many digits (default 8)"
    )
    p.add_argument(
        "--per-image",
        type=positive_int,
        default=7,
        metavar="P",
        help="distorted versions per digit (default 7)",
    )
    p.add_argument("--seed", type=non_negative_int, default=0, metavar="S")
    add_data_dir(p)
    p.add_argument(
        "--out",
        default="augment.png",
        metavar="FILE.png",
        help="where to write the PNG (default augment.png)",
    )
    p.set_defaults(func=run_augment_preview)


def run_data(args: argparse.Namespace) -> int:
    from digitnet.data import DownloadProgress, download_mnist, format_info, mnist_info

    if args.action == "download":
        with DownloadProgress() as bar:
            download_mnist(args.data_dir, progress=bar)
    info = mnist_info(args.data_dir)
    hint = f"run `digitnet data download`, or {HINTS[HINT_FOLDER]}"
    print(json.dumps(info, default=str, indent=2) if args.json else format_info(info, hint=hint))
    return 0 if info["ok"] else EXIT_ERROR


def run_augment_preview(args: argparse.Namespace) -> int:
    import numpy as np

    from digitnet.data.augment import Augmenter, preview
    from digitnet.files import atomic_write
    from digitnet.report.figures import plot_augment_preview
    from digitnet.training import presets

    settings = dict(presets.get(args.preset).config.augment or {}) if args.preset else {}
    for name, _ in AUGMENT_OPTIONS:
        value = getattr(args, name.replace("-", "_"))
        if value is not None:
            settings[name.replace("-", "_")] = value
    out = output_file("--out", args.out)
    try:
        augmenter = Augmenter(**settings, rng=np.random.default_rng(args.seed))
    except ValueError as exc:
        raise DigitnetError(f"invalid augmentation setting: {exc}") from None
    data = load_data(args.data_dir, quiet=True, val_size=0)
    pick = np.random.default_rng(args.seed).choice(
        len(data.train.labels), args.count, replace=False
    )
    grid = preview(data.train.images[np.sort(pick)], augmenter, args.per_image)
    fig = plot_augment_preview(grid, augmenter.config())
    atomic_write(out, lambda f: fig.savefig(f, format="png", dpi=100, facecolor="white"))
    print(
        f"Wrote {out}: {args.count} training digits, each with {args.per_image} distorted versions"
    )
    return 0
