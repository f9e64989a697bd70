"""The ``digitnet`` command: a thin adapter that parses arguments, calls the library and
prints. Every user mistake becomes one line on stderr and a non-zero exit status."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from digitnet import __version__
from digitnet.errors import ConfigError, DigitnetError

EXIT_ERROR = 1
EXIT_USAGE = 2


# -- argument types: each rejects a bad value with a message naming it ---------------------

def bounded(kind: type, expected: str, ok: Callable[[Any], bool], *, all_word: bool = False
            ) -> Callable[[str], Any]:
    """An argparse ``type``: ``kind(text)`` if ``ok`` accepts it (NaN never does), else
    "expected <expected>, got '<text>'"; with ``all_word``, ``all`` gives None."""
    def parse(text: str) -> Any:
        if all_word and text.strip().lower() == "all":
            return None
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    parse.__name__ = expected
    return parse


positive_int = bounded(int, "a positive integer", lambda v: v > 0)
non_negative_int = bounded(int, "an integer >= 0", lambda v: v >= 0)
positive_float = bounded(float, "a positive number", lambda v: 0 < v < float("inf"))
fraction = bounded(float, "a number in [0, 1]", lambda v: 0.0 <= v <= 1.0)
count_or_all = bounded(int, "a positive integer or 'all'", lambda v: v > 0, all_word=True)
top_k = bounded(int, "an integer from 1 to 10", lambda v: 1 <= v <= 10)


def output_file(flag: str, value: str) -> Path:
    """The path a command will write, checked before any work: its folder must exist."""
    out = Path(value)
    if not out.parent.exists():
        raise DigitnetError(f"{flag} {out}: folder {out.parent} does not exist; create it or "
                            "choose another path")
    return out


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
    from digitnet.modelfile import save_model
    from digitnet.training import presets
    from digitnet.training.checkpoint import Checkpointer, check_same_run
    from digitnet.training.jobs import train_preset
    from digitnet.training.loop import Interrupted

    resumed, folder = _resume_or_checkpoint(args)
    name = args.preset or presets.DEFAULT_PRESET
    presets.get(name)                                   # fail fast on a bad name
    out = output_file("--out", args.out or "model.npz")
    if args.report is not None:
        from digitnet.report import check_output_folder

        check_output_folder(args.report)                # fail before training, not after
    overrides = {k: v for k, v in (("epochs", args.epochs), ("lr", args.lr),
                                   ("batch_size", args.batch_size),
                                   ("patience", args.patience)) if v is not None}
    data = load_data(args.data_dir, quiet=args.quiet or args.json, val_size=args.val_size)
    if args.add_usps is not None:
        from digitnet.data.usps import add_usps_train

        data = add_usps_train(data, args.add_usps)
    checkpointer = None
    if folder is not None:
        run = {"preset": name, "seed": presets.get(name).config.seed if args.seed is None
               else args.seed, "settings": overrides, "ensemble": args.ensemble,
               "val_size": args.val_size, "add_usps": args.add_usps,
               "extra_dir": args.extra_dir,
               "data": dict(data.checksums)}
        if resumed is not None:
            check_same_run(folder, {k: v for k, v in resumed.run.items() if k != "out"}, run)
        checkpointer = Checkpointer(folder, {**run, "out": str(out)},
                                    every=args.checkpoint_every)
    emit = _printer(args)
    if not args.json and not args.quiet:
        what = f"an ensemble of {args.ensemble} x " if args.ensemble > 1 else ""
        verb = "Resuming" if resumed is not None else "Training"
        print(f"{verb} {what}preset {name!r} on {len(data.train.labels):,} images "
              f"(validation {len(data.val.labels):,}, test {len(data.test.labels):,})",
              flush=True)
    try:
        with _stop_on_ctrl_c(folder is not None) as stop:
            model = train_preset(name, data, seed=args.seed, ensemble=args.ensemble, log=emit,
                                 progress=False if (args.quiet or args.json) else None,
                                 checkpoint=checkpointer, resume=resumed, stop=stop,
                                 extra_dir=args.extra_dir, **overrides)
    except Interrupted as exc:
        print(f"digitnet train: interrupted at epoch {exc.state.epoch}, step "
              f"{exc.state.step}; checkpoint saved in {folder}; continue with: digitnet train "
              f"--resume {folder}", file=sys.stderr)
        return 130
    model.meta["command"] = reproduce_command(name, model.meta, args)
    save_model(out, model)
    test = model.meta["test"]
    if not args.json:
        print(f"Test accuracy: {test['accuracy']:.2%} ({test['correct']} / {test['total']})")
        print(f"Saved {out}", flush=True)
    page = _train_report(args, model, data, out)
    if args.json:
        print(json.dumps({"event": "result", "preset": name, "model": str(out),
                          "ensemble": args.ensemble,
                          "test_accuracy": test["accuracy"], "test_correct": test["correct"],
                          "test_total": test["total"],
                          "train_seconds": model.meta["history"]["train_seconds"],
                          "report": None if page is None else str(page)}), flush=True)
    return 0


def _resume_or_checkpoint(args: argparse.Namespace):
    """``(Resumed or None, checkpoint folder or None)`` for ``train``; with ``--resume`` the
    run's own settings fill those not given (those given must agree: checked later)."""
    if args.checkpoint_every is not None and args.checkpoint is None and args.resume is None:
        raise DigitnetError("--checkpoint-every needs --checkpoint DIR")
    if args.resume is not None:
        if args.checkpoint is not None:
            raise DigitnetError("give --resume DIR or --checkpoint DIR, not both: a resumed "
                                "run keeps checkpointing into its own folder")
        from digitnet.training.checkpoint import load

        resumed = load(args.resume)
        run = resumed.run
        settings = run.get("settings") or {}
        for key, value in (("preset", run.get("preset")), ("seed", run.get("seed")),
                           ("ensemble", run.get("ensemble")),
                           ("val_size", run.get("val_size")), ("out", run.get("out")),
                           ("add_usps", run.get("add_usps")),
                           ("extra_dir", run.get("extra_dir")),
                           ("epochs", settings.get("epochs")), ("lr", settings.get("lr")),
                           ("batch_size", settings.get("batch_size")),
                           ("patience", settings.get("patience"))):
            if getattr(args, key) in (None, TRAIN_DEFAULTS.get(key)):
                setattr(args, key, value if value is not None else getattr(args, key))
        return resumed, Path(args.resume)
    if args.checkpoint is None:
        return None, None
    from digitnet.training.checkpoint import FILE

    folder = Path(args.checkpoint)
    if (folder / FILE).exists():
        raise DigitnetError(f"--checkpoint {folder}: it already holds a checkpoint; continue "
                            f"that run with --resume {folder}, or choose another folder")
    if not folder.parent.is_dir():
        raise DigitnetError(f"--checkpoint {folder}: folder {folder.parent} does not exist; "
                            "create it or choose another path")
    folder.mkdir(exist_ok=True)
    return None, folder


#: train's defaults: a resumed run's own value replaces an option left at its default
TRAIN_DEFAULTS = {"ensemble": 1, "val_size": 10000}


@contextlib.contextmanager
def _stop_on_ctrl_c(enabled: bool):
    """With checkpoints, the first Ctrl+C asks training to stop after the mini-batch in
    progress (it saves a checkpoint first); a second one interrupts at once. Yields the
    ``stop()`` callable for :func:`digitnet.training.loop.fit` (None when not enabled)."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield None
        return
    asked = []

    def on_sigint(signum, frame):
        if asked:
            raise KeyboardInterrupt
        asked.append(True)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield lambda: bool(asked)
    finally:
        signal.signal(signal.SIGINT, previous)


def cmd_train_checker(args: argparse.Namespace) -> int:
    from digitnet.modelfile import save_model
    from digitnet.training.checker import train_checker

    out = output_file("--out", args.out)
    data = load_data(args.data_dir, quiet=args.quiet or args.json)
    if not args.json and not args.quiet:
        print(f"Training the segment checker on the segments of {args.numbers:,} numbers "
              "made of training digits", flush=True)
    model = train_checker(data, numbers=args.numbers, val_numbers=args.val_numbers,
                          seed=args.seed, epochs=args.epochs,
                          log=_printer(args), progress=False if (args.quiet or args.json)
                          else None)
    save_model(out, model)
    val = model.meta.get("val") or {}
    if args.json:
        print(json.dumps({"event": "result", "model": str(out), "val": val,
                          "examples": model.meta["examples"]}), flush=True)
    else:
        if val:
            print(f"Validation segments: {val['whole_flagged']:.2%} of {val['whole']:,} whole "
                  f"digits flagged, {val['not_one_missed']:.2%} of {val['not_one']:,} others "
                  "missed")
        print(f"Saved {out}", flush=True)
    return 0


def _train_report(args: argparse.Namespace, model: Any, data: Any, out: Path) -> Path | None:
    """``train --report DIR``: the report of the model just trained, or None."""
    if args.report is None:
        return None
    from digitnet.report import write_report

    page = write_report(model, data, args.report, model_path=out,
                        progress=False if (args.quiet or args.json) else None)
    if not args.json:
        print(f"Report: {page}")
    return page


def reproduce_command(name: str, meta: dict[str, Any], args: argparse.Namespace) -> str:
    """The `digitnet train` command that trains this model again, bit for bit on the same
    machine: the preset, the seed actually used and every setting given on the command line."""
    seed = (meta.get("train_config") or {}).get("seed", args.seed)
    parts = ["digitnet train", f"--preset {name}", f"--seed {seed}"]
    for flag, value in (("--ensemble", args.ensemble if args.ensemble > 1 else None),
                        ("--epochs", args.epochs), ("--lr", args.lr),
                        ("--batch-size", args.batch_size), ("--patience", args.patience),
                        ("--val-size", args.val_size if args.val_size != 10000 else None),
                        ("--add-usps", args.add_usps), ("--extra-dir", args.extra_dir)):
        if value is not None:
            parts.append(f"{flag} {value}")
    return " ".join(parts)


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
    who = f"[net {r['member']}/{r['members']}] " if "member" in r else ""
    if "val_correct" not in r:
        return f"{who}Epoch {r['epoch']}: train loss {r['train_loss']:.4f}  {r['seconds']:.1f}s"
    return (f"{who}Epoch {r['epoch']}: {r['val_correct']} / {r['val_total']}  "
            f"train loss {r['train_loss']:.4f}  val loss {r['val_loss']:.4f}  "
            f"val acc {r['val_accuracy']:.2%}  {r['seconds']:.1f}s")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from digitnet.evaluation.evaluate import evaluate
    from digitnet.evaluation.metrics import format_report
    from digitnet.modelfile import load_model

    path = resolve_model_path(args.model)
    model = load_model(path)
    data = load_data(args.data_dir, quiet=args.json)
    split = getattr(data, args.split)
    report = evaluate(model, split.images, split.labels, reject_below=args.reject_below)
    if args.json:
        print(json.dumps({"model": str(path), "split": args.split, **report}))
    else:
        print(f"Model {path} on the {args.split} split "
              f"({len(split.labels):,} images)\n")
        print(format_report(report))
        if "reject_option" in report:
            from digitnet.evaluation.confidence import format_selective

            print("\n" + format_selective(report["reject_option"]))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from digitnet.modelfile import load_model
    from digitnet.report import ReportConfig, check_output_folder, write_report

    out = check_output_folder(args.out)
    config = ReportConfig(seed=args.seed, gallery=args.gallery,
                          robustness_images=args.robustness_images)
    path = resolve_model_path(args.model)
    model = load_model(path)
    data = load_data(args.data_dir, quiet=args.quiet)
    page = write_report(model, data, out, config=config, model_path=path,
                        progress=False if args.quiet else None)
    print(f"Report on {path} written to {out}: open {page} in a browser")
    return 0


def resolve_model_path(model: str | None) -> Path:
    """The model file a command should use: the one given, else the shipped model."""
    if model is None:
        from digitnet.models import shipped_model_path

        return shipped_model_path()
    return Path(model)


def cmd_ensemble(args: argparse.Namespace) -> int:
    from digitnet.modelfile import load_model, save_model
    from digitnet.training.jobs import combine

    out = output_file("--out", args.out)
    models = [load_model(path) for path in args.models]
    data = load_data(args.data_dir, quiet=args.json)
    ensemble = combine(models, data)
    save_model(out, ensemble)
    test = ensemble.meta["test"]
    if args.json:
        print(json.dumps({"model": str(out), "ensemble": len(ensemble.members),
                          "test_accuracy": test["accuracy"],
                          "member_test_accuracy": [m.get("member_test_accuracy")
                                                   for m in ensemble.meta["members"]]}))
    else:
        for path, info in zip(args.models, ensemble.meta["members"], strict=False):
            acc = info.get("member_test_accuracy")
            print(f"  {path}: {acc:.2%}" if acc is not None else f"  {path}")
        print(f"Ensemble of {len(ensemble.members)}: test accuracy {test['accuracy']:.2%} "
              f"({test['correct']} / {test['total']})")
        print(f"Saved {out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from digitnet.interop import write_onnx
    from digitnet.modelfile import load_model

    out = output_file("--onnx", args.onnx)
    model = load_model(resolve_model_path(args.model))
    write_onnx(out, model, input_type=args.input_type)
    print(f"Saved {out} (ONNX opset 17; input 'pixels' (N, 28, 28) {args.input_type}, "
          "outputs 'probabilities' (N, 10) and 'label' (N,))")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from digitnet.apps.serve import create_app
    except ImportError:
        raise DigitnetError("digitnet serve needs the web extra: pip install "
                            "'digitnet[serve]' (FastAPI, uvicorn, python-multipart)") from None
    model = resolve_model_path(args.model)
    limit = int(args.max_upload_mb * 1024 * 1024)
    create_app(model, max_upload=limit)                   # a bad model fails here, in one line
    os.environ["DIGITNET_SERVE_MODEL"] = str(model)
    os.environ["DIGITNET_SERVE_MAX_UPLOAD"] = str(limit)
    if args.data_dir:
        os.environ["DIGITNET_DATA_DIR"] = str(args.data_dir)      # for every worker
    print(f"digitnet serve: http://{args.host}:{args.port}/ (model {model}; Ctrl+C stops)",
          flush=True)
    uvicorn.run("digitnet.apps.serve.factory:app", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level="warning", timeout_keep_alive=5)
    return 0


def cmd_read_all(args: argparse.Namespace) -> int:
    from digitnet.apps.bulk import Results, run

    fmt = args.format or ("csv" if args.out.endswith(".csv") else "jsonl")
    results = Results(args.out, fmt, retry_errors=args.errors_only)
    workers = args.workers or len(os.sched_getaffinity(0))
    model = None if args.model is None else str(resolve_model_path(args.model))
    bar = None
    if not args.quiet and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(unit="img", desc="read-all", file=sys.stderr)
    try:
        counts = run(args.source, results, workers=workers, dask=args.dask, model_path=model,
                     progress=bar.update if bar is not None else None,
                     on_todo=(lambda n: bar.reset(total=n)) if bar is not None else None)
    finally:
        results.close()
        if bar is not None:
            bar.close()
    if not args.quiet:
        print(f"{counts['read']:,} read, {counts['errors']:,} errors, {counts['skipped']:,} "
              f"already in {args.out} ({counts['images']:,} images in {args.source})")
    return 0


def cmd_adapt(args: argparse.Namespace) -> int:
    from digitnet.modelfile import load_model, save_model
    from digitnet.training.adapt import load_samples, personalise

    out = output_file("--out", args.out)
    base_path = resolve_model_path(args.model)
    base = load_model(base_path)
    images, labels, digest = load_samples(args.samples)
    data = load_data(args.data_dir, quiet=args.quiet)
    if not args.quiet:
        print(f"Adapting {base_path.name} to {len(labels)} samples of {args.samples} "
              f"(replaying {args.replay:,} MNIST training digits)", flush=True)
    model = personalise(base, base_path, images, labels, data, source=str(args.samples),
                        digest=digest, replay=args.replay, epochs=args.epochs, seed=args.seed)
    model.meta["adapt"]["command"] = " ".join(["digitnet adapt", str(args.samples)])
    save_model(out, model)
    if not args.quiet:
        print(f"MNIST test accuracy: {model.meta['test']['accuracy']:.2%} (base model: "
              f"{model.meta['base_model']['test_accuracy']})")
        print(f"Saved {out}")
    return 0


def cmd_samples(args: argparse.Namespace) -> int:
    from digitnet.apps.samples import SampleStore

    store = SampleStore(args.store)
    if args.action == "export":
        if args.folder is None:
            raise DigitnetError("samples export needs a FOLDER to write")
        n = store.export(args.folder)
        print(f"Wrote {n} samples into {args.folder} (one folder per digit); teach a model "
              f"with: digitnet adapt {args.folder} --out mine.npz")
    else:
        counts = store.counts()
        print(f"{sum(counts)} samples in {store.path}: " +
              ", ".join(f"{d}: {n}" for d, n in enumerate(counts)))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from digitnet.modelfile import load_model
    from digitnet.progress import ProgressBar
    from digitnet.reading.explain import write_explain
    from digitnet.reading.recognise import explain_path, recognise_files

    model = load_model(resolve_model_path(args.model))
    checker = False if args.no_checker else (_load_checker(args.checker) if args.checker
                                             else True)
    explain = _explain_folder(args.explain)
    top = args.top if args.top is not None else (3 if args.json else 1)
    results, failed, taken = [], 0, set()
    # text mode prints a line per image as it goes; --json prints at the end: a progress bar
    with ProgressBar(len(args.images), "Reading", enabled=None if args.json else False) as bar:
        for r in recognise_files(args.images, model, single=args.single, top=top,
                                  checker=checker):
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


def _load_checker(path: str):
    from digitnet.data.pieces import NOT_ONE_DIGIT
    from digitnet.modelfile import load_model

    checker = load_model(path)
    outputs = checker.output_shape[-1]
    if outputs != NOT_ONE_DIGIT + 1:
        raise DigitnetError(f"--checker {path}: not a segment checker (it has {outputs} "
                            f"outputs, a checker has {NOT_ONE_DIGIT + 1}); train one with "
                            "`digitnet train-checker`")
    return checker


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
    from digitnet.training import presets

    rows = [{"name": p.name, "summary": p.summary, "seed_result": p.seed_result,
             "target": p.target, "epochs": p.config.epochs,
             "default": p.name == presets.DEFAULT_PRESET} for p in presets.PRESETS.values()]
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{'preset':<16}{'target':>8}{'seed':>8}{'epochs':>8}  architecture")
    for r in rows:
        star = " (default)" if r["default"] else ""
        target = f"{r['target']:.2%}".replace("0%", "%")          # 99.65%, 99.5%
        print(f"{r['name']:<16}{target:>8}{r['seed_result']:>8}{r['epochs']:>8}  "
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


def cmd_augment_preview(args: argparse.Namespace) -> int:
    import numpy as np

    from digitnet.data.augment import Augmenter, preview
    from digitnet.files import atomic_write
    from digitnet.report.figures import plot_augment_preview
    from digitnet.training import presets

    settings = dict(presets.get(args.preset).config.augment or {}) if args.preset else {}
    for name in ("rotate", "shift", "scale", "shear", "elastic_alpha", "elastic_sigma",
                 "stroke", "blur"):
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)
    out = output_file("--out", args.out)
    try:
        augmenter = Augmenter(**settings, rng=np.random.default_rng(args.seed))
    except ValueError as exc:
        raise DigitnetError(f"invalid augmentation setting: {exc}") from None
    data = load_data(args.data_dir, quiet=True, val_size=0)
    pick = np.random.default_rng(args.seed).choice(len(data.train.labels), args.count,
                                                   replace=False)
    grid = preview(data.train.images[np.sort(pick)], augmenter, args.per_image)
    fig = plot_augment_preview(grid, augmenter.config())
    atomic_write(out, lambda f: fig.savefig(f, format="png", dpi=100, facecolor="white"))
    print(f"Wrote {out}: {args.count} training digits, each with {args.per_image} "
          f"distorted versions")
    return 0


# -- parser --------------------------------------------------------------------------------

def _add_report_parser(sub: Any) -> None:
    """The `report` command's arguments."""
    p = sub.add_parser("report", help="write an HTML report with figures and metrics.json",
                       description="Evaluate a model on the MNIST test set and write a "
                       "self-contained report folder: index.html (opens from disk), one PNG "
                       "per figure and metrics.json.")
    p.add_argument("model", nargs="?", metavar="MODEL.npz",
                   help="the model file (default: the model shipped with digitnet)")
    p.add_argument("--out", default="report", metavar="DIR",
                   help="the report folder: new, empty, or a previous report, which is "
                        "replaced (default: report)")
    _add_data_dir(p)
    p.add_argument("--seed", type=non_negative_int, default=0, metavar="S",
                   help="seed of the robustness distortions (default 0)")
    p.add_argument("--robustness-images", type=count_or_all, default=2000, metavar="N",
                   help="test images distorted for the robustness curves, or 'all' "
                        "(default 2000)")
    p.add_argument("--gallery", type=non_negative_int, default=40, metavar="N",
                   help="misclassified images shown (default 40)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_report)


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
    p.add_argument("--ensemble", type=positive_int, default=1, metavar="N",
                   help="train N networks (seeds S, S+1, ...) and average their "
                        "probabilities (default 1)")
    p.add_argument("--val-size", type=non_negative_int, default=10000, metavar="N",
                   help="validation images taken from the end of the training file "
                        "(default 10000)")
    p.add_argument("--extra-dir", metavar="DIR",
                   help="folder holding usps/ and optdigits/, for the presets that train on "
                        "them (default: beside the MNIST folder)")
    p.add_argument("--add-usps", metavar="DIR", help="also train on USPS's 7,291 training "
                   "digits (zip.train.gz in DIR), as a user's 16x16 images are read; "
                   "validation and test stay MNIST's")
    p.add_argument("--out", metavar="MODEL.npz",
                   help="where to save the model (default: model.npz)")
    p.add_argument("--checkpoint", metavar="DIR",
                   help="save the run in DIR at every epoch's end (and every "
                        "--checkpoint-every mini-batches) so that --resume DIR can continue it")
    p.add_argument("--checkpoint-every", type=positive_int, metavar="N",
                   help="also checkpoint every N mini-batches within an epoch")
    p.add_argument("--resume", metavar="DIR",
                   help="continue the run checkpointed in DIR (same weights, bit for bit, as "
                        "if it had not stopped)")
    p.add_argument("--quiet", action="store_true", help="print only the final result")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object per epoch, then one with the result")
    p.add_argument("--report", metavar="DIR",
                   help="also write an evaluation report folder there (see `digitnet report`)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="accuracy, per-class metrics and confusion matrix",
                       description="Evaluate a model on the MNIST test set.")
    p.add_argument("model", nargs="?", metavar="MODEL.npz",
                   help="the model file (default: the model shipped with digitnet)")
    _add_data_dir(p)
    p.add_argument("--split", choices=("test", "val", "train"), default="test",
                   help="which split to evaluate on (default: test)")
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    p.add_argument("--reject-below", type=fraction, metavar="P",
                   help="answer \"not sure\" when the top class probability is below P, and "
                        "report the coverage and the accuracy on the answered images")
    p.set_defaults(func=cmd_evaluate)

    _add_report_parser(sub)

    p = sub.add_parser("ensemble", help="combine trained models into one that averages them",
                       description="Average the probabilities of several trained models (same "
                       "input and output), evaluate the result on the test set and save it as "
                       "one model file.")
    p.add_argument("models", nargs="+", metavar="MODEL.npz", help="two or more model files")
    _add_data_dir(p)
    p.add_argument("--out", required=True, metavar="ENSEMBLE.npz", help="where to save it")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_ensemble)

    p = sub.add_parser("export", help="write a model as an ONNX graph (onnxruntime, browsers)",
                       description="Write a model file (default: the shipped model) as an ONNX "
                       "graph: input 'pixels' (N, 28, 28), MNIST-style, 0 = background; "
                       "outputs 'probabilities' (N, 10) and 'label' (N,). Needs "
                       "pip install 'digitnet[onnx]'.")
    p.add_argument("model", nargs="?", metavar="MODEL.npz", help="default: the shipped model")
    p.add_argument("--onnx", "-o", required=True, metavar="OUT.onnx", help="where to write it")
    p.add_argument("--input-type", choices=("float", "uint8"), default="float",
                   help="float32 pixels in [0, 1] (default) or uint8 0-255")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("serve", help="a web page to draw or photograph digits, and a JSON API",
                       description="Serve a page where you draw a digit (or photograph a "
                       "number) and watch the network read it, and the JSON API it uses "
                       "(documented at /docs). Needs pip install 'digitnet[serve]'.")
    p.add_argument("--model", metavar="MODEL.npz", help="default: the shipped model")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default "
                   "127.0.0.1; 0.0.0.0 for every interface)")
    p.add_argument("--port", type=positive_int, default=8000, help="default 8000")
    p.add_argument("--workers", type=positive_int, default=1, metavar="N",
                   help="worker processes, each with its own copy of the model (default 1)")
    p.add_argument("--max-upload-mb", type=positive_float, default=10, metavar="MB",
                   help="refuse larger uploads with 413 (default 10)")
    p.add_argument("--data-dir", help="where \"adapt to my handwriting\" finds MNIST's "
                   "training digits to replay (default: as train)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("read-all", help="read every image of a folder, archive or list, "
                       "resumably, on all cores or a Dask cluster",
                       description="Read every image of SOURCE (a folder, walked recursively; "
                       "a .zip or .tar(.gz) archive; or a text file with one path per line) "
                       "and append one result per image to --out as it goes (JSON Lines, or "
                       "CSV). Run it again with the same --out to continue: images already "
                       "answered are skipped.")
    p.add_argument("source", metavar="SOURCE")
    p.add_argument("--out", required=True, metavar="RESULTS.jsonl",
                   help="the results file (.csv: CSV)")
    p.add_argument("--format", choices=("jsonl", "csv"), help="default: from --out's suffix")
    p.add_argument("--workers", type=positive_int, metavar="N",
                   help="processes (default: the usable CPUs)")
    p.add_argument("--dask", metavar="ADDRESS", help="a Dask scheduler (tcp://host:8786), or "
                   "'local' for a LocalCluster of --workers processes")
    p.add_argument("--errors-only", action="store_true",
                   help="read again the images whose result is an error")
    p.add_argument("--model", metavar="MODEL.npz", help="default: the shipped model")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    p.set_defaults(func=cmd_read_all)

    p = sub.add_parser("adapt", help="teach a model a handwriting from a few samples",
                       description="Fine-tune a model (default: the shipped one) on labelled "
                       "samples: SAMPLES holds one sub-folder per digit (0/ to 9/, at least "
                       "one image each), read like `digitnet predict` reads images. MNIST "
                       "training digits are replayed beside them so that MNIST is not "
                       "forgotten.")
    p.add_argument("samples", metavar="SAMPLES")
    p.add_argument("--out", required=True, metavar="MINE.npz")
    p.add_argument("--model", metavar="MODEL.npz", help="the base model (default: shipped)")
    _add_data_dir(p)
    p.add_argument("--replay", type=positive_int, default=2000, metavar="N",
                   help="MNIST training digits replayed per epoch (default 2000)")
    p.add_argument("--epochs", type=positive_int, default=4, metavar="N")
    p.add_argument("--seed", type=non_negative_int, default=0, metavar="S")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_adapt)

    p = sub.add_parser("samples", help="the samples of your handwriting kept by the page",
                       description="`samples count` shows how many samples the `digitnet "
                       "serve` page kept (its \"that's wrong\" button); `samples export "
                       "FOLDER` writes them as one folder per digit, for `digitnet adapt`.")
    p.add_argument("action", choices=("count", "export"))
    p.add_argument("folder", nargs="?", metavar="FOLDER")
    p.add_argument("--store", metavar="DB", help="the samples database (default: "
                   "$DIGITNET_SAMPLES, else the user's data folder)")
    p.set_defaults(func=cmd_samples)

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
    which = p.add_mutually_exclusive_group()
    which.add_argument("--checker", metavar="CHECKER.npz",
                       help="the segment checker, which helps to split touching digits and "
                            "whose digit probabilities are averaged with the model's (default: "
                            "the one shipped with digitnet; see `digitnet train-checker`)")
    which.add_argument("--no-checker", action="store_true",
                       help="read with the model alone (touching digits split by shape and "
                            "the model's confidence)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("train-checker", help="train the segment checker used by predict",
                       description="Train the network that tells one whole digit from two "
                       "touching digits or a piece of one (used by `digitnet predict` to "
                       "split touching digits), on the segments of numbers composed from "
                       "MNIST training digits, and save it.")
    _add_data_dir(p)
    p.add_argument("--numbers", type=positive_int, default=12000, metavar="N",
                   help="numbers composed from training digits (default 12000)")
    p.add_argument("--val-numbers", type=non_negative_int, default=2000, metavar="N",
                   help="numbers composed from validation digits, to measure it on "
                        "(default 2000)")
    p.add_argument("--epochs", type=positive_int, metavar="N",
                   help="number of epochs (default 12)")
    p.add_argument("--seed", type=non_negative_int, default=0, metavar="S",
                   help="random seed (default 0)")
    p.add_argument("--out", default="checker.npz", metavar="CHECKER.npz",
                   help="where to save it (default: checker.npz)")
    p.add_argument("--quiet", action="store_true", help="print only the final result")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object per epoch, then one with the result")
    p.set_defaults(func=cmd_train_checker)

    p = sub.add_parser("presets", help="list the named architectures",
                       description="List the presets with their target accuracy.")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=cmd_presets)

    p = sub.add_parser("augment-preview", help="draw training digits next to their random "
                       "distortions", description="Write a PNG grid of MNIST training digits, "
                       "each followed by randomly distorted versions: what a network trained "
                       "with augmentation sees.")
    p.add_argument("--preset", metavar="NAME", help="use this preset's augmentation settings")
    for name, unit in (("rotate", "degrees"), ("shift", "pixels"), ("scale", "fraction"),
                       ("shear", "degrees"), ("elastic-alpha", "pixels"),
                       ("elastic-sigma", "pixels"), ("stroke", "fraction of a 3x3 "
                       "erosion or dilation"), ("blur", "fraction of a 3x3 smoothing")):
        p.add_argument(f"--{name}", type=float, metavar="X",
                       help=f"maximum {name.replace('-', ' ')} ({unit})")
    p.add_argument("--count", type=positive_int, default=8, metavar="K",
                   help="how many digits (default 8)")
    p.add_argument("--per-image", type=positive_int, default=7, metavar="P",
                   help="distorted versions per digit (default 7)")
    p.add_argument("--seed", type=non_negative_int, default=0, metavar="S")
    _add_data_dir(p)
    p.add_argument("--out", default="augment.png", metavar="FILE.png",
                   help="where to write the PNG (default augment.png)")
    p.set_defaults(func=cmd_augment_preview)

    p = sub.add_parser("data", help="find, verify or download the MNIST files",
                       description="Show where the MNIST files are and whether they verify, "
                       "or download them.")
    p.add_argument("action", choices=("info", "download"), help="info or download")
    _add_data_dir(p)
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=cmd_data)
    return parser


def configure_runtime() -> None:
    """The engine's threads, set explicitly: OpenBLAS's short thread wait before NumPy loads
    (see :mod:`digitnet.nn.runtime`; a value already in the environment is kept), then
    ``DIGITNET_THREADS`` (a bad value is a one-line error)."""
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "18")   # runtime.BLAS_THREAD_TIMEOUT
    value = os.environ.get("DIGITNET_THREADS", "").strip()
    if value:
        from digitnet.nn.runtime import parse_threads, set_threads

        try:
            set_threads(parse_threads(value))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        configure_runtime()
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
