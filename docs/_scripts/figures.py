"""Draw the pictures of docs/how-it-works/reading.md from the package's own reading code.

    PYTHONPATH=src python docs/_scripts/figures.py [--data-dir DIR]

A 4-digit number of MNIST test digits (scikit-learn's digits when MNIST is absent) is
rendered as a photo by :mod:`digitnet.data.photos` and taken through
:func:`digitnet.imaging.images.prepare` step by step; the PNGs land in docs/images/ (committed:
small, and redrawn by this script whenever the pipeline changes).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from digitnet.imaging import images as im  # noqa: E402
from digitnet.imaging.images import prepare  # noqa: E402
from digitnet.data.photos import compose_number, render_photo  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "images"
NUMBER = (3, 0, 5, 7)


def digits_for(number, data_dir):
    """One test image of each digit of ``number``, (k, 28, 28) uint8."""
    try:
        from digitnet.data import load_mnist

        test = load_mnist(data_dir).test
        images, labels = test.images, test.labels
    except Exception:                               # no MNIST here: scikit-learn's digits
        from digitnet.data import load_digits_28

        images, labels = load_digits_28()
    return np.stack([images[np.flatnonzero(labels == d)[1]] for d in number])


def panel(ax, img, title, cmap="gray", **kw):
    ax.imshow(img, cmap=cmap, interpolation="nearest", **kw)
    ax.set_title(title, fontsize=12)
    ax.set_xticks([])
    ax.set_yticks([])


def steps_figure(prep, photo):
    """The photo, the grey image with the ink bright, the background, the ink map and the
    digits found."""
    fig, axes = plt.subplots(2, 3, figsize=(11, 4.4), dpi=80)
    axes = axes.ravel()
    panel(axes[0], np.asarray(photo), "1. the photo")
    panel(axes[1], prep.grey, "2. grey, ink bright", vmin=0, vmax=1)
    panel(axes[2], prep.inkmap.background, "3. background estimate", vmin=0, vmax=1)
    panel(axes[3], prep.inkmap.ink, "4. ink map", cmap="magma", vmin=0, vmax=1)
    panel(axes[4], prep.inkmap.mask, "5. confident ink, digits")
    for seg in (prep.segments[i] for i in prep.reading()):
        axes[4].add_patch(Rectangle((seg.left - 0.5, seg.top - 0.5), seg.width, seg.height,
                                    fill=False, edgecolor="tab:orange", linewidth=1.5))
    inputs = prep.inputs(prep.reading())                 # (k, 28, 28), side by side
    strip = np.concatenate([np.pad(x, ((0, 0), (0, 4)), constant_values=128) for x in inputs],
                           axis=1)
    panel(axes[5], strip, "6. the network's 28x28 inputs")
    fig.tight_layout()
    fig.savefig(OUT / "reading-steps.png")
    plt.close(fig)


def normalise_figure(prep):
    """One digit from its crop to MNIST's 28x28: the ink cropped, the longest side scaled
    to 20 px, placed by its centre of mass."""
    index = prep.reading()[0]
    ink, mask = im.digit_crop(prep.inkmap, prep.components, prep.segments[index])
    box = im._crop_to_ink(ink)
    final = prep.inputs([index])[0]
    cy, cx = im.centre_of_mass(final.astype(np.float64))
    fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.8), dpi=80)
    panel(axes[0], ink, f"crop {ink.shape[1]}x{ink.shape[0]} px", cmap="magma")
    panel(axes[1], box, f"bounding box {box.shape[1]}x{box.shape[0]}: "
                        f"x{im.BOX / max(box.shape):.2f}", cmap="magma")
    panel(axes[2], final, "28x28, centre of mass at (14, 14)")
    axes[2].add_patch(Rectangle((3.5, 3.5), 20, 20, fill=False, edgecolor="tab:cyan",
                                linestyle="--", linewidth=1))
    axes[2].plot([cx], [cy], "+", color="tab:orange", markersize=14, markeredgewidth=2)
    fig.tight_layout()
    fig.savefig(OUT / "normalise.png")
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    rng = np.random.default_rng(args.seed)
    strip, _ = compose_number(digits_for(NUMBER, args.data_dir), rng, touching=0.0)
    photo = render_photo(strip, rng)
    prep = prepare(photo)
    steps_figure(prep, photo)
    normalise_figure(prep)
    print("wrote", ", ".join(p.name for p in sorted(OUT.glob("*.png"))))


if __name__ == "__main__":
    main()
