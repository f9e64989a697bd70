"""`digitnet.evaluation.inside`'s functions a Python user (and the page) calls: pixels as a
digit, blocks of layers, what feeds a map or a unit (checked against sums written out by
hand), the model's facts."""

from __future__ import annotations

import numpy as np
import pytest

from digitnet.errors import PixelsError
from digitnet.evaluation.inside import (
    block_ends,
    block_label,
    layer_activations,
    model_facts,
    pixels_to_digit,
    tile,
    what_feeds,
)
from digitnet.nn import BatchNorm, Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential


@pytest.fixture(scope="module")
def cnn():
    rng = np.random.default_rng(0)
    layers = [
        Conv2D(3, 3, bias=True),
        BatchNorm(),
        ReLU(),
        MaxPool2D(2),
        Flatten(),
        Dense(5),
        ReLU(),
        Dense(10),
    ]
    model = Sequential(layers, (28, 28, 1), rng)
    for layer in model.layers:  # batch norm with statistics that are not the identity
        if isinstance(layer, BatchNorm):
            layer.buffers["running_mean"][:] = [0.1, -0.2, 0.3]
            layer.buffers["running_var"][:] = [2.0, 0.5, 1.0]
    return model


@pytest.fixture(scope="module")
def image():
    x = np.zeros((28, 28), np.uint8)
    x[4:24, 12:16] = 255
    x[6:9, 8:20] = 180
    return x


def test_pixels_in_every_documented_form_and_refused_otherwise():
    x = np.arange(784).reshape(28, 28) % 256
    assert (pixels_to_digit(x.tolist()) == x).all()
    assert (pixels_to_digit(x.ravel().tolist()) == x).all()
    assert (pixels_to_digit((x / 255).tolist()) == x).all()
    for bad in ([0] * 783, [[0] * 29] * 28, [300] * 784, [-1] * 784, "zeros", [float("nan")] * 784):
        with pytest.raises(PixelsError) as err:
            pixels_to_digit(bad)
        assert err.value.code == "bad_pixels" and "\n" not in str(err.value)


def test_blocks_end_after_the_activation_and_are_named_by_their_layers(cnn, image):
    acts = layer_activations(cnn, image)
    ends = [a.index for a in block_ends(cnn, acts)]
    assert ends == [-1, 2, 3, 6, 7]  # input, conv+bn+relu, pool, dense+relu, output
    assert block_label(cnn, 2) == "Conv2D 3 3x3 + BatchNorm + ReLU"
    assert block_label(cnn, 6) == "Dense 5 + ReLU" and block_label(cnn, -1) == "input"


def test_what_feeds_a_conv_map_is_its_kernels_and_their_mean_share(cnn, image):
    f = what_feeds(cnn, image, 2, 1)  # map 1 of the conv block, asked at its ReLU
    assert (f.layer, f.kind, f.source) == (0, "conv", -1)
    w = cnn.layers[0].params["W"][:, :, 0, 1]  # (3, 3)
    assert np.allclose(f.weights[0], w)
    x = image / 255.0
    # the mean over the 26x26 output positions of sum_ij W[i, j] x[p + i, q + j]
    by_hand = np.mean([[(x[p : p + 3, q : q + 3] * w).sum() for q in range(26)] for p in range(26)])
    assert f.contributions.shape == (1,) and np.isclose(f.contributions[0], by_hand, atol=1e-5)
    assert np.isclose(f.bias, cnn.layers[0].params["b"][1])


def test_what_feeds_a_dense_unit_is_input_times_weight(cnn, image):
    acts = {a.index: a.values for a in layer_activations(cnn, image)}
    f = what_feeds(cnn, image, 6, 4)  # unit 4 of the hidden dense block
    assert (f.layer, f.kind, f.source) == (5, "dense", 3)
    pooled = acts[3]  # (13, 13, 3)
    w = cnn.layers[5].params["W"][:, 4].reshape(pooled.shape)
    assert np.allclose(f.weights, w)
    assert np.allclose(f.contributions, (pooled * w).sum(axis=(0, 1)), atol=1e-5)
    # the shares and the bias add up to the unit's value before its ReLU
    assert np.isclose(f.contributions.sum() + f.bias, acts[5][4], atol=1e-4)
    out = what_feeds(cnn, image, 7, 3)
    assert out.contributions.shape == (5,)
    assert np.isclose(out.contributions.sum() + out.bias, acts[7][3], atol=1e-4)


def test_what_feeds_a_pooled_map_and_bad_requests(cnn, image):
    f = what_feeds(cnn, image, 3, 2)
    assert (f.kind, f.source, f.weights) == ("pool", 2, None)
    with pytest.raises(PixelsError, match="no drawn layer"):
        what_feeds(cnn, image, 4, 0)  # Flatten is not drawn
    with pytest.raises(PixelsError, match="units 0 to 2"):
        what_feeds(cnn, image, 2, 3)


def test_tile_scales_each_map_to_its_own_range():
    maps = np.stack([np.zeros((2, 2)), np.arange(4.0).reshape(2, 2)], axis=-1)  # (2, 2, 2)
    t = tile(maps)
    assert t.shape == (2, 5) and t[:, :2].max() == 0 and t[:, 3:].max() == 1
    assert tile(np.arange(64.0)).shape == (2, 32)


def test_model_facts_name_the_file_not_its_folder(cnn):
    facts = model_facts(cnn, "/some/folder/mine.npz")
    assert facts["file"] == "mine.npz" and facts["convolutional"] and facts["dense"]
    assert facts["layers"][0] == "Conv2D 3 3x3" and facts["adapted"] is None
