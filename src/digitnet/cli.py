"""The ``digitnet`` command: a thin adapter that parses arguments, calls the library and
prints. Every user mistake becomes one line on stderr and a non-zero exit status."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from digitnet import __version__
from digitnet.errors import DigitnetError

EXIT_ERROR = 1
EXIT_USAGE = 2


# -- argument types: each rejects a bad value with a message naming it ---------------------

def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def top_k(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer from 1 to 10, got {text!r}") \
            from None
    if not 1 <= value <= 10:
        raise argparse.ArgumentTypeError(f"expected an integer from 1 to 10, got {text!r}")
    return value


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``digitnet train: error: ...`` and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", metavar="DIR",
                   help="folder with the MNIST IDX files (default: $DIGITNET_DATA_DIR, then "
                        "the user cache folder, downloading there if absent)")


# -- commands ------------------------------------------------------------------------------

def cmd_train(args: argparse.Namespace) -> int:
    from digitnet import presets
    from digitnet.io import save_model
    from digitnet.workflows import train_preset

    name = args.preset or presets.DEFAULT_PRESET
    presets.get(name)                                   # fail fast on a bad name
    out = Path(args.out)
    if not out.parent.exists():
        raise DigitnetError(f"--out {out}: folder {out.parent} does not exist; create it or "
                            "choose another path")
    overrides = {k: v for k, v in (("epochs", args.epochs), ("lr", args.lr),
                                   ("batch_size", args.batch_size),
                                   ("patience", args.patience)) if v is not None}
    data = load_data(args.data_dir, quiet=args.quiet or args.json, val_size=args.val_size)
    emit = _printer(args)
    if not args.json and not args.quiet:
        print(f"Training preset {name!r} on {len(data.train.labels):,} images "
              f"(validation {len(data.val.labels):,}, test {len(data.test.labels):,})",
              flush=True)
    model = train_preset(name, data, seed=args.seed, log=emit,
                         progress=False if (args.quiet or args.json) else None, **overrides)
    save_model(out, model)
    test = model.meta["test"]
    if args.json:
        print(json.dumps({"event": "result", "preset": name, "model": str(out),
                          "test_accuracy": test["accuracy"], "test_correct": test["correct"],
                          "test_total": test["total"],
                          "train_seconds": model.meta["history"]["train_seconds"]}), flush=True)
    else:
        print(f"Test accuracy: {test['accuracy']:.2%} ({test['correct']} / {test['total']})")
        print(f"Saved {out}")
    return 0


def load_data(data_dir: str | None, *, quiet: bool, **kwargs: Any):
    """MNIST from --data-dir / $DIGITNET_DATA_DIR / the cache, downloading with a progress
    bar when the files are absent."""
    from digitnet.data import DownloadProgress, load_mnist

    with DownloadProgress(enabled=False if quiet else None) as bar:
        return load_mnist(data_dir, progress=bar, **kwargs)


def _printer(args: argparse.Namespace) -> Callable[[dict[str, Any]], None]:
    def emit(record: dict[str, Any]) -> None:
        if args.json:
            print(json.dumps({"event": "epoch", **record}), flush=True)
        elif not args.quiet:
            print(format_epoch(record), flush=True)
    return emit


def format_epoch(r: dict[str, Any]) -> str:
    """``Epoch 3: 9712 / 10000  train loss 0.0951  val loss 0.0987  val acc 97.12%  1.3s``."""
    if "val_correct" not in r:
        return f"Epoch {r['epoch']}: train loss {r['train_loss']:.4f}  {r['seconds']:.1f}s"
    return (f"Epoch {r['epoch']}: {r['val_correct']} / {r['val_total']}  "
            f"train loss {r['train_loss']:.4f}  val loss {r['val_loss']:.4f}  "
            f"val acc {r['val_accuracy']:.2%}  {r['seconds']:.1f}s")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from digitnet.evaluate import evaluate
    from digitnet.io import load_model
    from digitnet.metrics import format_report

    path = resolve_model_path(args.model)
    model = load_model(path)
    data = load_data(args.data_dir, quiet=args.json)
    split = getattr(data, args.split)
    report = evaluate(model, split.images, split.labels)
    if args.json:
        print(json.dumps({"model": str(path), "split": args.split, **report}))
    else:
        print(f"Model {path} on the {args.split} split "
              f"({len(split.labels):,} images)\n")
        print(format_report(report))
    return 0


def resolve_model_path(model: str | None) -> Path:
    """The model file a command should use: the one given, else the shipped model."""
    if model is None:
        from digitnet.models import shipped_model_path

        return shipped_model_path()
    return Path(model)


def cmd_predict(args: argparse.Namespace) -> int:
    from digitnet.explain import write_explain
    from digitnet.io import load_model
    from digitnet.predict import explain_path, recognise_files
    from digitnet.progress import ProgressBar

    model = load_model(resolve_model_path(args.model))
    explain = _explain_folder(args.explain)
    top = args.top if args.top is not None else (3 if args.json else 1)
    results, failed, taken = [], 0, set()
    # text mode prints a line per image as it goes; --json prints at the end: a progress bar
    with ProgressBar(len(args.images), "Reading", enabled=None if args.json else False) as bar:
        for r in recognise_files(args.images, model, single=args.single, top=top):
            bar.update()
            if r.ok and explain is not None:
                r.explain = str(write_explain(explain_path(explain, r.file, taken), r))
            failed += not r.ok
            if args.json:
                results.append(r.to_dict())
            elif r.ok:
                print(format_recognition(r, top), flush=True)
            else:
                print(f"digitnet predict: error: {r.error}", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(results))
    return EXIT_ERROR if failed else 0


def _explain_folder(folder: str | None) -> Path | None:
    if folder is None:
        return None
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DigitnetError(f"--explain {folder}: cannot create the folder "
                            f"({exc.strerror or exc})") from None
    return path


def format_recognition(r, top: int = 1) -> str:
    """``photo.jpg: 7 (99.2%)``; with alternatives ``photo.jpg: 7 (99.2%)  1 0.5%  2 0.1%``;
    a number: ``n.png: 4096 (97.1%)  digits 4 99.9%, 0 98.0%, 9 99.5%, 6 99.7%``."""
    if len(r.digits) == 1:
        d = r.digits[0]
        alts = "".join(f"  {a} {p:.1%}" for a, p in d.top[1:top])
        return f"{r.file}: {r.prediction} ({r.confidence:.1%}){alts}"
    parts = []
    for d in r.digits:
        alts = ", ".join(f"{a} {p:.1%}" for a, p in d.top[1:top])
        parts.append(f"{d.digit} {d.confidence:.1%}" + (f" ({alts})" if alts else ""))
    return f"{r.file}: {r.prediction} ({r.confidence:.1%})  digits " + ", ".join(parts)


def cmd_presets(args: argparse.Namespace) -> int:
    from digitnet import presets

    rows = [{"name": p.name, "summary": p.summary, "seed_result": p.seed_result,
             "target": p.target, "epochs": p.config.epochs,
             "default": p.name == presets.DEFAULT_PRESET} for p in presets.PRESETS.values()]
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{'preset':<16}{'target':>8}{'seed':>8}{'epochs':>8}  architecture")
    for r in rows:
        star = " (default)" if r["default"] else ""
        print(f"{r['name']:<16}{r['target']:>8.1%}{r['seed_result']:>8}{r['epochs']:>8}  "
              f"{r['summary']}{star}")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from digitnet.data import DownloadProgress, download_mnist, format_info, mnist_info

    if args.action == "download":
        with DownloadProgress() as bar:
            download_mnist(args.data_dir, progress=bar)
    info = mnist_info(args.data_dir)
    print(json.dumps(info, default=str, indent=2) if args.json else format_info(info))
    return 0 if info["ok"] else EXIT_ERROR


# -- parser --------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="digitnet", description="Handwritten digit recognition with a "
                    "neural network written from scratch in NumPy.")
    parser.add_argument("--version", action="version", version=f"digitnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    p = sub.add_parser("train", help="train a network on MNIST and save it",
                       description="Train a preset on MNIST (50k train / 10k validation), "
                       "evaluate it on the 10k test set and save it.")
    p.add_argument("--preset", metavar="NAME", help="architecture and settings (see "
                   "`digitnet presets`; default: the default preset)")
    _add_data_dir(p)
    p.add_argument("--epochs", type=positive_int, metavar="N", help="number of epochs")
    p.add_argument("--seed", type=non_negative_int, metavar="S", help="random seed")
    p.add_argument("--lr", type=positive_float, metavar="LR", help="base learning rate")
    p.add_argument("--batch-size", type=positive_int, metavar="B", help="mini-batch size")
    p.add_argument("--patience", type=positive_int, metavar="N",
                   help="stop after N epochs without validation improvement")
    p.add_argument("--val-size", type=non_negative_int, default=10000, metavar="N",
                   help="validation images taken from the end of the training file "
                        "(default 10000)")
    p.add_argument("--out", default="model.npz", metavar="MODEL.npz",
                   help="where to save the model (default: model.npz)")
    p.add_argument("--quiet", action="store_true", help="print only the final result")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object per epoch, then one with the result")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="accuracy, per-class metrics and confusion matrix",
                       description="Evaluate a model on the MNIST test set.")
    p.add_argument("model", nargs="?", metavar="MODEL.npz",
                   help="the model file (default: the model shipped with digitnet)")
    _add_data_dir(p)
    p.add_argument("--split", choices=("test", "val", "train"), default="test",
                   help="which split to evaluate on (default: test)")
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="read the digits in your own images",
                       description="Recognise handwritten digits in image files (PNG, JPEG, "
                       "BMP, GIF, TIFF, WebP; photos of paper welcome): one line per image "
                       "with the digits read and the confidence. Several digits in an image "
                       "are read left to right as a number. Exit status 1 if any image "
                       "failed (the others are still answered).")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    p.add_argument("--model", metavar="MODEL.npz",
                   help="the model file (default: the model shipped with digitnet)")
    p.add_argument("--single", action="store_true",
                   help="each image holds one digit: read all its ink as one digit")
    p.add_argument("--top", type=top_k, metavar="K",
                   help="show the K most probable digits (default 1; 3 with --json)")
    p.add_argument("--json", action="store_true",
                   help="print a JSON list with one object per image (file, prediction, "
                        "confidence, digits, error)")
    p.add_argument("--explain", metavar="DIR",
                   help="write DIR/<image>.explain.png showing each preprocessing step and "
                        "the 28x28 inputs the network received")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("presets", help="list the named architectures",
                       description="List the presets with their target accuracy.")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=cmd_presets)

    p = sub.add_parser("data", help="find, verify or download the MNIST files",
                       description="Show where the MNIST files are and whether they verify, "
                       "or download them.")
    p.add_argument("action", choices=("info", "download"), help="info or download")
    _add_data_dir(p)
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=cmd_data)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.func(args)
    except DigitnetError as exc:
        print(f"digitnet {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"digitnet {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
