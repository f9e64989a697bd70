"""A convolution and the 2x2 max-pool after it as one step (digitnet.nn.kernels.conv_pool):
every registered form against the loop reference through the registry, ties routed as the
max-pool routes them, the fused plan inside Sequential against the layers run one by one,
and a float64 gradient check through it."""

from __future__ import annotations

import numpy as np
import pytest

from digitnet.nn import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential, softmax_cross_entropy
from digitnet.nn import reference as ref
from digitnet.nn.conv import PooledConv2D
from digitnet.nn.gradcheck import numerical_gradient, rel_error
from digitnet.nn.kernels import conv_pool, rules
from digitnet.nn.kernels.conv_dx import ConvShape
from digitnet.nn.runtime import Buffers

CASES = [  # (N, H, W, C, filters, kernel, stride, padding); conv outputs of even size
    (3, 8, 8, 1, 4, 3, 1, 0),  # one channel: the transposed (slab) patch matrix
    (2, 10, 10, 3, 5, 3, 1, 1),  # "same" padding
    (2, 12, 10, 2, 3, (5, 3), 1, 0),  # rectangular kernel and image
    (2, 11, 11, 2, 3, 3, 2, 1),  # stride 2, padded
    (2, 12, 12, 24, 32, 3, 1, 0),  # the anchor network's second layer, few images
]


def _case(case, dtype, seed=3):
    n, h, w, c, f, k, stride, pad = case
    kh, kw = (k, k) if isinstance(k, int) else k
    ho, wo = (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1
    shape = ConvShape((n, h, w, c), (kh, kw), (stride, stride), (pad, pad), (ho, wo, f))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    W = (rng.standard_normal((kh, kw, c, f)) / np.sqrt(kh * kw * c)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    dy = rng.standard_normal((n, ho // 2, wo // 2, f)).astype(dtype)
    return shape, x, W, b, dy


def _run(form, shape, x, W, b, dy):
    fwd, bwd = conv_pool.FORMS[form]
    buf = Buffers()
    y, saved = fwd(x, W, b, shape, buf)
    y = np.array(y)  # the forward's buffer is reused
    gw, gb = np.zeros_like(W), np.zeros_like(b)
    dx = bwd(dy.copy(), W, saved, shape, buf, gw, gb, True)
    return y, dx, gw, gb


@pytest.mark.parametrize("form", sorted(conv_pool.FORMS))
@pytest.mark.parametrize("case", CASES)
def test_every_form_matches_the_loop_reference_in_float64(form, case):
    """Forward output, dx, dW and db of each registered form equal the loop convolution
    then loop max-pool (float64: agreement of the algorithms, 1e-10)."""
    shape, x, W, b, dy = _case(case, np.float64)
    y, dx, gw, gb = _run(form, shape, x, W, b, dy)
    conv = ref.conv2d_forward(x, W, b, shape.stride, shape.pad)
    ry, dconv = ref.maxpool_forward_backward(conv, dy, (2, 2), (2, 2))
    rdx, rdw, rdb = ref.conv2d_backward(x, W, dconv, shape.stride, shape.pad)
    assert y.shape == ry.shape and np.allclose(y, ry, atol=1e-10)
    assert np.allclose(dx, rdx, atol=1e-10)
    assert np.allclose(gw, rdw, atol=1e-10)
    assert np.allclose(gb, rdb, atol=1e-10)


@pytest.mark.parametrize("case", CASES)
def test_the_pooled_form_in_float32_is_the_reference_up_to_rounding(case):
    """In float32, as in training: float32 rounding only (values ~1-10; 1e-4 ~ 100 ulps)."""
    shape, x, W, b, dy = _case(case, np.float32)
    y, dx, gw, gb = _run("pooled", shape, x, W, b, dy)
    ry, rdx, rgw, rgb = _run("reference", shape, x, W, b, dy)
    assert y.dtype == dx.dtype == np.float32
    for got, want in ((y, ry), (dx, rdx), (gw, rgw), (gb, rgb)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_pool_blocks_route_ties_to_the_first_maximum():
    """Integer-valued maps full of ties and all-equal windows: the block pool's maximum and
    its backward routing equal the loop max-pool's (first maximum in row-major order),
    exactly."""
    rng = np.random.default_rng(5)
    n, h2, w2, f = 3, 4, 5, 6
    x = rng.integers(-2, 3, (n, 2 * h2, 2 * w2, f)).astype(np.float32)  # many ties
    x[0, :2, :2] = 1.0  # a window of four equal values in every channel
    dy = rng.standard_normal((n, h2, w2, f)).astype(np.float32)
    # pool order: member (a, b) of window (i, j) is x[:, 2i + a, 2j + b]
    y4 = np.stack([x[:, a::2, b::2].reshape(-1, f) for a in (0, 1) for b in (0, 1)])
    y = np.empty((n * h2 * w2, f), np.float32)
    masks = np.empty((3,) + y.shape, np.float32)
    conv_pool.pool_blocks(y4, y, masks)
    d4 = np.empty((4,) + y.shape, np.float32)
    conv_pool.unpool_blocks(dy.reshape(-1, f), masks, d4)
    ry, rdx = ref.maxpool_forward_backward(x, dy, (2, 2), (2, 2))
    assert np.array_equal(y.reshape(ry.shape), ry)
    for a in (0, 1):
        for b in (0, 1):
            assert np.array_equal(
                d4[2 * a + b].reshape(n, h2, w2, f), rdx[:, a::2, b::2].astype(np.float32)
            )


def test_the_rule():
    def shape(out, f):
        return ConvShape((8, 28, 28, 1), (5, 5), (1, 1), (0, 0), (out, out, f))

    assert conv_pool.choose(shape(24, 24)) == "pooled"  # the anchor network's first layer
    assert conv_pool.choose(shape(24, rules.POOL_FUSE_MIN_FILTERS - 1)) == "separate"
    assert conv_pool.choose(shape(23, 32)) == "separate"  # odd: the pool drops a row


@pytest.fixture
def fuse_all(monkeypatch):
    """The rule's channel threshold lowered so that the small test networks fuse."""
    monkeypatch.setattr(rules, "POOL_FUSE_MIN_FILTERS", 1)


def _anchor_like(bias=True):
    return [
        Conv2D(16, 5, bias=bias),
        MaxPool2D(2),
        ReLU(),
        Conv2D(16, 3, bias=bias),
        ReLU(),
        MaxPool2D(2),  # ReLU first as listed: Sequential runs the pool first, then fuses
        Flatten(),
        Dense(10),
    ]


def test_sequential_fuses_conv_and_pool_and_keeps_the_layer_list(fuse_all):
    model = Sequential(_anchor_like(), (16, 16, 1), np.random.default_rng(0))
    steps = [type(s).__name__ for s in model._run]
    assert steps == ["PooledConv2D", "ReLU", "PooledConv2D", "ReLU", "Flatten", "Dense"]
    assert [type(m).__name__ for m in model.layers] == [
        "Conv2D",
        "MaxPool2D",
        "ReLU",
        "Conv2D",
        "ReLU",
        "MaxPool2D",
        "Flatten",
        "Dense",
    ]
    assert [c["type"] for c in model.get_config()["layers"]][:2] == ["Conv2D", "MaxPool2D"]
    # a conv forced to one of its own forms keeps running unfused
    forced = Sequential(
        [Conv2D(16, 3, dx_form="per_offset"), MaxPool2D(2), Flatten(), Dense(2)],
        (8, 8, 1),
        np.random.default_rng(0),
    )
    assert type(forced._run[0]).__name__ == "Conv2D"


def _unfused(model):
    model._run = [layer for step in model._run for layer in getattr(step, "parts", (step,))]
    return model


def test_fused_training_step_equals_the_layers_one_by_one_and_inference_is_unchanged(fuse_all):
    """A float32 training step (logits, every gradient) of the fused plan against the same
    network run layer by layer: float32 rounding only (the bias is added after the pool and
    dW sums its rows in another order). Inference runs the layers themselves: identical."""
    rng = np.random.default_rng(1)
    x = rng.random((6, 16, 16, 1)).astype(np.float32)
    labels = rng.integers(0, 10, 6)
    fused = Sequential(_anchor_like(), (16, 16, 1), np.random.default_rng(2))
    plain = _unfused(Sequential(_anchor_like(), (16, 16, 1), np.random.default_rng(2)))
    out = {}
    for name, model in (("fused", fused), ("plain", plain)):
        logits = model.forward(x, training=True)
        _, d = softmax_cross_entropy(logits, labels)
        model.backward(d)
        out[name] = (logits, [g.copy() for _, _, g, _ in model.named_parameters()])
    np.testing.assert_allclose(out["fused"][0], out["plain"][0], rtol=1e-5, atol=1e-5)
    for g, h in zip(out["fused"][1], out["plain"][1], strict=True):
        np.testing.assert_allclose(g, h, rtol=1e-4, atol=1e-5)
    assert np.array_equal(fused.predict_logits(x), plain.predict_logits(x))


def test_gradient_check_through_the_fused_steps(fuse_all):
    """Every parameter of a network with two fused conv + pool steps against central
    differences of the loss, in float64."""
    rng = np.random.default_rng(7)
    model = Sequential(_anchor_like(), (12, 12, 2), rng, dtype=np.float64)
    assert isinstance(model._run[0], PooledConv2D)
    x = rng.standard_normal((3, 12, 12, 2))
    y = rng.integers(0, 10, 3)

    def loss():
        return softmax_cross_entropy(model.forward(x, training=True), y)[0]

    _, d = softmax_cross_entropy(model.forward(x, training=True), y)
    model.backward(d)
    grads = {name: g.copy() for name, _, g, _ in model.named_parameters()}
    for name, p, _, _ in model.named_parameters():
        assert rel_error(grads[name], numerical_gradient(loss, p)) < 1e-5, name


def test_network_input_gradient_through_a_fused_first_step(fuse_all):
    """A network asked for its own dx (needs_input_grad before build) gets it through the
    fused first step, equal to the layers run one by one (float64)."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 10, 10, 1))

    def build():
        m = Sequential(_anchor_like()[:3] + [Flatten(), Dense(3)])
        m.needs_input_grad = True
        m.build((10, 10, 1), np.random.default_rng(9), np.float64)
        return m

    fused, plain = build(), _unfused(build())
    assert isinstance(fused._run[0], PooledConv2D)
    dxs = []
    for model in (fused, plain):
        out = model.forward(x, training=True)
        dxs.append(model.backward(np.ones_like(out)))
    assert dxs[0].shape == x.shape and np.allclose(dxs[0], dxs[1], atol=1e-12)
