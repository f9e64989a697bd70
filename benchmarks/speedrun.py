"""Time to accuracy: how long from `digitnet train` to a network that is good enough.

For each recipe (a preset, e.g. ``fast-99``), over seeds 0-4 on this machine:

- digitnet: the preset trained on the 50,000 training digits (wall time of ``fit``: the
  epochs with their shuffling and batching; MNIST already loaded), then the test accuracy
  (used only for this final figure);
- the same recipe replayed in PyTorch (``torch_twin``: the same architecture, optimizer,
  schedule, label smoothing, batch size, epochs and augmentation -- digitnet's batched
  augmenter on PyTorch's batches, so both pay the same for it; same threads);
- PyTorch's canonical MNIST example (2 conv + 2 dense, Adadelta lr 1.0, step decay 0.7,
  batch 64, its normalisation), timed until its test accuracy first reaches 99.0% (checked
  after each epoch; the checks are not timed), with ``--canonical-seeds`` seeds.

Prints mean and minimum test accuracy and the median training seconds, and the ratios the
issue's goals are stated in. Warns when the machine is busy (load average above 0.5 before
the start).

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/speedrun.py --data-dir DIR
        [--recipes fast-99,fast-995,fast-996] [--torch-recipes fast-99,fast-995]
        [--seeds 5] [--canonical-seeds 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

# as `digitnet train` does before NumPy loads: OpenBLAS's threads stop spinning soon after a
# product, so digitnet's element-wise work can use the cores between products
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "18")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def digitnet_run(name: str, data, seed: int) -> tuple[float, float]:
    from digitnet.evaluation.evaluate import evaluate
    from digitnet.training import presets
    from digitnet.training.loop import fit

    model, config = presets.build(name, seed)
    start = time.perf_counter()
    fit(model, data.train, None, config, progress=False)
    seconds = time.perf_counter() - start
    return evaluate(model, data.test.images, data.test.labels)["accuracy"], seconds


def torch_run(name: str, data, seed: int) -> tuple[float, float]:
    import torch
    import torch_twin

    from digitnet.nn import make_schedule
    from digitnet.training import presets

    model, config = presets.build(name, seed)
    torch.manual_seed(seed)
    twin = torch_twin.build(model.get_config())
    torch_twin.copy_weights(model, twin)
    opt = torch_twin.make_optimizer(
        twin, config.optimizer, config.lr, config.momentum, config.weight_decay
    )
    schedule = make_schedule(
        config.schedule,
        config.lr,
        config.epochs,
        warmup=config.warmup,
        step_size=config.step_size,
        gamma=config.gamma,
        min_lr=config.min_lr,
    )
    images = torch.from_numpy(np.ascontiguousarray(data.train.images))
    labels = torch.from_numpy(np.asarray(data.train.labels, dtype=np.int64))
    gen = torch.Generator().manual_seed(seed)
    augment = None
    if config.augment:
        from digitnet.data.augment import Augmenter

        aug = Augmenter(**config.augment, rng=np.random.default_rng(seed))
        augment = lambda x: torch.from_numpy(aug(x.numpy()))  # noqa: E731
    seconds = 0.0
    for epoch in range(config.epochs):
        r = torch_twin.train_epoch(
            twin,
            opt,
            images,
            labels,
            config.batch_size,
            lambda: torch.randperm(images.shape[0], generator=gen),
            lr_at=lambda f, e=epoch: schedule(e + f),
            label_smoothing=config.label_smoothing,
            digitnet_momentum=True,
            augment=augment,
        )
        seconds += r["seconds"]
    x = torch.from_numpy(data.test.images).to(torch.float32).div_(255.0).view(-1, *twin.input_shape)
    return torch_twin.accuracy(twin, x, data.test.labels), seconds


def canonical_run(
    data, seed: int, target: float = 0.99, max_epochs: int = 6
) -> tuple[float, float, int]:
    """PyTorch's examples/mnist recipe; (accuracy when reached, seconds to reach, epochs)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.manual_seed(seed)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(1, 32, 3, 1), nn.Conv2d(32, 64, 3, 1)
            self.dropout1, self.dropout2 = nn.Dropout(0.25), nn.Dropout(0.5)
            self.fc1, self.fc2 = nn.Linear(9216, 128), nn.Linear(128, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2)
            x = torch.flatten(self.dropout1(x), 1)
            return self.fc2(self.dropout2(F.relu(self.fc1(x))))

    def prepare(images):
        x = torch.from_numpy(np.asarray(images)).to(torch.float32).div_(255.0)
        return ((x - 0.1307) / 0.3081).unsqueeze(1)

    x_train = torch.from_numpy(np.asarray(data.train.images))
    y_train = torch.from_numpy(np.asarray(data.train.labels, dtype=np.int64))
    x_test = prepare(data.test.images)
    net = Net()
    opt = torch.optim.Adadelta(net.parameters(), lr=1.0)
    step = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
    gen = torch.Generator().manual_seed(seed)
    seconds, acc = 0.0, 0.0
    for epoch in range(1, max_epochs + 1):
        start = time.perf_counter()
        net.train()
        perm = torch.randperm(len(y_train), generator=gen)
        for i in range(0, len(perm), 64):
            idx = perm[i : i + 64]
            xb = ((x_train[idx].to(torch.float32).div_(255.0) - 0.1307) / 0.3081).unsqueeze(1)
            opt.zero_grad()
            F.cross_entropy(net(xb), y_train[idx]).backward()
            opt.step()
        step.step()
        seconds += time.perf_counter() - start
        net.eval()
        with torch.inference_mode():
            pred = torch.cat([net(x_test[i : i + 1000]).argmax(1) for i in range(0, 10000, 1000)])
        acc = float((pred.numpy() == np.asarray(data.test.labels)).mean())
        if acc >= target:
            return acc, seconds, epoch
    return acc, math.inf, max_epochs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("DIGITNET_DATA_DIR"))
    parser.add_argument("--recipes", default="fast-99")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--canonical-seeds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--torch-recipes",
        help="replay only these recipes in PyTorch "
        "(default: all; the 99.6%% goal has no PyTorch ratio)",
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import torch

    from digitnet.data import load_mnist
    from digitnet.nn.runtime import set_threads

    torch.set_num_threads(args.threads)
    set_threads(args.threads)
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"warning: the machine is busy (load average {load:.2f}): timings are noisy")
    data = load_mnist(args.data_dir)
    canon = [canonical_run(data, s) for s in range(args.canonical_seeds)]
    canon_s = float(np.median([c[1] for c in canon]))
    print(
        f"PyTorch canonical example: 99.0% reached after {[c[2] for c in canon]} epochs, "
        f"median {canon_s:.1f} s of training (accuracy {[round(c[0], 4) for c in canon]})"
    )
    print(
        "| recipe | digitnet mean / min test | digitnet median s | PyTorch same recipe "
        "mean / min | PyTorch median s | digitnet / PyTorch | digitnet / canonical 99% |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in args.recipes.split(","):
        ours = [digitnet_run(name, data, s) for s in range(args.seeds)]
        a, t = np.array([o[0] for o in ours]), float(np.median([o[1] for o in ours]))
        print(
            f"  {name}: digitnet "
            + ", ".join(f"seed {s}: {o[0]:.2%} in {o[1]:.1f} s" for s, o in enumerate(ours)),
            flush=True,
        )
        if args.torch_recipes is None or name in args.torch_recipes.split(","):
            theirs = [torch_run(name, data, s) for s in range(args.seeds)]
            b, u = np.array([o[0] for o in theirs]), float(np.median([o[1] for o in theirs]))
            torch_cells = f"{b.mean():.2%} / {b.min():.2%} | {u:.1f} | {t / u:.2f}"
        else:
            torch_cells = "- | - | -"
        print(
            f"| {name} | {a.mean():.2%} / {a.min():.2%} | {t:.1f} | {torch_cells} | "
            f"{t / canon_s:.2f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
