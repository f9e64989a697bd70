"""The seed projects' way of training, written here as the baseline of the comparison: a
sigmoid network trained one example at a time.

As in the classic textbook network (Nielsen, "Neural Networks and Deep Learning", chapter 1):
layers [784, 30, 10], sigmoid everywhere, the quadratic cost, column vectors, float64,
mini-batch SGD of 10 examples whose gradients come from a Python loop that back-propagates
each example separately and sums the results. Written for this benchmark, not copied.
"""

from __future__ import annotations

import time

import numpy as np


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # 0.5 * (1 + tanh(z / 2)): the logistic function without exp overflow warnings
    return 0.5 * (1.0 + np.tanh(0.5 * z))


class PerSampleNetwork:
    """Fully connected sigmoid network trained example by example.

    Weights ``w[l]`` are (n_out, n_in) and biases ``b[l]`` (n_out, 1): activations are column
    vectors (n, 1), one example at a time.
    """

    def __init__(self, sizes: list[int], rng: np.random.Generator) -> None:
        self.sizes = list(sizes)
        self.w = [
            rng.standard_normal((n_out, n_in))
            for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
        ]
        self.b = [rng.standard_normal((n_out, 1)) for n_out in sizes[1:]]

    def output(self, a: np.ndarray) -> np.ndarray:
        """(n_in, k) columns -> (n_out, k)."""
        for w, b in zip(self.w, self.b, strict=True):
            a = _sigmoid(w @ a + b)
        return a

    def gradients(self, x: np.ndarray, y: np.ndarray):
        """Back-propagation for one example: x (784, 1), y (10, 1) one-hot -> (dw, db).

        Cost C = ||a_L - y||^2 / 2; delta_L = (a_L - y) * s'(z_L),
        delta_l = (w_{l+1}^T delta_{l+1}) * s'(z_l), dw_l = delta_l a_{l-1}^T, db_l = delta_l,
        with s'(z) = s(z) (1 - s(z)).
        """
        acts = [x]
        for w, b in zip(self.w, self.b, strict=True):
            acts.append(_sigmoid(w @ acts[-1] + b))
        a = acts[-1]
        delta = (a - y) * a * (1.0 - a)
        dw = [None] * len(self.w)
        db = [None] * len(self.b)
        for layer in range(len(self.w) - 1, -1, -1):
            db[layer] = delta
            dw[layer] = delta @ acts[layer].T
            if layer:
                a = acts[layer]
                delta = (self.w[layer].T @ delta) * a * (1.0 - a)
        return dw, db

    def train_mini_batch(self, batch: list[tuple[np.ndarray, np.ndarray]], lr: float) -> None:
        """Sum the per-example gradients in a Python loop, then one step of size lr/len."""
        sum_w = [np.zeros_like(w) for w in self.w]
        sum_b = [np.zeros_like(b) for b in self.b]
        for x, y in batch:
            dw, db = self.gradients(x, y)
            for acc, g in zip(sum_w, dw, strict=True):
                acc += g
            for acc, g in zip(sum_b, db, strict=True):
                acc += g
        step = lr / len(batch)
        for w, g in zip(self.w, sum_w, strict=True):
            w -= step * g
        for b, g in zip(self.b, sum_b, strict=True):
            b -= step * g

    def train_examples(
        self,
        data: list[tuple[np.ndarray, np.ndarray]],
        batch_size: int,
        lr: float,
        rng: np.random.Generator,
    ) -> float:
        """One shuffled pass over ``data``; returns its wall-clock seconds."""
        start = time.perf_counter()
        order = rng.permutation(len(data))
        for k in range(0, len(data), batch_size):
            self.train_mini_batch([data[i] for i in order[k : k + batch_size]], lr)
        return time.perf_counter() - start

    def accuracy(self, images: np.ndarray, labels: np.ndarray) -> float:
        x = images.reshape(len(images), -1).T / 255.0  # (784, N)
        return float((self.output(x).argmax(axis=0) == labels).mean())


def as_examples(images: np.ndarray, labels: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """uint8 (N, 28, 28) and (N,) -> the seed format: [(x (784, 1) float64, y (10, 1))].
    Done once, before timing, as the seed projects did when loading the data."""
    out = []
    for img, label in zip(images, labels, strict=True):
        y = np.zeros((10, 1))
        y[int(label)] = 1.0
        out.append((img.reshape(784, 1) / 255.0, y))
    return out
