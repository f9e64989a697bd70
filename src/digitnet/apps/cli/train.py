"""``digitnet train`` and ``digitnet train-checker``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from digitnet.apps.cli.common import (
    EXIT_INTERRUPTED,
    add_data_dir,
    add_output,
    load_data,
    non_negative_int,
    output_file,
    positive_float,
    positive_int,
    print_json,
    printer,
    stop_on_ctrl_c,
    warn,
)
from digitnet.data.mnist import DEFAULT_VAL_SIZE
from digitnet.errors import DigitnetError


def add_arguments(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        help="train a network on MNIST and save it",
        description="Train a preset on MNIST (50k train / 10k validation), "
        "evaluate it on the 10k test set and save it.",
    )
    p.add_argument(
        "--preset",
        metavar="NAME",
        help="architecture and settings (see `digitnet presets`; default: the default preset)",
    )
    add_data_dir(p)
    p.add_argument("--epochs", type=positive_int, metavar="N", help="number of epochs")
    p.add_argument("--seed", type=non_negative_int, metavar="S", help="random seed")
    p.add_argument("--lr", type=positive_float, metavar="LR", help="base learning rate")
    p.add_argument("--batch-size", type=positive_int, metavar="B", help="mini-batch size")
    p.add_argument(
        "--patience",
        type=positive_int,
        metavar="N",
        help="stop after N epochs without validation improvement",
    )
    p.add_argument(
        "--ensemble",
        type=positive_int,
        metavar="N",
        help="train N networks (seeds S, S+1, ...) and average their probabilities (default 1)",
    )
    p.add_argument(
        "--val-size",
        type=non_negative_int,
        metavar="N",
        help="validation images taken from the end of the training file "
        f"(default {DEFAULT_VAL_SIZE})",
    )
    p.add_argument(
        "--extra-dir",
        metavar="DIR",
        help="folder holding usps/ and optdigits/, for the presets that train on "
        "them (default: beside the MNIST folder)",
    )
    p.add_argument(
        "--add-usps",
        metavar="DIR",
        help="also train on USPS's 7,291 training "
        "digits (zip.train.gz in DIR), as a user's 16x16 images are read; "
        "validation and test stay MNIST's",
    )
    p.add_argument(
        "--out", metavar="MODEL.npz", help="where to save the model (default: model.npz)"
    )
    p.add_argument(
        "--checkpoint",
        metavar="DIR",
        help="save the run in DIR at every epoch's end (and every "
        "--checkpoint-every mini-batches) so that --resume DIR can continue it",
    )
    p.add_argument(
        "--checkpoint-every",
        type=positive_int,
        metavar="N",
        help="also checkpoint every N mini-batches within an epoch",
    )
    p.add_argument(
        "--resume",
        metavar="DIR",
        help="continue the run checkpointed in DIR (same weights, bit for bit, as "
        "if it had not stopped)",
    )
    add_output(
        p,
        quiet_help="print only the final result",
        json_help="print one JSON object per epoch, then one with the result",
    )
    p.add_argument(
        "--report",
        metavar="DIR",
        help="also write an evaluation report folder there (see `digitnet report`)",
    )
    p.set_defaults(func=run_train)


def _settings(args: argparse.Namespace):
    """The run asked for on the command line, completed by the checkpoint when resuming:
    ``(RunSettings, Resumed or None, checkpoint folder or None)``."""
    from digitnet.training import presets
    from digitnet.training.runs import OVERRIDES, RunSettings

    given = {
        name
        for name in ("preset", "seed", "ensemble", "val_size", "add_usps", "extra_dir", *OVERRIDES)
        if getattr(args, name) is not None
    }
    run = RunSettings(
        preset=args.preset or presets.DEFAULT_PRESET,
        seed=args.seed,
        overrides={k: getattr(args, k) for k in OVERRIDES if getattr(args, k) is not None},
        ensemble=args.ensemble or 1,
        val_size=DEFAULT_VAL_SIZE if args.val_size is None else args.val_size,
        add_usps=args.add_usps,
        extra_dir=args.extra_dir,
    )
    if args.checkpoint_every is not None and args.checkpoint is None and args.resume is None:
        raise DigitnetError("--checkpoint-every needs --checkpoint DIR")
    if args.resume is not None:
        if args.checkpoint is not None:
            raise DigitnetError(
                "give --resume DIR or --checkpoint DIR, not both: a resumed "
                "run keeps checkpointing into its own folder"
            )
        from digitnet.training.checkpoint import load

        resumed = load(args.resume)
        if args.out is None and resumed.run.get("out"):
            args.out = resumed.run["out"]
        return run.resumed_from(resumed.run, given), resumed, Path(args.resume)
    if args.checkpoint is None:
        return run, None, None
    from digitnet.training.checkpoint import new_run_folder

    folder = new_run_folder(args.checkpoint)
    return run, None, folder


def run_train(args: argparse.Namespace) -> int:
    from digitnet.modelfile import save_model
    from digitnet.training import presets
    from digitnet.training.checkpoint import Checkpointer, check_same_run
    from digitnet.training.jobs import train_preset
    from digitnet.training.loop import Interrupted

    run, resumed, folder = _settings(args)
    presets.get(run.preset)  # fail fast on a bad name
    out = output_file("--out", args.out or "model.npz")
    if args.report is not None:
        from digitnet.report import check_output_folder

        check_output_folder(args.report)  # fail before training, not after
    data = load_data(args.data_dir, quiet=args.quiet or args.json, val_size=run.val_size)
    if run.add_usps is not None:
        from digitnet.data.usps import add_usps_train

        data = add_usps_train(data, run.add_usps)
    checkpointer = None
    if folder is not None:
        saved = run.to_run(data.checksums)
        if resumed is not None:
            check_same_run(folder, {k: v for k, v in resumed.run.items() if k != "out"}, saved)
        checkpointer = Checkpointer(folder, {**saved, "out": str(out)}, every=args.checkpoint_every)
    emit = printer(args)
    if not args.json and not args.quiet:
        what = f"an ensemble of {run.ensemble} x " if run.ensemble > 1 else ""
        verb = "Resuming" if resumed is not None else "Training"
        mix = presets.get(run.preset).mix
        extra = " and other handwriting (see the preset)" if mix is not None else ""
        print(
            f"{verb} {what}preset {run.preset!r} on {len(data.train.labels):,} MNIST "
            f"images{extra} (validation {len(data.val.labels):,}, test "
            f"{len(data.test.labels):,})",
            flush=True,
        )
    try:
        with stop_on_ctrl_c(folder is not None) as stop:
            model = train_preset(
                run.preset,
                data,
                seed=run.seed,
                ensemble=run.ensemble,
                log=emit,
                progress=False if (args.quiet or args.json) else None,
                checkpoint=checkpointer,
                resume=resumed,
                stop=stop,
                extra_dir=run.extra_dir,
                **run.overrides,
            )
    except Interrupted as exc:
        warn(
            "train",
            f"interrupted at epoch {exc.state.epoch}, step {exc.state.step}; "
            f"checkpoint saved in {folder}; continue with: digitnet train --resume {folder}",
        )
        return EXIT_INTERRUPTED
    model.meta["command"] = run.reproduce_command()
    save_model(out, model)
    test = model.meta["test"]
    if not args.json:
        print(f"Test accuracy: {test['accuracy']:.2%} ({test['correct']} / {test['total']})")
        print(f"Saved {out}", flush=True)
    page = _train_report(args, model, data, out)
    if args.json:
        print_json(
            {
                "event": "result",
                "preset": run.preset,
                "model": str(out),
                "ensemble": run.ensemble,
                "test_accuracy": test["accuracy"],
                "test_correct": test["correct"],
                "test_total": test["total"],
                "train_seconds": model.meta["history"]["train_seconds"],
                "report": None if page is None else str(page),
            }
        )
    return 0


def _train_report(args: argparse.Namespace, model: Any, data: Any, out: Path) -> Path | None:
    """``train --report DIR``: the report of the model just trained, or None."""
    if args.report is None:
        return None
    from digitnet.report import write_report

    page = write_report(
        model,
        data,
        args.report,
        model_path=out,
        progress=False if (args.quiet or args.json) else None,
    )
    if not args.json:
        print(f"Report: {page}")
    return page
