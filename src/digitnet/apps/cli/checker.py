"""``digitnet train-checker``: the segment checker that helps ``predict`` split touching
digits."""

from __future__ import annotations

import argparse
from typing import Any

from digitnet.apps.cli.common import (
    add_data_dir,
    add_output,
    load_data,
    non_negative_int,
    output_file,
    positive_int,
    print_json,
    printer,
)


def add_arguments(sub: Any) -> None:
    p = sub.add_parser(
        "train-checker",
        help="train the segment checker used by predict",
        description="Train the network that tells one whole digit from two "
        "touching digits or a piece of one (used by `digitnet predict` to "
        "split touching digits), on the segments of numbers composed from "
        "MNIST training digits, and save it.",
    )
    add_data_dir(p)
    p.add_argument(
        "--numbers",
        type=positive_int,
        default=12000,
        metavar="N",
        help="numbers composed from training digits (default 12000)",
    )
    p.add_argument(
        "--val-numbers",
        type=non_negative_int,
        default=2000,
        metavar="N",
        help="numbers composed from validation digits, to measure it on (default 2000)",
    )
    p.add_argument("--epochs", type=positive_int, metavar="N", help="number of epochs (default 12)")
    p.add_argument(
        "--seed", type=non_negative_int, default=0, metavar="S", help="random seed (default 0)"
    )
    p.add_argument(
        "--out",
        default="checker.npz",
        metavar="CHECKER.npz",
        help="where to save it (default: checker.npz)",
    )
    add_output(
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
    p.add_argument(
        "--extra-dir", metavar="DIR", help="folder holding usps/ and optdigits/ (as for train)"
    )
    p.set_defaults(func=run_train_checker)


def run_train_checker(args: argparse.Namespace) -> int:
    from digitnet.modelfile import save_model
    from digitnet.training.checker import train_checker

    out = output_file("--out", args.out)
    data = load_data(args.data_dir, quiet=args.quiet or args.json)
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
        log=printer(args),
        progress=False if (args.quiet or args.json) else None,
        mix=args.mix,
        extra_dir=args.extra_dir,
    )
    save_model(out, model)
    val = model.meta.get("val") or {}
    if args.json:
        print_json(
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
