"""``digitnet train``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from digitnet.apps.cli import common, epochs
from digitnet.data.mnist import DEFAULT_VAL_SIZE
from digitnet.errors import DigitnetError


def add_arguments(sub: Any) -> None:
    p = common.command(sub, "train", run_train, "train a network on MNIST and save it")
    p.add_argument(
        "--preset",
        metavar="NAME",
        help="architecture and settings (see `digitnet presets`; default: the default preset)",
    )
    common.add_data_dir(p)
    common.add_count(p, "--epochs", "number of epochs")
    common.add_seed(p, default=None)
    p.add_argument("--lr", type=common.positive_float, metavar="LR", help="base learning rate")
    common.add_count(p, "--batch-size", "mini-batch size")
    common.add_count(p, "--patience", "stop after N epochs without validation improvement")
    common.add_count(
        p,
        "--ensemble",
        "train N networks (seeds S, S+1, ...) and average their probabilities (default 1)",
    )
    common.add_count(
        p,
        "--val-size",
        f"validation images taken from the end of the training file (default {DEFAULT_VAL_SIZE})",
        type=common.non_negative_int,
    )
    common.add_extra_dir(p)
    p.add_argument(
        "--add-usps",
        metavar="DIR",
        help="also train on USPS's 7,291 training digits (zip.train.gz in DIR), as a user's "
        "16x16 images are read; validation and test stay MNIST's",
    )
    common.add_out(p, "MODEL.npz", "where to save the model (default: model.npz)", required=False)
    p.add_argument(
        "--checkpoint",
        metavar="DIR",
        help="save the run in DIR at every epoch's end (and every "
        "--checkpoint-every mini-batches) so that --resume DIR can continue it",
    )
    common.add_count(
        p, "--checkpoint-every", "also checkpoint every N mini-batches within an epoch"
    )
    p.add_argument(
        "--resume",
        metavar="DIR",
        help="continue the run checkpointed in DIR (same weights, bit for bit, as "
        "if it had not stopped)",
    )
    common.add_output(
        p,
        quiet_help="print only the final result",
        json_help="print one JSON object per epoch, then one with the result",
    )
    p.add_argument(
        "--report",
        metavar="DIR",
        help="also write an evaluation report folder there (see `digitnet report`)",
    )


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
    """Train a preset on MNIST (50k train / 10k validation), evaluate it on the 10k test set
    and save it."""
    from digitnet.modelfile import save_model
    from digitnet.training import presets
    from digitnet.training.checkpoint import Checkpointer, check_same_run
    from digitnet.training.jobs import train_preset
    from digitnet.training.loop import Interrupted

    run, resumed, folder = _settings(args)
    presets.get(run.preset)  # fail fast on a bad name
    out = common.output_file("--out", args.out or "model.npz")
    if args.report is not None:
        from digitnet.report import check_output_folder

        check_output_folder(args.report)  # fail before training, not after
    data = common.load_data(args.data_dir, quiet=args.quiet or args.json, val_size=run.val_size)
    if run.add_usps is not None:
        from digitnet.data.usps import add_usps_train

        data = add_usps_train(data, run.add_usps)
    checkpointer = None
    if folder is not None:
        saved = run.to_run(data.checksums)
        if resumed is not None:
            check_same_run(folder, {k: v for k, v in resumed.run.items() if k != "out"}, saved)
        checkpointer = Checkpointer(folder, {**saved, "out": str(out)}, every=args.checkpoint_every)
    emit = epochs.printer(args)
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
        with epochs.stop_on_ctrl_c(folder is not None) as stop:
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
        common.warn(
            "train",
            f"interrupted at epoch {exc.state.epoch}, step {exc.state.step}; "
            f"checkpoint saved in {folder}; continue with: digitnet train --resume {folder}",
        )
        return common.EXIT_INTERRUPTED
    model.meta["command"] = run.reproduce_command()
    save_model(out, model)
    test = model.meta["test"]
    if not args.json:
        print(f"Test accuracy: {test['accuracy']:.2%} ({test['correct']} / {test['total']})")
        print(f"Saved {out}", flush=True)
    page = _train_report(args, model, data, out)
    if args.json:
        common.print_json(
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
