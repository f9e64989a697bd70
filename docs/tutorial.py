# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Tutorial: a digit recogniser, step by step
#
# This notebook builds the classic 784-128-10 network from `digitnet.nn` layers, checks one
# forward and backward pass by hand against the engine, gradient-checks a layer, trains it
# with a live loss plot, and reads a digit drawn on the spot. Every number below is computed
# when the notebook runs (the site runs it at build time, CI runs it on every change).
#
# It is a [Jupytext](https://jupytext.readthedocs.io) script: open `docs/tutorial.py` in
# Jupyter as a notebook, or run it with `python docs/tutorial.py`. It uses a subset of MNIST
# so that it runs in seconds: set `DIGITNET_TUTORIAL_SUBSET` (training images, default
# 10,000) to use more. Without the MNIST files (and without a network to download them) it
# falls back to scikit-learn's 1,797 real handwritten digits, upscaled to 28x28.

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

from digitnet import nn
from digitnet.data import load_digits_28, load_mnist, to_input

SUBSET = int(os.environ.get("DIGITNET_TUTORIAL_SUBSET", "10000"))
rng = np.random.default_rng(0)

try:
    mnist = load_mnist(download=False)     # --data-dir, $DIGITNET_DATA_DIR or the cache
    train_images, train_labels = mnist.train.images[:SUBSET], mnist.train.labels[:SUBSET]
    test_images, test_labels = mnist.test.images[:2000], mnist.test.labels[:2000]
    source = "MNIST"
except Exception as exc:                   # no MNIST files here: scikit-learn's digits
    print(f"MNIST not available ({type(exc).__name__}); using scikit-learn's load_digits")
    images, labels = load_digits_28()
    order = rng.permutation(len(images))
    cut = min(SUBSET, len(images) - 300)
    train_images, train_labels = images[order[:cut]], labels[order[:cut]]
    test_images, test_labels = images[order[-300:]], labels[order[-300:]]
    source = "load_digits"

print(f"{source}: {len(train_images)} training and {len(test_images)} test images, "
      f"{train_images.shape[1:]} {train_images.dtype}")

# %% [markdown]
# The images are 28x28 `uint8`, 0 = background, 255 = ink. Sixteen of them:

# %%
fig, axes = plt.subplots(2, 8, figsize=(8, 2.3))
for ax, img, label in zip(axes.ravel(), train_images, train_labels, strict=False):
    ax.imshow(img, cmap="gray")
    ax.set_title(str(label))
    ax.axis("off")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## The network
#
# The network sees each image as `x / 255` in float32 (`to_input`, the one preprocessing
# step of every digitnet model), flattened to 784 numbers, then a dense layer of 128 units,
# a ReLU, and a dense layer of 10 units whose outputs are the logits of the ten digits.

# %%
x_train = to_input(train_images)           # (N, 28, 28, 1) float32 in [0, 1]
x_test = to_input(test_images)
model = nn.Sequential([nn.Flatten(), nn.Dense(128), nn.ReLU(), nn.Dense(10)],
                      input_shape=(28, 28, 1), rng=np.random.default_rng(0))
print(model.summary())

# %% [markdown]
# ## One forward and backward pass, by hand
#
# The equations of [How it works](how-it-works/dense.md), written out in NumPy for a batch of
# 32 images, then compared with what the engine computes:
#
# - forward: $z_1 = x W_1 + b_1$, $a_1 = \max(0, z_1)$, $z_2 = a_1 W_2 + b_2$,
#   $p = \mathrm{softmax}(z_2)$, $L = -\frac{1}{N}\sum_n \log p_{n, y_n}$;
# - backward: $\delta z_2 = (p - t)/N$, $\delta W_2 = a_1^\top \delta z_2$,
#   $\delta b_2 = \sum_n \delta z_2$, $\delta a_1 = \delta z_2 W_2^\top$,
#   $\delta z_1 = \delta a_1 \odot [z_1 > 0]$, $\delta W_1 = x^\top \delta z_1$,
#   $\delta b_1 = \sum_n \delta z_1$.

# %%
xb, yb = x_train[:32], train_labels[:32]
dense1, dense2 = model.layers[1], model.layers[3]
W1, b1 = dense1.params["W"], dense1.params["b"]
W2, b2 = dense2.params["W"], dense2.params["b"]

x = xb.reshape(len(xb), -1)                                    # (32, 784)
z1 = x @ W1 + b1                                               # (32, 128)
a1 = np.maximum(0, z1)
z2 = a1 @ W2 + b2                                              # (32, 10)
p = np.exp(z2 - z2.max(axis=1, keepdims=True))
p /= p.sum(axis=1, keepdims=True)
t = np.eye(10)[yb]                                             # one-hot targets
loss = -np.mean(np.log(p[np.arange(len(yb)), yb]))

dz2 = (p - t) / len(yb)
grads_by_hand = {"W2": a1.T @ dz2, "b2": dz2.sum(axis=0)}
da1 = dz2 @ W2.T
dz1 = da1 * (z1 > 0)
grads_by_hand.update(W1=x.T @ dz1, b1=dz1.sum(axis=0))

logits = model.forward(xb, training=True)                      # the engine
engine_loss, dlogits = nn.softmax_cross_entropy(logits, yb)
model.backward(dlogits)
engine_grads = {"W1": dense1.grads["W"], "b1": dense1.grads["b"],
                "W2": dense2.grads["W"], "b2": dense2.grads["b"]}

print(f"loss by hand {loss:.6f}, engine {engine_loss:.6f}")
for name, g in grads_by_hand.items():
    diff = np.abs(g - engine_grads[name]).max()
    print(f"d{name}: max |by hand - engine| = {diff:.2e}")
    assert diff < 1e-6, name
assert abs(loss - engine_loss) < 1e-5

# %% [markdown]
# The differences are float32 rounding: the engine computes the same products in the same
# shapes. (Before training, the loss is near $\log 10 \approx 2.30$: ten equally likely
# classes.)
#
# ## Gradient check
#
# A backward pass is a hand-derived formula; the check compares it with central differences
# $\frac{f(x + h e_i) - f(x - h e_i)}{2h}$ of the layer's output, in float64. Relative errors
# around $10^{-9}$ mean the formula is right; a wrong index would give $10^{-2}$ or more.

# %%
from digitnet.nn.gradcheck import check_layer  # noqa: E402  (a notebook imports as it goes)

layer = nn.Dense(5)
layer.build((8,), np.random.default_rng(1), np.float64)
errors = check_layer(layer, np.random.default_rng(2).standard_normal((4, 8)))
print({k: f"{v:.1e}" for k, v in errors.items()})
assert max(errors.values()) < 1e-6

# %% [markdown]
# ## Training, with a live loss plot
#
# Mini-batches of 64, Nesterov momentum with learning rate 0.1, a few epochs. The plot is
# redrawn as training goes (in Jupyter you watch it move; on this page you see its last
# state): the loss of each mini-batch, and its running mean.

# %%
EPOCHS, BATCH = 5, 64
params = list(model.named_parameters())
opt = nn.make_optimizer("nesterov", params, lr=0.1, momentum=0.9,
                        flat=model.flat_buffers())
losses, accuracies = [], []
fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.2))
handle = display(fig, display_id=True)
start = time.perf_counter()
for epoch in range(EPOCHS):
    order = rng.permutation(len(x_train))
    for i in range(0, len(order), BATCH):
        idx = order[i:i + BATCH]
        logits = model.forward(x_train[idx], training=True)
        loss, dlogits = nn.softmax_cross_entropy(logits, train_labels[idx])
        model.backward(dlogits)
        opt.step()
        losses.append(loss)
    accuracies.append(np.mean(model.predict(x_test) == test_labels))
    ax_loss.clear()
    ax_loss.plot(losses, lw=0.5, alpha=0.5, label="mini-batch")
    window = min(20, len(losses))
    smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
    ax_loss.plot(np.arange(window - 1, len(losses)), smooth, label="running mean")
    ax_loss.set(xlabel="step", ylabel="cross-entropy", yscale="log", title="training loss")
    ax_loss.legend()
    ax_acc.clear()
    ax_acc.plot(range(1, epoch + 2), accuracies, "o-")
    ax_acc.set(xlabel="epoch", ylabel="test accuracy", title="accuracy on held-out images")
    fig.tight_layout()
    if handle is not None:                 # None outside Jupyter (python docs/tutorial.py)
        handle.update(fig)
plt.close(fig)
print(f"{EPOCHS} epochs in {time.perf_counter() - start:.1f} s; "
      f"test accuracy {accuracies[-1]:.2%} on {len(test_labels)} images")

# %% [markdown]
# ## Where it goes wrong: the confusion matrix
#
# Row: the true digit; column: what the network read. The diagonal is right; the largest
# numbers off it are the pairs it confuses.

# %%
predicted = model.predict(x_test)
confusion = np.zeros((10, 10), dtype=int)
np.add.at(confusion, (test_labels, predicted), 1)
fig, ax = plt.subplots(figsize=(4.6, 4.2))
ax.imshow(confusion, cmap="Blues")
for (i, j), n in np.ndenumerate(confusion):
    if n:
        ax.text(j, i, n, ha="center", va="center", fontsize=7,
                color="white" if n > confusion.max() / 2 else "black")
ax.set(xticks=range(10), yticks=range(10), xlabel="read as", ylabel="true digit",
       title="confusion matrix")
plt.show()
off = confusion - np.diag(np.diag(confusion))
i, j = np.unravel_index(off.argmax(), off.shape)
print(f"most frequent mistake: {i} read as {j} ({off[i, j]} times)")

# %% [markdown]
# ## What the first layer learnt
#
# Each of the 128 units of the first dense layer has 784 weights, one per pixel: shown as a
# 28x28 picture, red pixels push the unit up, blue ones down. After a few epochs on a few
# thousand images they are still mostly their random start, with what was learnt showing
# through as smooth blobs and strokes in the middle, where digits have ink. Near the edges,
# where no digit ever has ink, the pixel is always 0, so by $\delta W_1 = x^\top \delta z_1$
# those weights get no gradient at all: they keep their random initial values for ever.

# %%
W1 = model.layers[1].params["W"]                               # (784, 128)
fig, axes = plt.subplots(4, 8, figsize=(8, 4.2))
for unit, ax in enumerate(axes.ravel()):
    w = W1[:, unit].reshape(28, 28)
    lim = np.abs(w).max()
    ax.imshow(w, cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax.axis("off")
fig.suptitle("the first 32 units of the first layer")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Read a digit you draw or load
#
# A digit drawn here with Pillow (set `DIGIT_IMAGE` to the path of a photo or scan of your
# own to read that instead). `to_mnist` makes it look like an MNIST digit (ink found,
# cropped, scaled into 20x20, placed by its centre of mass: see
# [Reading a photo](how-it-works/reading.md)); the network then gives ten probabilities.

# %%
from PIL import Image, ImageDraw  # noqa: E402

from digitnet.reading import to_mnist  # noqa: E402

path = os.environ.get("DIGIT_IMAGE")
if path:
    drawing = Image.open(path)
else:                                                          # a 7, dark ink on paper
    drawing = Image.new("L", (200, 240), 235)
    pen = ImageDraw.Draw(drawing)
    pen.line([(45, 50), (155, 45), (95, 200)], fill=30, width=14, joint="curve")
    pen.line([(80, 125), (140, 120)], fill=30, width=12)

digit = to_mnist(drawing)                                      # (28, 28) uint8
proba = model.predict_proba(to_input(digit[None]))[0]
fig, axes = plt.subplots(1, 3, figsize=(9, 2.8), gridspec_kw={"width_ratios": [1, 1, 2]})
axes[0].imshow(drawing, cmap="gray")
axes[0].set_title("the drawing")
axes[1].imshow(digit, cmap="gray")
axes[1].set_title("what the network sees")
for ax in axes[:2]:
    ax.axis("off")
axes[2].bar(range(10), proba)
axes[2].set(xticks=range(10), ylim=(0, 1), title=f"read as {proba.argmax()} "
            f"({proba.max():.0%})")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Where next
#
# - [How it works](how-it-works/index.md): every layer's maths beside its code, then
#   convolutions, batch norm and the optimisers that take this network from about 97% to
#   99.66%.
# - `digitnet train` trains the default convolutional network on all of MNIST in about a
#   minute; `digitnet serve` reads what you draw in a browser.
