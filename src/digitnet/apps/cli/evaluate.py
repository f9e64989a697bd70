"""``digitnet evaluate``, ``report``, ``ensemble`` and ``presets``."""

from __future__ import annotations

import argparse
from typing import Any

from digitnet.apps.cli import common


def add_arguments(sub: Any) -> None:
    p = common.command(
        sub, "evaluate", run_evaluate, "accuracy, per-class metrics and confusion matrix"
    )
    common.add_model(p, positional=True)
    common.add_data_dir(p)
    p.add_argument("--split", choices=("test", "val", "train"), default="test", help="which split")
    common.add_output(p, json_help="print the metrics as one JSON object")
    p.add_argument(
        "--reject-below",
        type=common.fraction,
        metavar="P",
        help='answer "not sure" when the top class probability is below P, and '
        "report the coverage and the accuracy on the answered images",
    )

    p = common.command(
        sub, "report", run_report, "write an HTML report with figures and metrics.json"
    )
    common.add_model(p, positional=True)
    common.add_out(
        p,
        "DIR",
        "the report folder: new, empty, or a previous report, which is replaced",
        default="report",
    )
    common.add_data_dir(p)
    common.add_seed(p, "seed of the robustness distortions")
    common.add_count(
        p,
        "--robustness-images",
        "test images distorted for the robustness curves, or 'all'",
        2000,
        type=common.count_or_all,
    )
    common.add_count(p, "--gallery", "misclassified images shown", 40, type=common.non_negative_int)
    common.add_output(p, quiet_help="no progress bar")

    p = common.command(
        sub, "ensemble", run_ensemble, "combine trained models into one that averages them"
    )
    p.add_argument("models", nargs="+", metavar="MODEL.npz", help="two or more model files")
    common.add_data_dir(p)
    common.add_out(p, "ENSEMBLE.npz")
    common.add_output(p, json_help="print the result as JSON")

    p = common.command(sub, "presets", run_presets, "list the named architectures")
    common.add_output(p, json_help="print as JSON")


def run_evaluate(args: argparse.Namespace) -> int:
    """Evaluate a model on the MNIST test set."""
    from digitnet.evaluation.evaluate import evaluate
    from digitnet.evaluation.metrics import format_report
    from digitnet.modelfile import load_model

    path = common.model_path(args)
    model = load_model(path)
    data = common.load_data(args.data_dir, quiet=args.json)
    split = getattr(data, args.split)
    report = evaluate(model, split.images, split.labels, reject_below=args.reject_below)
    if args.json:
        common.print_json({"model": str(path), "split": args.split, **report})
        return 0
    print(f"Model {path} on the {args.split} split ({len(split.labels):,} images)\n")
    print(format_report(report))
    if "reject_option" in report:
        from digitnet.evaluation.confidence import format_selective

        print("\n" + format_selective(report["reject_option"]))
    return 0


def run_report(args: argparse.Namespace) -> int:
    """Evaluate a model on the MNIST test set and write a self-contained report folder:
    index.html (opens from disk), one PNG per figure and metrics.json."""
    from digitnet.modelfile import load_model
    from digitnet.report import ReportConfig, check_output_folder, write_report

    out = check_output_folder(args.out)
    config = ReportConfig(
        seed=args.seed, gallery=args.gallery, robustness_images=args.robustness_images
    )
    path = common.model_path(args)
    model = load_model(path)
    data = common.load_data(args.data_dir, quiet=args.quiet)
    page = write_report(
        model, data, out, config=config, model_path=path, progress=False if args.quiet else None
    )
    print(f"Report on {path} written to {out}: open {page} in a browser")
    return 0


def run_ensemble(args: argparse.Namespace) -> int:
    """Average the probabilities of several trained models (same input and output), evaluate
    the result on the test set and save it as one model file."""
    from digitnet.modelfile import load_model, save_model
    from digitnet.training.jobs import combine

    out = common.output_file("--out", args.out)
    models = [load_model(path) for path in args.models]
    data = common.load_data(args.data_dir, quiet=args.json)
    ensemble = combine(models, data)
    save_model(out, ensemble)
    test = ensemble.meta["test"]
    if args.json:
        common.print_json(
            {
                "model": str(out),
                "ensemble": len(ensemble.members),
                "test_accuracy": test["accuracy"],
                "member_test_accuracy": [
                    m.get("member_test_accuracy") for m in ensemble.meta["members"]
                ],
            }
        )
        return 0
    for path, info in zip(args.models, ensemble.meta["members"], strict=False):
        acc = info.get("member_test_accuracy")
        print(f"  {path}: {acc:.2%}" if acc is not None else f"  {path}")
    print(
        f"Ensemble of {len(ensemble.members)}: test accuracy {test['accuracy']:.2%} "
        f"({test['correct']} / {test['total']})"
    )
    print(f"Saved {out}")
    return 0


def run_presets(args: argparse.Namespace) -> int:
    """List the presets with their target accuracy and the accuracy the seed project they
    reproduce reported."""
    from digitnet.training import presets

    rows = [
        {
            "name": p.name,
            "summary": p.summary,
            "seed_result": p.seed_result,
            "target": p.target,
            "epochs": p.config.epochs,
            "default": p.name == presets.DEFAULT_PRESET,
        }
        for p in presets.PRESETS.values()
    ]
    if args.json:
        common.print_json(rows)
        return 0
    print(f"{'preset':<16}{'target':>8}{'seed project':>14}{'epochs':>8}  architecture")
    for r in rows:
        star = " (default)" if r["default"] else ""
        target = f"{r['target']:.2%}".replace("0%", "%")  # 99.65%, 99.5%
        print(
            f"{r['name']:<16}{target:>8}{r['seed_result']:>14}{r['epochs']:>8}  "
            f"{r['summary']}{star}"
        )
    print(
        "\ntarget: the test accuracy the preset must reach; seed project: what the project "
        "it reproduces reported (— for digitnet's own)"
    )
    return 0
