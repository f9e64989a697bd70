"""``digitnet export``, ``adapt`` and ``samples``: a model for other runtimes, and taught a
person's handwriting."""

from __future__ import annotations

import argparse
from typing import Any

from digitnet.apps.cli import common
from digitnet.errors import DigitnetError


def add_arguments(sub: Any) -> None:
    p = common.command(
        sub, "export", run_export, "write a model as an ONNX graph (onnxruntime, browsers)"
    )
    common.add_model(p, positional=True)
    p.add_argument("--onnx", "-o", required=True, metavar="OUT.onnx", help="where to write it")
    p.add_argument(
        "--input-type",
        choices=("uint8", "float"),
        default="uint8",
        help="uint8 pixels 0-255, or float32 in [0, 1] (fed 0-255, a float graph answers "
        "wrongly without an error)",
    )

    p = common.command(sub, "adapt", run_adapt, "teach a model a handwriting from a few samples")
    p.add_argument("samples", metavar="SAMPLES")
    common.add_out(p, "MINE.npz")
    common.add_model(p, what="the base model")
    common.add_data_dir(p)
    common.add_count(p, "--replay", "MNIST training digits replayed per epoch", 2000)
    common.add_count(p, "--epochs", "passes over the samples (default: the adapt recipe's)")
    common.add_seed(p)
    common.add_output(p, quiet_help="no progress bar and no summary")

    p = common.command(
        sub, "samples", run_samples, "the samples of your handwriting kept by the page"
    )
    p.add_argument("action", choices=("count", "export", "delete"))
    p.add_argument(
        "target",
        nargs="?",
        metavar="FOLDER|ID",
        help="export: the folder to write; delete: a sample's id, or 'all'",
    )
    p.add_argument(
        "--store",
        metavar="DB",
        help="the samples database (default: $DIGITNET_SAMPLES, else the user's data folder)",
    )
    p.add_argument(
        "--owner",
        metavar="OWNER",
        help="only this owner's samples (as `samples count` lists them; '' for samples "
        "kept before owners existed); default: every owner's",
    )


def run_export(args: argparse.Namespace) -> int:
    """Write a model file (default: the shipped model) as an ONNX graph: input 'pixels' (N,
    28, 28), MNIST-style, 0 = background, uint8 0-255 as in the MNIST files (as the web
    page's download); outputs 'probabilities' (N, 10) and 'label' (N,). The input's type and
    range are written in the file's metadata (input_type, input_range). Needs pip install
    'digitnet[onnx]'."""
    from digitnet.interop import OPSET, describe_input, write_onnx
    from digitnet.modelfile import load_model

    out = common.output_file("--onnx", args.onnx)
    model = load_model(common.model_path(args))
    write_onnx(out, model, input_type=args.input_type)
    print(f"Saved {out} (ONNX opset {OPSET}; metadata input_type={args.input_type})")
    print(f"  input  {describe_input(args.input_type)}")
    print(f"  output 'probabilities' (N, {model.output_shape[-1]}), 'label' (N,)")
    return 0


def run_adapt(args: argparse.Namespace) -> int:
    """Fine-tune a model (default: the shipped one) on labelled samples: SAMPLES holds one
    sub-folder per digit (0/ to 9/, at least one image each), read like `digitnet predict`
    reads images. MNIST training digits are replayed beside them so that MNIST is not
    forgotten."""
    from digitnet.modelfile import load_model, save_model
    from digitnet.progress import ProgressBar
    from digitnet.training.adapt import load_samples, personalise

    out = common.output_file("--out", args.out)
    base_path = common.model_path(args)
    base = load_model(base_path)
    images, labels, digest = load_samples(args.samples)
    data = common.load_data(args.data_dir, quiet=args.quiet)
    if not args.quiet:
        print(
            f"Adapting {base_path.name} to {len(labels)} samples of {args.samples} "
            f"(replaying {args.replay:,} MNIST training digits)",
            flush=True,
        )
    options = {} if args.epochs is None else {"epochs": args.epochs}
    with ProgressBar(0, "Adapting", enabled=False if args.quiet else None) as bar:
        model = personalise(
            base,
            base_path,
            images,
            labels,
            data,
            source=str(args.samples),
            digest=digest,
            replay=args.replay,
            seed=args.seed,
            progress=bar.set,
            **options,
        )
    model.meta["adapt"]["command"] = f"digitnet adapt {args.samples}"
    save_model(out, model)
    if not args.quiet:
        base_acc = model.meta["base_model"]["test_accuracy"]
        print(
            f"MNIST test accuracy: {model.meta['test']['accuracy']:.2%} (base model: "
            + (f"{base_acc:.2%})" if base_acc is not None else "not recorded)")
        )
        print(f"Saved {out}")
    return 0


def run_samples(args: argparse.Namespace) -> int:
    """`samples count` shows how many samples the `digitnet serve` page kept (its "that's
    wrong" button); `samples export FOLDER` writes them as one folder per digit, for
    `digitnet adapt`; `samples delete ID` removes one, `samples delete all` every one. Each
    browser's samples are its own (an anonymous owner); --owner acts on one owner's only."""
    from digitnet.apps.samples import SampleStore

    store = SampleStore(args.store)
    owner = args.owner
    if args.action == "export":
        if args.target is None:
            raise DigitnetError("samples export needs a FOLDER to write")
        n = store.export(args.target, owner=owner)
        print(
            f"Wrote {n} samples into {args.target} (one folder per digit); teach a model "
            f"with: digitnet adapt {args.target} --out mine.npz"
        )
    elif args.action == "delete":
        if args.target is None:
            raise DigitnetError(
                "samples delete needs a sample's ID (see `digitnet samples count`) or 'all'"
            )
        n = store.delete(None if args.target == "all" else _sample_id(args.target), owner=owner)
        print(f"Deleted {n} sample{'s' if n != 1 else ''} from {store.path}")
    else:
        counts = store.counts(owner=owner)
        print(
            f"{sum(counts)} samples in {store.path}: "
            + ", ".join(f"{d}: {n}" for d, n in enumerate(counts))
        )
        owners = store.owners()
        if owner is None and owners and (len(owners) > 1 or "" not in owners):
            print(
                f"{len(owners)} owners: "
                + ", ".join(f"{o or repr('')} ({n})" for o, n in sorted(owners.items()))
            )
    return 0


def _sample_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise DigitnetError(
            f"samples delete: expected a sample's number or 'all', got {text!r}"
        ) from None
