"""Time to accuracy: how long from `digitnet train` to a network that is good enough, against
PyTorch on the same machine, in one run.

For each seed (0, 1, ...), in turn:

- the **anchor**: tuomaso/train_mnist_fast's one-epoch recipe replayed in PyTorch (conv
  24@5x5 -> max-pool 2 -> ReLU -> conv 32@3x3 -> max-pool 2 -> ReLU -> dense 256 -> ReLU ->
  dense 10, PyTorch's default initialisation, Adam lr 0.01 betas (0.7, 0.9), ``OneCycleLR``
  without momentum cycling, batch 256, all 60,000 training digits normalised to mean 0.1307
  / std 0.3081 and held in memory, shuffled once, 1 epoch; 99.04% mean over 30 seeds in its
  notebook). Timed: the training loop (the data preparation, as the notebook's load, is not);
- then each recipe (a preset, e.g. ``fast-99``): digitnet's ``fit`` on the 50,000 training
  digits (wall time: the epochs with their shuffling, batching and augmentation; MNIST
  already loaded), then the same recipe replayed in PyTorch (``torch_twin``: the same
  architecture and initial weights, optimizer, schedule, label smoothing, batch size, epochs
  and augmentation -- digitnet's batched augmenter on PyTorch's batches, so both pay the
  same for it -- same threads), digitnet and PyTorch alternating;
- each run's test accuracy (the test set gives only these final figures) and the 1-minute
  load average when it ended are printed as it finishes.

Then the table the goals of issue 28 are stated in: per recipe, digitnet's mean / minimum
test accuracy and median seconds, PyTorch's on the same recipe, digitnet / PyTorch (median of
the per-seed ratios, each from back-to-back runs) and digitnet / the anchor (median seconds
over median seconds); and the convolution kernel benchmark (``conv_kernels.py``: one
forward + backward step of each recipe's convolution layers, batch 128 and 256, against
PyTorch's). Optionally (``--canonical-seeds``) PyTorch's canonical MNIST example is timed
to 99.0% as before.

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/speedrun.py --data-dir DIR
        [--recipes fast-99,fast-995,fast-996] [--torch-recipes fast-99,fast-995,fast-996]
        [--seeds 5] [--threads 2] [--kernels] [--canonical-seeds 0]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

# as `digitnet train` does before NumPy loads: OpenBLAS's threads stop spinning soon after a
# product, so digitnet's element-wise work can use the cores between products
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "18")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def load() -> float:
    return os.getloadavg()[0]


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

    from digitnet.training import presets

    model, config = presets.build(name, seed)
    torch.manual_seed(seed)
    twin = torch_twin.build(model.get_config())
    torch_twin.copy_weights(model, twin)
    opt = torch_twin.make_optimizer(
        twin, config.optimizer, config.lr, config.momentum, config.weight_decay, config.betas
    )
    schedule = config.lr_schedule()  # the schedule digitnet's fit uses
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
            digitnet_momentum=config.optimizer in ("momentum", "nesterov"),
            augment=augment,
        )
        seconds += r["seconds"]
    x = torch.from_numpy(data.test.images).to(torch.float32).div_(255.0).view(-1, *twin.input_shape)
    return torch_twin.accuracy(twin, x, data.test.labels), seconds


#: the anchor's input normalisation (torchvision's MNIST mean and std, as in its notebook)
ANCHOR_MEAN, ANCHOR_STD = 0.1307, 0.3081


def anchor_run(data, seed: int, batch: int = 256, lr: float = 0.01) -> tuple[float, float]:
    """tuomaso/train_mnist_fast's one-epoch recipe (8_Final_00s76.ipynb) in PyTorch, on all
    60,000 training digits; (test accuracy, seconds of training)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.manual_seed(seed)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(1, 24, 5, 1), nn.Conv2d(24, 32, 3, 1)
            self.fc1, self.fc2 = nn.Linear(800, 256), nn.Linear(256, 10)

        def forward(self, x):
            x = F.relu(F.max_pool2d(self.conv1(x), 2))
            x = F.relu(F.max_pool2d(self.conv2(x), 2))
            x = F.relu(self.fc1(torch.flatten(x, 1)))
            return F.log_softmax(self.fc2(x), dim=1)

    def prepare(images):
        x = torch.from_numpy(np.array(images)).to(torch.float32).div_(255.0)
        return ((x - ANCHOR_MEAN) / ANCHOR_STD).unsqueeze(1)

    images = np.concatenate([data.train.images, data.val.images])
    labels = np.concatenate([data.train.labels, data.val.labels]).astype(np.int64)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    x_train, y_train = prepare(images)[order], torch.from_numpy(labels)[order]
    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=lr, betas=(0.7, 0.9))
    steps = (len(y_train) - 1) // batch + 1
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=steps, cycle_momentum=False
    )
    start = time.perf_counter()
    net.train()
    for i in range(steps):
        xb, yb = x_train[i * batch : (i + 1) * batch], y_train[i * batch : (i + 1) * batch]
        opt.zero_grad()
        F.nll_loss(net(xb), yb).backward()
        opt.step()
        sched.step()
    seconds = time.perf_counter() - start
    net.eval()
    with torch.inference_mode():
        pred = net(prepare(data.test.images)).argmax(1).numpy()
    return float((pred == np.asarray(data.test.labels)).mean()), seconds


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


#: issue 28's goals per recipe: (mean accuracy, minimum accuracy or None, time / anchor)
GOALS = {
    "fast-99": (0.99, 0.9885, 0.65),
    "fast-995": (0.995, None, 4.0),
    "fast-996": (0.996, None, 10.0),
}


def summary(name: str, ours: list, theirs: list, anchor_s: float) -> str:
    """One row of the table: accuracies as mean / min, median seconds and the ratios."""
    a = np.array([o[0] for o in ours])
    t = statistics.median(o[1] for o in ours)
    cells = [f"`{name}`", f"{a.mean():.2%} / {a.min():.2%}", f"{t:.1f}"]
    if theirs:
        b = np.array([o[0] for o in theirs])
        u = statistics.median(o[1] for o in theirs)
        ratio = statistics.median(o[1] / p[1] for o, p in zip(ours, theirs, strict=True))
        cells += [f"{b.mean():.2%} / {b.min():.2%}", f"{u:.1f}", f"{ratio:.2f}"]
    else:
        cells += ["-", "-", "-"]
    cells.append(f"{t / anchor_s:.2f}")
    return "| " + " | ".join(cells) + " |"


def goals(name: str, ours: list, theirs: list, anchor_s: float) -> list[str]:
    """Each goal of the recipe: met or missed, with the measured figure."""
    if name not in GOALS:
        return []
    mean_goal, min_goal, time_goal = GOALS[name]
    a = np.array([o[0] for o in ours])
    t = statistics.median(o[1] for o in ours)
    out = [
        f"{name}: mean {a.mean():.2%} (goal >= {mean_goal:.1%}): "
        + ("met" if a.mean() >= mean_goal else "MISSED")
    ]
    if min_goal is not None:
        out.append(
            f"{name}: min {a.min():.2%} (goal >= {min_goal:.2%}): "
            + ("met" if a.min() >= min_goal else "MISSED")
        )
    out.append(
        f"{name}: {t / anchor_s:.2f}x the anchor (goal <= {time_goal}x): "
        + ("met" if t / anchor_s <= time_goal else "MISSED")
    )
    if theirs:
        ratio = statistics.median(o[1] / p[1] for o, p in zip(ours, theirs, strict=True))
        out.append(
            f"{name}: {ratio:.2f}x PyTorch on the same recipe (goal <= 1.0x): "
            + ("met" if ratio <= 1.0 else "MISSED")
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("DIGITNET_DATA_DIR"))
    parser.add_argument("--recipes", default="fast-99,fast-995,fast-996")
    parser.add_argument(
        "--torch-recipes", help="replay only these recipes in PyTorch (default: all of them)"
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--kernels",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the convolution kernel benchmark (conv_kernels.py) at the end",
    )
    parser.add_argument("--kernel-rounds", type=int, default=7)
    parser.add_argument("--canonical-seeds", type=int, default=0)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import torch

    from digitnet.data import load_mnist
    from digitnet.nn.runtime import set_threads

    torch.set_num_threads(args.threads)
    set_threads(args.threads)
    recipes = args.recipes.split(",")
    replayed = set(args.torch_recipes.split(",") if args.torch_recipes else recipes)
    print(f"{args.threads} threads; load average {load():.2f} at the start", flush=True)
    data = load_mnist(args.data_dir)
    anchor: list[tuple[float, float]] = []
    ours: dict[str, list] = {r: [] for r in recipes}
    theirs: dict[str, list] = {r: [] for r in recipes}
    for seed in range(args.seeds):
        anchor.append(anchor_run(data, seed))
        print(
            f"seed {seed}: anchor (PyTorch, 60k, 1 epoch) {anchor[-1][0]:.2%} in "
            f"{anchor[-1][1]:.1f} s (load {load():.2f})",
            flush=True,
        )
        for name in recipes:
            ours[name].append(digitnet_run(name, data, seed))
            line = f"seed {seed}: {name} digitnet {ours[name][-1][0]:.2%} in "
            line += f"{ours[name][-1][1]:.1f} s (load {load():.2f})"
            if name in replayed:
                theirs[name].append(torch_run(name, data, seed))
                line += f"; PyTorch {theirs[name][-1][0]:.2%} in {theirs[name][-1][1]:.1f} s"
                line += f" (load {load():.2f})"
            print(line, flush=True)
    accs = np.array([a[0] for a in anchor])
    anchor_s = statistics.median(a[1] for a in anchor)
    print(
        f"\nanchor (tuomaso/train_mnist_fast's one-epoch recipe in PyTorch): "
        f"{accs.mean():.2%} mean / {accs.min():.2%} min test accuracy, median {anchor_s:.1f} s"
    )
    print(
        "\n| recipe | digitnet test, mean / min | digitnet median s | PyTorch same recipe, "
        "mean / min | PyTorch median s | digitnet / PyTorch | digitnet / anchor |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in recipes:
        print(summary(name, ours[name], theirs[name], anchor_s))
    print()
    for name in recipes:
        for line in goals(name, ours[name], theirs[name], anchor_s):
            print(line)
    print(f"load average {load():.2f} at the end of the recipes", flush=True)
    if args.canonical_seeds:
        canon = [canonical_run(data, s) for s in range(args.canonical_seeds)]
        print(
            f"PyTorch canonical example: 99.0% reached after {[c[2] for c in canon]} epochs, "
            f"median {statistics.median(c[1] for c in canon):.1f} s of training"
        )
    if args.kernels:
        import conv_kernels

        print(f"\nconvolution kernels (load average {load():.2f} at the start):", flush=True)
        rows = conv_kernels.run(recipes, [128, 256], args.kernel_rounds, 10)
        print(conv_kernels.table(rows))
        print(f"load average {load():.2f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
