"""``digitnet train-checker``: the segment checker that helps ``predict`` split touching
digits."""

from __future__ import annotations

import argparse
from typing import Any

from digitnet.apps.cli import common, epochs


def add_arguments(sub: Any) -> None:
    p = common.command(
        sub, "train-checker", run_train_checker, "train the segment checker used by predict"
    )
    common.add_data_dir(p)
    common.add_count(p, "--numbers", "numbers composed from training digits", 12000)
    common.add_count(
        p,
        "--val-numbers",
        "numbers composed from validation digits, to measure it on",
        2000,
        type=common.non_negative_int,
    )
    common.add_count(p, "--epochs", "number of epochs (default 12)")
    common.add_seed(p)
    common.add_out(p, "CHECKER.npz", default="checker.npz")
    common.add_output(
        p,
        quiet_help="print only the final result",
        json_help="print one JSON object per epoch, then one with the result",
    )
    p.add_argument(
        "--mix",
        metavar="PRESET",
        help="compose the numbers from the digits this preset trains on (e.g. cnn-world: "
        "other handwriting too), and add its non-digits",
    )
    common.add_extra_dir(p)


def run_train_checker(args: argparse.Namespace) -> int:
    """Train the network that tells one whole digit from two touching digits or a piece of
    one (used by `digitnet predict` to split touching digits), on the segments of numbers
    composed from MNIST training digits, and save it."""
    from digitnet.modelfile import save_model
    from digitnet.training.checker import train_checker

    out = common.output_file("--out", args.out)
    data = common.load_data(args.data_dir, quiet=args.quiet or args.json)
    if not args.json and not args.quiet:
        print(
            f"Training the segment checker on the segments of {args.numbers:,} numbers "
            "made of training digits",
            flush=True,
        )
    model = train_checker(
        data,
        numbers=args.numbers,
        val_numbers=args.val_numbers,
        seed=args.seed,
        epochs=args.epochs,
        log=epochs.printer(args),
        progress=False if (args.quiet or args.json) else None,
        mix=args.mix,
        extra_dir=args.extra_dir,
    )
    save_model(out, model)
    val = model.meta.get("val") or {}
    if args.json:
        common.print_json(
            {"event": "result", "model": str(out), "val": val, "examples": model.meta["examples"]}
        )
    else:
        if val:
            print(
                f"Validation segments: {val['whole_flagged']:.2%} of {val['whole']:,} whole "
                f"digits flagged, {val['not_one_missed']:.2%} of {val['not_one']:,} others "
                "missed"
            )
        print(f"Saved {out}", flush=True)
    return 0
