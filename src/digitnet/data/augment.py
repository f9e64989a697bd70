"""On-the-fly data augmentation: random affine transforms (rotation, scaling, shear, shift)
and elastic distortions (Simard, Steinkraus & Platt 2003), applied to a whole mini-batch at
once with bilinear resampling; optionally thinner or thicker strokes and blur (another pen,
a camera out of focus).

Every image gets its own random transform; all of them are computed together as array
operations (no loop over images or pixels), drawing from the generator the trainer passes in,
so a seed reproduces them exactly.
"""

from __future__ import annotations

import math

import numpy as np

IMAGE_SHAPE = (28, 28)


def gaussian_matrix(n: int, sigma: float) -> np.ndarray:
    """(n, n) matrix G with G @ v = v convolved with a normalised Gaussian of std ``sigma``
    (zero padding, kernel truncated at 4 sigma), so G @ F @ G.T smooths a 2-D field F."""
    idx = np.arange(n)
    d = idx[:, None] - idx[None, :]
    radius = max(1, int(math.ceil(4 * sigma)))
    k = np.exp(-0.5 * (d / sigma) ** 2) * (np.abs(d) <= radius)
    full = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2).sum()
    return (k / full).astype(np.float32)


class Augmenter:
    """Random distortions of a batch of images.

    Parameters
    ----------
    rotate : float
        Maximum rotation in degrees (uniform in [-rotate, rotate]).
    shift : float
        Maximum translation in pixels along each axis.
    scale : float
        Maximum relative zoom: the factor is uniform in [1 - scale, 1 + scale].
    shear : float
        Maximum shear angle in degrees.
    elastic_alpha : float
        Strength of the elastic distortion in pixels (Simard et al. use 34 with sigma 4);
        0 turns it off.
    elastic_sigma : float
        Smoothness (std in pixels) of the random displacement field.
    stroke : float
        Maximum change of the stroke width: each image is blended by a fraction uniform in
        [-stroke, stroke] towards its 3x3 grey erosion (negative: thinner) or dilation
        (positive: thicker). 0.4 spans about 0.65 to 1.4 times MNIST's ink; 0 turns it off.
    blur : float
        Maximum blur: each image is blended by a fraction uniform in [0, blur] towards its
        3x3 binomial smoothing (a Gaussian of std ~0.7 px); 0 turns it off.
    noise : float
        Maximum pixel noise: half of the images, chosen at random, get Gaussian noise of a
        standard deviation uniform in [0, noise] (pixels run 0-1), clipped to [0, 1]; the
        other half stay clean. 0 turns it off.
    fill : float
        Probability that an image is stretched so its ink fills a square box (by a random
        amount, fully on half of them): the scans that fill a fixed box whatever the
        digit's shape (semeion, NIST's forms) give a 1 the width of a 0. 0 turns it off.
    coarse : float
        Probability that an image is re-scanned coarsely: averaged down to a grid of 14-22
        pixels, thresholded at a random level (a black-and-white scan) and enlarged back
        bilinearly, as a 16x16 or 32x32 bitmap becomes after the reading's normalisation.
        0 turns it off.
    rng : np.random.Generator
        The source of randomness (the trainer's augmentation stream).
    image_shape : (int, int)
        Height and width of the images inside each example.
    """

    def __init__(
        self,
        *,
        rotate: float = 0.0,
        shift: float = 0.0,
        scale: float = 0.0,
        shear: float = 0.0,
        elastic_alpha: float = 0.0,
        elastic_sigma: float = 4.0,
        stroke: float = 0.0,
        blur: float = 0.0,
        noise: float = 0.0,
        fill: float = 0.0,
        coarse: float = 0.0,
        rng: np.random.Generator | None = None,
        image_shape: tuple[int, int] = IMAGE_SHAPE,
    ) -> None:
        for name, v, hi in (
            ("rotate", rotate, 180),
            ("shift", shift, 28),
            ("scale", scale, 0.9),
            ("shear", shear, 60),
            ("elastic_alpha", elastic_alpha, 1000),
            ("stroke", stroke, 1),
            ("blur", blur, 1),
            ("noise", noise, 1),
            ("fill", fill, 1),
            ("coarse", coarse, 1),
        ):
            if not (isinstance(v, (int, float)) and 0 <= v <= hi):
                raise ValueError(f"{name} must be a number in [0, {hi}], got {v!r}")
        if not (isinstance(elastic_sigma, (int, float)) and elastic_sigma > 0):
            raise ValueError(f"elastic_sigma must be positive, got {elastic_sigma!r}")
        self.rotate, self.shift, self.scale, self.shear = rotate, shift, scale, shear
        self.elastic_alpha, self.elastic_sigma = elastic_alpha, elastic_sigma
        self.stroke, self.blur, self.noise = stroke, blur, noise
        self.fill, self.coarse = fill, coarse
        self.rng = rng if rng is not None else np.random.default_rng()
        self.image_shape = tuple(image_shape)
        h, w = self.image_shape
        self._gh = gaussian_matrix(h, elastic_sigma)
        self._gw = gaussian_matrix(w, elastic_sigma)
        ys, xs = np.meshgrid(
            np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij"
        )
        self._centre = np.array([(h - 1) / 2, (w - 1) / 2], dtype=np.float32)
        self._grid = np.stack([ys.ravel(), xs.ravel()], axis=1) - self._centre  # (H*W, 2)

    def config(self) -> dict[str, float]:
        out = {
            "rotate": self.rotate,
            "shift": self.shift,
            "scale": self.scale,
            "shear": self.shear,
            "elastic_alpha": self.elastic_alpha,
            "elastic_sigma": self.elastic_sigma,
        }
        if self.stroke or self.blur:  # older model files never had these keys
            out.update(stroke=self.stroke, blur=self.blur)
        if self.noise:
            out["noise"] = self.noise
        if self.fill:
            out["fill"] = self.fill
        if self.coarse:
            out["coarse"] = self.coarse
        return out

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Distort a batch: (B, ...) with H*W values per example -> a new array, same shape."""
        b = x.shape[0]
        h, w = self.image_shape
        if b == 0:
            return x.copy()
        coords = self.sample_coordinates(b)  # (B, H*W, 2) source (y, x)
        if self.fill:
            coords = self.fill_box(x.reshape(b, h, w), coords)
        out = bilinear_sample(x.reshape(b, h, w), coords)  # (B, H*W)
        if self.stroke or self.blur:
            out = self.restroke(out.reshape(b, h, w))
        if self.coarse:
            out = self.rescan(out.reshape(b, h, w))
        if self.noise:
            out = self.add_noise(out.reshape(b, h * w))
        return out.reshape(x.shape)

    def fill_box(self, x: np.ndarray, coords: np.ndarray) -> np.ndarray:
        """Stretch the chosen images' ink towards a square: (B, H, W) images and their
        sampling coordinates (B, H*W, 2) -> new coordinates (B, H*W, 2).

        The ink's bounding box (pixels above 0.3) keeps its longest side; the other side is
        stretched by up to ``BOX / side`` (a random fraction of the way on half of the chosen
        images, all the way on the rest), about the box's centre, at most 4 times."""
        b = x.shape[0]
        chosen = self.rng.random(b) < self.fill
        amount = np.where(self.rng.random(b) < 0.5, self.rng.random(b), 1.0)
        if not chosen.any():
            return coords
        ink = x > 0.3
        rows, cols = ink.any(axis=2), ink.any(axis=1)  # (B, H), (B, W)
        size = np.empty((b, 2), dtype=np.float32)
        centre = np.empty((b, 2), dtype=np.float32)
        for axis, occupied in enumerate((rows, cols)):
            n = occupied.shape[1]
            first = occupied.argmax(axis=1)
            last = n - 1 - occupied[:, ::-1].argmax(axis=1)
            size[:, axis] = np.maximum(last - first + 1, 1)
            centre[:, axis] = (first + last) / 2
        longest = size.max(axis=1, keepdims=True)
        target = size + amount[:, None] * (longest - size)  # (B, 2)
        factor = np.minimum(target / size, 4.0)  # output per input px
        factor[~chosen | ~rows.any(axis=1)] = 1.0
        # an output pixel at c + d reads the input at c + d / factor (c: the box's centre)
        return centre[:, None, :] + (coords - centre[:, None, :]) / factor[:, None, :]

    def rescan(self, x: np.ndarray) -> np.ndarray:
        """Coarse black-and-white re-scan of the chosen images: (B, H, W) -> (B, H, W)."""
        b, h, w = x.shape
        chosen = np.flatnonzero(self.rng.random(b) < self.coarse)
        sizes = self.rng.integers(14, 23, size=chosen.size)
        levels = self.rng.uniform(0.25, 0.6, size=chosen.size).astype(np.float32)
        out = x.copy()
        for n in np.unique(sizes):
            pick = chosen[sizes == n]
            down_h, down_w = area_matrix(h, int(n)), area_matrix(w, int(n))  # (n, H)
            up_h, up_w = bilinear_matrix(int(n), h), bilinear_matrix(int(n), w)  # (H, n)
            small = down_h @ x[pick] @ down_w.T  # (k, n, n)
            small = (small > levels[sizes == n][:, None, None]).astype(np.float32)
            out[pick] = up_h @ small @ up_w.T
        return np.clip(out, 0.0, 1.0, out=out)

    def add_noise(self, x: np.ndarray) -> np.ndarray:
        """Gaussian pixel noise on a random half of the batch: (B, N) -> (B, N) float32."""
        b = x.shape[0]
        std = self.rng.uniform(0, self.noise, size=(b, 1)) * (self.rng.random((b, 1)) < 0.5)
        noisy = x + (std * self.rng.standard_normal(x.shape)).astype(np.float32)
        return np.clip(noisy, 0.0, 1.0, out=noisy)

    def restroke(self, x: np.ndarray) -> np.ndarray:
        """Random stroke width and blur: (B, H, W) float32 -> (B, H, W) float32."""
        b = x.shape[0]
        if self.stroke:
            t = self.rng.uniform(-self.stroke, self.stroke, size=(b, 1, 1)).astype(np.float32)
            target = np.where(t > 0, neighbourhood(x, np.maximum), neighbourhood(x, np.minimum))
            x = x + np.abs(t) * (target - x)
        if self.blur:
            t = self.rng.uniform(0, self.blur, size=(b, 1, 1)).astype(np.float32)
            x = x + t * (binomial_smooth(x) - x)
        return x

    def sample_coordinates(self, b: int) -> np.ndarray:
        """Where each output pixel reads from: (B, H*W, 2) as (row, column)."""
        rng = self.rng
        u = rng.uniform(-1.0, 1.0, size=(b, 5)).astype(np.float32)
        theta = np.deg2rad(self.rotate) * u[:, 0]
        shear = np.deg2rad(self.shear) * u[:, 1]
        zoom = 1.0 + self.scale * u[:, 2]
        cos, sin = np.cos(theta), np.sin(theta)
        # inverse map (output -> input): rotate by theta, shear, then divide by the zoom
        inv = np.empty((b, 2, 2), dtype=np.float32)
        inv[:, 0, 0] = cos
        inv[:, 0, 1] = -sin + np.tan(shear) * cos
        inv[:, 1, 0] = sin
        inv[:, 1, 1] = cos + np.tan(shear) * sin
        inv /= zoom[:, None, None]
        shift = self.shift * u[:, 3:5]  # (B, 2)
        coords = np.matmul(self._grid, inv.transpose(0, 2, 1))  # (B, H*W, 2)
        coords += self._centre - shift[:, None, :]
        if self.elastic_alpha:
            coords += self._elastic_field(b).reshape(b, -1, 2)
        return coords

    def _elastic_field(self, b: int) -> np.ndarray:
        """Smoothed random displacements (B, H, W, 2), Simard et al.: uniform in [-1, 1],
        convolved with a Gaussian of std sigma, times alpha."""
        h, w = self.image_shape
        field = self.rng.uniform(-1.0, 1.0, size=(b, 2, h, w)).astype(np.float32)
        smooth = np.matmul(np.matmul(self._gh, field), self._gw.T)  # G_h F G_w^T, per map
        smooth *= np.float32(self.elastic_alpha)
        return smooth.transpose(0, 2, 3, 1)


def neighbourhood(x: np.ndarray, op: np.ufunc) -> np.ndarray:
    """``op`` (np.maximum: grey dilation, np.minimum: erosion) over each pixel's 3x3
    neighbourhood, zero outside: (B, H, W) -> (B, H, W)."""
    _, h, w = x.shape
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    out = x.copy()
    for dy in range(3):
        for dx in range(3):
            if dy != 1 or dx != 1:
                op(out, padded[:, dy : dy + h, dx : dx + w], out=out)
    return out


def area_matrix(n: int, m: int) -> np.ndarray:
    """(m, n) matrix averaging n samples down to m (each output the mean of the input
    interval it covers, fractional overlaps weighted), so A @ v shrinks a line of pixels."""
    edges = np.linspace(0, n, m + 1)
    lo, hi = edges[:-1, None], edges[1:, None]
    px = np.arange(n)[None, :]
    overlap = np.clip(np.minimum(hi, px + 1) - np.maximum(lo, px), 0, None)
    return (overlap / overlap.sum(axis=1, keepdims=True)).astype(np.float32)


def bilinear_matrix(m: int, n: int) -> np.ndarray:
    """(n, m) matrix enlarging m samples to n by linear interpolation between pixel
    centres (edges held), so B @ v stretches a line of pixels."""
    pos = np.clip((np.arange(n) + 0.5) * m / n - 0.5, 0, m - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, m - 1)
    frac = pos - lo
    out = np.zeros((n, m), dtype=np.float32)
    out[np.arange(n), lo] += 1 - frac
    out[np.arange(n), hi] += frac
    return out


def binomial_smooth(x: np.ndarray) -> np.ndarray:
    """Separable [1, 2, 1] / 4 smoothing, zero outside: (B, H, W) -> (B, H, W) float32."""
    p = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    rows = (p[:, :-2] + 2 * p[:, 1:-1] + p[:, 2:]) * np.float32(0.25)  # (B, H, W + 2)
    return (rows[:, :, :-2] + 2 * rows[:, :, 1:-1] + rows[:, :, 2:]) * np.float32(0.25)


#: images sampled per block by :func:`bilinear_sample`: the dozen (block, P) temporaries of
#: a block stay in cache (32 x 784 pixels: 100 KB each)
SAMPLE_BLOCK = 32


def bilinear_sample(images: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Sample images at fractional positions, zero outside.

    images : (B, H, W) float; coords : (B, P, 2) (row, column) -> (B, P) float32.

    Computed in blocks of :data:`SAMPLE_BLOCK` images, split over threads
    (:func:`digitnet.nn.runtime.split`): each value comes from the same operations on the
    same numbers as in one whole-batch pass (:func:`_sample_block`), so the result is the
    same to the bit (tested); a batch of 256 took 14.8 ms of CPU in one pass.
    """
    from digitnet.nn.runtime import split

    b, h, w = images.shape
    padded = np.zeros((b, h + 2, w + 2), dtype=np.float32)  # 1-pixel zero frame
    padded[:, 1:-1, 1:-1] = images
    out = np.empty(coords.shape[:2], dtype=np.float32)

    def part(lo: int, hi: int) -> None:
        for s in range(lo, hi, SAMPLE_BLOCK):
            e = min(hi, s + SAMPLE_BLOCK)
            out[s:e] = _sample_block(padded[s:e], coords[s:e], h, w)

    split(part, b, out.size)
    return out


def _sample_block(padded: np.ndarray, coords: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear samples of zero-framed images: padded (B, H + 2, W + 2) float32, coords
    (B, P, 2) -> (B, P) float32."""
    b = padded.shape[0]
    flat = padded.reshape(-1)
    r, c = coords[..., 0], coords[..., 1]
    r0f, c0f = np.floor(r), np.floor(c)
    fr, fc = r - r0f, c - c0f  # (B, P) weights
    # padded-image indices; anything beyond the frame is clipped onto the zero frame
    r0 = r0f.astype(np.int64) + 1
    c0 = c0f.astype(np.int64) + 1
    r1 = np.clip(r0 + 1, 0, h + 1)
    c1 = np.clip(c0 + 1, 0, w + 1)
    np.clip(r0, 0, h + 1, out=r0)
    np.clip(c0, 0, w + 1, out=c0)
    stride = w + 2
    base = (np.arange(b, dtype=np.int64) * ((h + 2) * stride))[:, None]  # (B, 1)
    r0 = r0 * stride + base
    r1 = r1 * stride + base
    gr = 1 - fr
    gc = 1 - fc
    out = flat.take(r0 + c0) * (gr * gc)
    out += flat.take(r0 + c1) * (gr * fc)
    out += flat.take(r1 + c0) * (fr * gc)
    out += flat.take(r1 + c1) * (fr * fc)
    return out


def preview(images: np.ndarray, augmenter: Augmenter, per_image: int = 5) -> np.ndarray:
    """Each original followed by ``per_image`` distorted versions, for a person to look at.

    images : (K, H, W) uint8 or float in [0, 1] -> (K, 1 + per_image, H, W) float32 in [0, 1].
    """
    x = np.asarray(images, dtype=np.float32)
    if images.dtype == np.uint8:
        x = x / np.float32(255)
    k, h, w = x.shape
    repeated = np.repeat(x, per_image, axis=0)  # (K*per_image, H, W)
    distorted = augmenter(repeated).reshape(k, per_image, h, w)
    return np.concatenate([x[:, None], distorted], axis=1)
