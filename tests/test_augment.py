"""Augmentation: exact known transforms, seeding, value range and shape handling."""

from __future__ import annotations

import numpy as np
import pytest

from digitnet.data.augment import (
    Augmenter,
    bilinear_sample,
    binomial_smooth,
    gaussian_matrix,
    neighbourhood,
)


def digit_like(b=4, seed=0):
    rng = np.random.default_rng(seed)
    x = np.zeros((b, 28, 28), np.float32)
    x[:, 6:22, 10:18] = rng.random((b, 16, 8), dtype=np.float32)
    return x


def test_no_distortion_is_identity():
    x = digit_like()
    assert np.array_equal(Augmenter(rng=np.random.default_rng(0))(x), x)


def test_integer_shift_moves_pixels_exactly():
    x = digit_like(1)
    aug = Augmenter(shift=3, rng=np.random.default_rng(0))
    coords = aug._grid + aug._centre - np.array([2.0, -1.0], np.float32)  # shift (2, -1)
    out = bilinear_sample(x, coords[None]).reshape(1, 28, 28)
    assert np.array_equal(out[0, 2:, :27], x[0, :-2, 1:])  # moved down 2, left 1
    assert np.all(out[0, :2] == 0) and np.all(out[0, :, 27] == 0)


def test_rotation_by_90_degrees_is_exact():
    x = digit_like(2)
    aug = Augmenter(rotate=90, rng=np.random.default_rng(0))
    aug.rng = _FixedUniform([1.0, 0.0, 0.0, 0.0, 0.0])  # theta = +90 degrees
    out = aug(x)
    # rows point down, so a positive angle turns the picture clockwise on screen
    expected = np.stack([np.rot90(img, k=-1) for img in x])
    assert np.allclose(out, expected, atol=1e-5)


class _FixedUniform:
    """A stand-in generator whose uniform draws are fixed (to test one exact transform)."""

    def __init__(self, values):
        self.values = np.asarray(values, np.float32)

    def uniform(self, low, high, size):
        return np.broadcast_to(self.values, size).copy()


def test_seeded_and_random_per_image():
    x = np.repeat(digit_like(1), 6, axis=0)
    kw = dict(rotate=15, shift=2, scale=0.1, shear=10, elastic_alpha=30, elastic_sigma=4)
    a = Augmenter(**kw, rng=np.random.default_rng(3))(x)
    b = Augmenter(**kw, rng=np.random.default_rng(3))(x)
    c = Augmenter(**kw, rng=np.random.default_rng(4))(x)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert len({a[i].tobytes() for i in range(6)}) == 6  # each image its own draw
    assert a.min() >= 0 and a.max() <= 1.0 + 1e-6  # a convex combination
    assert a.dtype == np.float32


def test_keeps_layout_of_model_inputs():
    x = digit_like(3)
    aug = Augmenter(rotate=10, rng=np.random.default_rng(0))
    assert aug(x.reshape(3, 1, 28, 28)).shape == (3, 1, 28, 28)
    assert aug(x.reshape(3, 28, 28, 1)).shape == (3, 28, 28, 1)


def test_elastic_field_is_smooth_and_scaled():
    aug = Augmenter(elastic_alpha=34, elastic_sigma=4, rng=np.random.default_rng(0))
    field = aug._elastic_field(64)  # (B, H, W, 2)
    assert field.shape == (64, 28, 28, 2)
    neighbour = np.abs(np.diff(field, axis=1)).mean()
    assert neighbour < 0.2 * np.abs(field).mean()  # smooth, not white noise
    assert 0.3 < np.abs(field[:, 8:20, 8:20]).mean() < 3.0  # pixels, not 0 nor 34


def test_gaussian_matrix_rows_sum_to_one_inside():
    g = gaussian_matrix(28, 2.0)
    assert np.allclose(g[10:18].sum(axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize(
    "bad",
    [
        dict(rotate=-1),
        dict(shift="2"),
        dict(scale=1.5),
        dict(elastic_sigma=0),
        dict(stroke=1.5),
        dict(blur=-0.1),
    ],
)
def test_rejects_bad_strengths(bad):
    with pytest.raises(ValueError, match="got"):
        Augmenter(**bad)


def test_preview_puts_each_original_before_its_distortions():
    from digitnet.data.augment import preview

    x = (digit_like(3) * 255).astype(np.uint8)
    grid = preview(x, Augmenter(rotate=10, rng=np.random.default_rng(0)), per_image=4)
    assert grid.shape == (3, 5, 28, 28) and grid.dtype == np.float32
    assert np.array_equal(grid[:, 0], x / np.float32(255))
    assert not np.array_equal(grid[:, 1], grid[:, 0])


@pytest.mark.mnist
def test_augment_preview_command_writes_a_png(mnist_dir, tmp_path):
    from PIL import Image

    from digitnet.apps.cli import main

    out = tmp_path / "aug.png"
    assert (
        main(
            [
                "augment-preview",
                "--preset",
                "cnn",
                "--count",
                "3",
                "--per-image",
                "4",
                "--data-dir",
                str(mnist_dir),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    with Image.open(out) as img:
        assert img.format == "PNG" and img.width > 300 and img.height > 200
    assert [p.name for p in tmp_path.iterdir()] == ["aug.png"]


def test_preview_title_names_only_the_distortions_in_use():
    from digitnet.report.figures import plot_augment_preview

    grid = np.zeros((2, 3, 28, 28), dtype=np.float32)
    off = Augmenter(rotate=10, shift=2, rng=np.random.default_rng(0)).config()
    assert off["elastic_sigma"]  # the default smoothing, unused without alpha
    title = plot_augment_preview(grid, off).axes[0].get_title()
    assert "rotate 10" in title and "shift 2" in title and "elastic" not in title
    on = Augmenter(elastic_alpha=30, elastic_sigma=5, rng=np.random.default_rng(0)).config()
    title = plot_augment_preview(grid, on).axes[0].get_title()
    assert "elastic_alpha 30" in title and "elastic_sigma 5" in title
    none = plot_augment_preview(grid, Augmenter(rng=np.random.default_rng(0)).config())
    assert none.axes[0].get_title().endswith("no distortion")


def _loop_neighbourhood(x, op):
    """Slow reference: op over each pixel's 3x3 neighbourhood, zero outside."""
    b, h, w = x.shape
    p = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    out = np.empty_like(x)
    for i in range(h):
        for j in range(w):
            out[:, i, j] = op(p[:, i : i + 3, j : j + 3].reshape(b, 9), axis=1)
    return out


def test_neighbourhood_and_smoothing_match_loops():
    x = digit_like(3)
    assert np.array_equal(neighbourhood(x, np.maximum), _loop_neighbourhood(x, np.max))
    assert np.array_equal(neighbourhood(x, np.minimum), _loop_neighbourhood(x, np.min))
    k = np.outer([1, 2, 1], [1, 2, 1]) / 16
    p = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    ref = np.stack(
        [
            [[(p[n, i : i + 3, j : j + 3] * k).sum() for j in range(28)] for i in range(28)]
            for n in range(3)
        ]
    )
    assert np.allclose(binomial_smooth(x), ref, atol=1e-6)


def test_stroke_width_changes_the_ink_both_ways_and_blur_keeps_it():
    x = np.zeros((400, 28, 28), np.float32)
    x[:, 6:22, 12:15] = 1.0  # a 3 px wide bar
    aug = Augmenter(stroke=0.4, rng=np.random.default_rng(0))
    ratio = aug(x).sum(axis=(1, 2)) / x[0].sum()
    # thinner: the bar loses its 2 edge columns and 2 end rows at most 40%; thicker: gains
    # its 2 neighbour columns and rows (and corners) at most 40%
    assert ratio.min() < 0.85 and ratio.max() > 1.2
    assert ratio.min() >= 1 - 0.4 * (1 - 14 / 48) - 1e-5
    assert ratio.max() <= 1 + 0.4 * (90 - 48) / 48 + 1e-5
    blurred = Augmenter(blur=1.0, rng=np.random.default_rng(0))(x)
    assert np.allclose(blurred.sum(axis=(1, 2)), x[0].sum(), rtol=1e-5)  # away from edges
    assert (blurred[:, 14, 11] > 0).mean() > 0.9  # ink spread to the side


def test_stroke_and_blur_off_leave_the_affine_stream_unchanged():
    """Older settings (no stroke, no blur) give the same distortions as before they existed,
    and their config has no new keys (model files stay as they were)."""
    x = digit_like(8)
    a = Augmenter(rotate=10, shift=2, rng=np.random.default_rng(5))
    b = Augmenter(rotate=10, shift=2, stroke=0.0, blur=0.0, rng=np.random.default_rng(5))
    assert np.array_equal(a(x), b(x))
    assert "stroke" not in a.config()
    assert Augmenter(stroke=0.3).config()["stroke"] == 0.3


def test_noise_reaches_half_the_images_within_its_strength():
    """noise=s: about half the batch gets Gaussian noise of a std up to s (clipped to the
    pixel range), the rest stays as the geometry left it; off, nothing changes."""
    x = np.full((2000, 28, 28), 0.5, np.float32)  # no clipping at std <= 0.4
    out = Augmenter(noise=0.4, rng=np.random.default_rng(0))(x)
    std = out.reshape(2000, -1).std(axis=1)
    assert 0.45 < (std > 1e-6).mean() < 0.55
    assert std.max() < 0.4 * 1.15 and np.percentile(std[std > 1e-6], 90) > 0.3
    assert out.min() >= 0 and out.max() <= 1 and out.dtype == np.float32
    assert np.array_equal(out[std <= 1e-6], x[std <= 1e-6])
    assert "noise" not in Augmenter(rotate=3).config()
    assert Augmenter(noise=0.2).config()["noise"] == 0.2
    with pytest.raises(ValueError, match="noise"):
        Augmenter(noise=1.5)


def test_fill_stretches_the_narrow_side_to_the_long_one():
    """fill=1: every image is stretched about its ink box towards a square (all the way on
    about half of them, by a random fraction on the rest), never past 4x."""
    x = np.zeros((400, 28, 28), np.float32)
    x[:, 4:24, 12:16] = 1.0  # ink 20 tall, 4 wide
    out = Augmenter(fill=1.0, rng=np.random.default_rng(0))(x)
    widths = (out > 0.5).any(axis=1).sum(axis=1)
    heights = (out > 0.5).any(axis=2).sum(axis=1)
    assert np.all(heights == 20)  # the long side stays
    assert np.all(widths >= 4) and np.all(widths <= 17)  # 4 px x at most 4
    assert (widths >= 15).mean() > 0.4  # stretched all the way (4x) on about half
    assert (
        "fill" not in Augmenter(rotate=3).config() and Augmenter(fill=0.3).config()["fill"] == 0.3
    )


def test_coarse_rescans_in_black_and_white_at_a_lower_resolution():
    x = digit_like(200)
    a = Augmenter(coarse=1.0, rng=np.random.default_rng(1))
    out = a(x)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    assert not np.array_equal(out, x)
    # an image made of a few blocks of 0 and 1: bilinear enlargement of a binary grid takes
    # at most 4 distinct weights per pixel, so far fewer grey levels than the random input
    assert all(len(np.unique(img)) < len(np.unique(orig)) for img, orig in zip(out, x, strict=True))
    off = Augmenter(rotate=5, rng=np.random.default_rng(2))(x)
    same = Augmenter(rotate=5, fill=0.0, coarse=0.0, rng=np.random.default_rng(2))(x)
    assert np.array_equal(off, same)  # off, the older settings' stream is unchanged


def test_area_and_bilinear_matrices_are_the_obvious_resamplings():
    from digitnet.data.augment import area_matrix, bilinear_matrix

    a = area_matrix(4, 2)
    assert np.allclose(a, [[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]])
    assert np.allclose(area_matrix(3, 2), [[2 / 3, 1 / 3, 0], [0, 1 / 3, 2 / 3]])
    b = bilinear_matrix(2, 4)  # centres at 0.25, 0.75, 1.25, 1.75 in input pixels - 0.5
    assert np.allclose(b @ np.array([0.0, 1.0]), [0.0, 0.25, 0.75, 1.0])


def test_bilinear_sampling_in_blocks_on_threads_equals_one_pass(monkeypatch):
    """bilinear_sample works in blocks of images split over threads; every value must be
    the one a single whole-batch pass gives, to the bit (training runs are reproduced bit
    for bit), with blocks and parts that do not divide the batch evenly."""
    from digitnet.data import augment
    from digitnet.nn.runtime import parallel

    rng = np.random.default_rng(3)
    images = rng.random((23, 28, 28), dtype=np.float32)
    coords = Augmenter(rotate=15, shift=3, scale=0.2, shear=5, elastic_alpha=8, rng=rng)
    coords = coords.sample_coordinates(23)
    coords[0, :5] = [[-40.0, 3.0], [3.0, 60.0], [27.5, 27.5], [-0.5, -0.5], [0.0, 27.0]]
    padded = np.zeros((23, 30, 30), np.float32)
    padded[:, 1:-1, 1:-1] = images
    one_pass = augment._sample_block(padded, coords, 28, 28)
    monkeypatch.setenv("DIGITNET_THREADS", "3")
    monkeypatch.setattr(parallel, "MIN_ELEMENTS", 1)
    monkeypatch.setattr(augment, "SAMPLE_BLOCK", 4)
    split = bilinear_sample(images, coords)
    assert split.dtype == np.float32 and np.array_equal(split, one_pass)
