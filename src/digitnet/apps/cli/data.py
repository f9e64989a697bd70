"""``digitnet data`` and ``digitnet augment-preview``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from digitnet.apps.cli import common
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
    p = common.command(sub, "data", run_data, "find, verify or download the MNIST files")
    p.add_argument("action", choices=("info", "download"), help="info or download")
    common.add_data_dir(p)
    common.add_output(p, json_help="print as JSON")

    p = common.command(
        sub,
        "augment-preview",
        run_augment_preview,
        "draw training digits next to their random distortions",
    )
    p.add_argument("--preset", metavar="NAME", help="use this preset's augmentation settings")
    for name, unit in AUGMENT_OPTIONS:
        p.add_argument(
            f"--{name}", type=float, metavar="X", help=f"maximum {name.replace('-', ' ')} ({unit})"
        )
    common.add_count(p, "--count", "how many digits", 8)
    common.add_count(p, "--per-image", "distorted versions per digit", 7)
    common.add_seed(p)
    common.add_data_dir(p)
    common.add_out(p, "FILE.png", "where to write the PNG", default="augment.png")


def run_data(args: argparse.Namespace) -> int:
    """Show where the MNIST files are and whether they verify, or download them."""
    from digitnet.data import DownloadProgress, download_mnist, format_info, mnist_info

    if args.action == "download":
        with DownloadProgress() as bar:
            download_mnist(args.data_dir, progress=bar)
    info = mnist_info(args.data_dir)
    hint = f"run `digitnet data download`, or {common.hints()[HINT_FOLDER]}"
    print(json.dumps(info, default=str, indent=2) if args.json else format_info(info, hint=hint))
    return 0 if info["ok"] else common.EXIT_ERROR


def run_augment_preview(args: argparse.Namespace) -> int:
    """Write a PNG grid of MNIST training digits, each followed by randomly distorted
    versions: what a network trained with augmentation sees."""
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
    out = common.output_file("--out", args.out)
    try:
        augmenter = Augmenter(**settings, rng=np.random.default_rng(args.seed))
    except ValueError as exc:
        raise DigitnetError(f"invalid augmentation setting: {exc}") from None
    data = common.load_data(args.data_dir, quiet=True, val_size=0)
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
