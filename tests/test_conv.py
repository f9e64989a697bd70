"""Convolution, pooling and batch norm: float64 gradient checks, and every fast path against
the slow loop references in digitnet.nn.reference on random shapes, strides and paddings."""

from __future__ import annotations

import numpy as np
import pytest

from digitnet.nn import (
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Flatten,
    GlobalAvgPool2D,
    MaxPool2D,
    ReLU,
    Sequential,
)
from digitnet.nn import reference as ref
from digitnet.nn.gradcheck import check_layer
from digitnet.nn.kernels import conv_dw, conv_dx, im2col, pool, rules

TOL = 1e-6


def built(layer, shape, seed=0):
    layer.build(shape, np.random.default_rng(seed), np.float64)
    layer.needs_input_grad = True
    return layer


CONV_CASES = [  # (H, W, C_in, filters, kernel, stride, padding)
    (5, 5, 1, 2, 3, 1, "valid"),
    (6, 7, 3, 4, 3, 1, "same"),
    (7, 6, 2, 3, (3, 2), (2, 1), 1),
    (8, 8, 2, 2, 5, 2, 2),
    (9, 5, 3, 2, (2, 3), (3, 2), (1, 0)),
    (4, 4, 2, 3, 1, 1, 0),
    (5, 5, 2, 2, 2, 1, 2),  # stride 1 with padding >= kernel: the col2im path
    (9, 8, 1, 3, 3, 2, 1),  # one input channel: the transposed patch matrix
    (7, 7, 1, 2, 5, 1, "same"),
]


@pytest.mark.parametrize("h,w,c,f,k,s,p", CONV_CASES)
def test_conv_gradients(h, w, c, f, k, s, p):
    rng = np.random.default_rng(1)
    layer = built(Conv2D(f, k, s, p), (h, w, c))
    layer.params["b"][...] = rng.standard_normal(f)
    errors = check_layer(layer, rng.standard_normal((2, h, w, c)))
    assert set(errors) == {"x", "W", "b"} and max(errors.values()) < TOL, errors


@pytest.mark.parametrize("seed", range(6))
def test_conv_matches_loop_reference_on_random_configs(seed):
    rng = np.random.default_rng(100 + seed)
    kh, kw = rng.integers(1, 6, 2)
    sh, sw = rng.integers(1, 4, 2)
    ph, pw = rng.integers(0, 3, 2)
    h, w = kh + rng.integers(0, 8), kw + rng.integers(0, 8)
    c, f, n = rng.integers(1, 5), rng.integers(1, 5), rng.integers(1, 4)
    layer = built(
        Conv2D(int(f), (int(kh), int(kw)), (int(sh), int(sw)), (int(ph), int(pw))),
        (int(h), int(w), int(c)),
    )
    layer.params["b"][...] = rng.standard_normal(f)
    x = rng.standard_normal((n, h, w, c))
    y = layer.forward(x, training=True).copy()
    W, b = layer.params["W"], layer.params["b"]
    assert np.allclose(y, ref.conv2d_forward(x, W, b, (sh, sw), (ph, pw)), atol=1e-10)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy.copy())
    rdx, rdW, rdb = ref.conv2d_backward(x, W, dy, (sh, sw), (ph, pw))
    assert np.allclose(dx, rdx, atol=1e-10)
    assert np.allclose(layer.grads["W"], rdW, atol=1e-10)
    assert np.allclose(layer.grads["b"], rdb, atol=1e-10)
    # inference takes the chunked path: same numbers
    assert np.allclose(layer.forward(x, training=False), y, atol=1e-12)


def test_conv_hand_worked_example():
    layer = Conv2D(1, 2, bias=True)
    layer.build((3, 3, 1), np.random.default_rng(0), np.float64)
    layer.params["W"][..., 0, 0] = [[1.0, 0.0], [0.0, -1.0]]
    layer.params["b"][...] = 0.5
    x = np.arange(9.0).reshape(1, 3, 3, 1)
    y = layer.forward(x, training=True)[0, :, :, 0]
    # x[p, q] - x[p+1, q+1] = -4 everywhere, plus the bias
    assert np.array_equal(y, [[-3.5, -3.5], [-3.5, -3.5]])


def test_conv_same_padding_keeps_size_and_rejects_even_kernels():
    assert built(Conv2D(4, 5, padding="same"), (28, 28, 1)).output_shape == (28, 28, 4)
    with pytest.raises(ValueError, match="odd kernel"):
        Conv2D(4, 4, padding="same")


@pytest.mark.parametrize(
    "bad",
    [
        dict(filters=0),
        dict(filters=4, kernel_size=0),
        dict(filters=4, stride=(1, 0)),
        dict(filters=4, padding=-1),
        dict(filters=4, padding="full"),
    ],
)
def test_conv_rejects_bad_arguments(bad):
    with pytest.raises(ValueError, match="got"):
        Conv2D(**bad)


def test_conv_kernel_larger_than_input():
    with pytest.raises(ValueError, match="does not fit"):
        built(Conv2D(2, 5), (3, 3, 1))


POOL_CASES = [
    ((2, 2), (2, 2), (6, 6)),
    ((2, 2), (2, 2), (7, 5)),
    ((3, 3), (2, 2), (7, 7)),
    ((2, 3), (1, 2), (5, 7)),
    ((3, 3), (3, 3), (7, 8)),
]


@pytest.mark.parametrize("size,stride,hw", POOL_CASES)
def test_maxpool_matches_reference_and_gradcheck(size, stride, hw):
    rng = np.random.default_rng(2)
    layer = built(MaxPool2D(size, stride), hw + (3,))
    x = rng.standard_normal((2,) + hw + (3,))
    y = layer.forward(x, training=True)
    dy = rng.standard_normal(y.shape)
    ry, rdx = ref.maxpool_forward_backward(x, dy, size, stride)
    assert np.array_equal(y, ry)
    assert np.allclose(layer.backward(dy.copy()), rdx, atol=1e-12)
    assert check_layer(layer, x)["x"] < TOL


@pytest.mark.parametrize("size", [2, 3])
def test_maxpool_ties_go_to_the_first_maximum(size):
    """Ties (common after ReLU) send the gradient to one place: the first maximum in
    row-major order, as the reference and PyTorch do; 2x2 takes the fast path."""
    rng = np.random.default_rng(9)
    x = rng.integers(0, 2, (3, 2 * size, 2 * size, 2)).astype(np.float64)  # many ties
    layer = built(MaxPool2D(size), x.shape[1:])
    y = layer.forward(x, training=True)
    dy = rng.standard_normal(y.shape)
    ry, rdx = ref.maxpool_forward_backward(x, dy, (size, size), (size, size))
    assert np.array_equal(y, ry) and np.array_equal(layer.backward(dy.copy()), rdx)


@pytest.mark.parametrize("form", sorted(pool.COLUMNS))
def test_maxpool_2x2_every_column_form_matches_the_reference(form):
    """Each registered way to read a 2x2 window's columns gives the reference's outputs and
    gradients, to the bit (a max and a masked copy round nothing), ties included."""
    rng = np.random.default_rng(11)
    x = rng.integers(-2, 3, (3, 8, 6, 5)).astype(np.float32)  # many ties
    dy = rng.standard_normal((3, 4, 3, 5)).astype(np.float32)
    y, col1, row1 = pool.forward_2x2(x, True, form)
    dx = pool.backward_2x2(dy, x.shape, col1, row1)
    ry, rdx = ref.maxpool_forward_backward(x, dy, (2, 2), (2, 2))
    assert np.array_equal(y, ry) and np.array_equal(dx, rdx)


def test_maxpool_2x2_rule_moves_columns_apart_only_for_few_contiguous_channels():
    x = np.zeros((3, 8, 6, 5), np.float32)
    strided = np.zeros((3, 8, 6, 10), np.float32)[..., ::2]
    assert pool.choose(x) == "apart" and pool.choose(strided) == "in_place"
    assert pool.choose(np.zeros((1, 4, 4, rules.POOL_APART_BELOW), np.float32)) == "in_place"
    assert pool.choose(np.zeros((1, 5, 4, 3), np.float32)) == "in_place"  # odd height


@pytest.mark.parametrize("size,stride,hw", POOL_CASES)
def test_avgpool_matches_reference_and_gradcheck(size, stride, hw):
    rng = np.random.default_rng(3)
    layer = built(AvgPool2D(size, stride), hw + (2,))
    x = rng.standard_normal((2,) + hw + (2,))
    y = layer.forward(x, training=True)
    dy = rng.standard_normal(y.shape)
    ry, rdx = ref.avgpool_forward_backward(x, dy, size, stride)
    assert np.allclose(y, ry, atol=1e-12)
    assert np.allclose(layer.backward(dy.copy()), rdx, atol=1e-12)
    assert check_layer(layer, x)["x"] < TOL


def test_global_avg_pool():
    rng = np.random.default_rng(4)
    layer = built(GlobalAvgPool2D(), (3, 4, 5))
    x = rng.standard_normal((2, 3, 4, 5))
    assert np.allclose(layer.forward(x, training=True), x.mean(axis=(1, 2)))
    assert check_layer(layer, x)["x"] < TOL


@pytest.mark.parametrize("shape", [(7,), (4, 5, 3)])
def test_batchnorm_gradients_and_reference(shape):
    rng = np.random.default_rng(5)
    layer = built(BatchNorm(), shape)
    layer.params["gamma"][...] = rng.standard_normal(shape[-1])
    layer.params["beta"][...] = rng.standard_normal(shape[-1])
    x = rng.standard_normal((6,) + shape) * 3 + 1
    y = layer.forward(x, training=True)
    assert np.allclose(
        y,
        ref.batchnorm_forward(x, layer.params["gamma"], layer.params["beta"], layer.eps),
        atol=1e-10,
    )
    # step 1e-4: each BN output depends on the whole batch, so the objective sums hundreds of
    # O(10) terms and a 1e-6 step drowns small entries of dx in round-off
    errors = check_layer(layer, x, eps=1e-4)
    assert max(errors.values()) < TOL, errors


def test_batchnorm_running_statistics_and_inference():
    rng = np.random.default_rng(6)
    layer = built(BatchNorm(momentum=0.5), (3,))
    x = rng.standard_normal((50, 3)) * [1.0, 2.0, 3.0] + [0.0, 5.0, -5.0]
    layer.forward(x, training=True)
    assert np.allclose(layer.buffers["running_mean"], 0.5 * x.mean(axis=0))
    assert np.allclose(layer.buffers["running_var"], 0.5 + 0.5 * x.var(axis=0, ddof=1))
    for _ in range(40):
        layer.forward(x, training=True)
    y = layer.forward(x, training=False)  # running stats ~ batch stats now
    assert np.allclose(y.mean(axis=0), 0, atol=1e-6)
    assert np.allclose(y.std(axis=0), np.sqrt(49 / 50), atol=1e-3)


def test_small_cnn_trains_end_to_end_gradients():
    """A whole CNN stack against finite differences of the loss, in float64."""
    from digitnet.nn import softmax_cross_entropy
    from digitnet.nn.gradcheck import numerical_gradient, rel_error

    rng = np.random.default_rng(7)
    model = Sequential(
        [
            Conv2D(3, 3, padding="same", bias=False),
            BatchNorm(),
            ReLU(),
            MaxPool2D(2),
            Conv2D(4, 3),
            ReLU(),
            Flatten(),
            Dense(3),
        ],
        (6, 6, 2),
        rng,
        dtype=np.float64,
    )
    x = rng.standard_normal((4, 6, 6, 2))
    y = rng.integers(0, 3, 4)

    def loss():
        return softmax_cross_entropy(model.forward(x, training=True), y)[0]

    _, d = softmax_cross_entropy(model.forward(x, training=True), y)
    model.backward(d)
    for name, p, g, _ in model.named_parameters():
        assert rel_error(g, numerical_gradient(loss, p)) < 1e-5, name


DX_SHAPES = [  # (H, W, C, filters, kernel, stride, padding)
    (6, 7, 2, 3, 3, 1, 1),
    (6, 7, 2, 3, 3, 1, 0),
    (6, 7, 2, 3, 5, 1, 2),
    (6, 7, 2, 3, 2, 1, 1),
    (6, 7, 2, 3, (3, 5), 1, (0, 2)),
    (6, 7, 2, 3, (2, 3), 1, (1, 0)),
    (14, 14, 6, 16, 5, 1, 0),
    (9, 9, 17, 5, 3, 2, 1),
    (8, 8, 16, 8, 3, 1, 0),
    (7, 7, 1, 4, 3, 1, 1),
]


def _conv_case(shape, dtype=np.float64, seed=8):
    h, w, c, f, k, stride, pad = shape
    rng = np.random.default_rng(seed)
    layer = Conv2D(f, k, stride, pad)
    layer.build((h, w, c), rng, dtype)
    layer.needs_input_grad = True
    x = rng.standard_normal((3, h, w, c)).astype(dtype)
    dy = rng.standard_normal((3,) + layer.compute_output_shape((h, w, c))).astype(dtype)
    return layer, x, dy


@pytest.mark.parametrize("form", sorted(conv_dx.FORMS))
@pytest.mark.parametrize("shape", DX_SHAPES)
def test_every_input_gradient_form_matches_the_loop_reference(form, shape):
    """Each registered dx form, forced through Conv2D(dx_form=...), against the loop
    convolution's dx in float64; the banded form applies to stride 1 only."""
    layer, x, dy = _conv_case(shape)
    if form == "banded" and layer.stride != (1, 1):
        pytest.skip("the banded form is for stride 1")
    forced = Conv2D(layer.filters, layer.kernel_size, layer.stride, layer.pad, dx_form=form)
    forced.build(layer.input_shape, np.random.default_rng(0), np.float64)
    forced.params["W"][...] = layer.params["W"]
    forced.needs_input_grad = True
    forced.forward(x, training=True)
    rdx, _, _ = ref.conv2d_backward(x, layer.params["W"], dy, layer.stride, layer.pad)
    dx = forced.backward(dy.copy())
    assert dx.shape == rdx.shape and np.allclose(dx, rdx, atol=1e-10)


@pytest.mark.parametrize("shape", DX_SHAPES)
def test_the_chosen_input_gradient_form_matches_the_reference_in_float32(shape):
    """The form the rule picks, in float32 as in training, against the float64 loop
    reference: float32 rounding only (|dx| ~ 1-10 here; 1e-4 is ~100 ulps)."""
    layer, x, dy = _conv_case(shape, np.float32)
    layer.forward(x, training=True)
    dx = layer.backward(dy.copy())
    rdx, _, _ = ref.conv2d_backward(
        x.astype(np.float64),
        layer.params["W"].astype(np.float64),
        dy.astype(np.float64),
        layer.stride,
        layer.pad,
    )
    assert dx.dtype == np.float32
    np.testing.assert_allclose(dx, rdx, rtol=1e-4, atol=1e-4)


def test_input_gradient_rule():
    """Banded for stride 1, few channels, narrow output (LeNet-5's second layer); per offset
    otherwise (the cnn preset's layers, stride 2, wide outputs)."""

    def shape(x, k, stride, out):
        return conv_dx.ConvShape(x, (k, k), (stride, stride), (0, 0), out)

    assert conv_dx.choose(shape((128, 14, 14, 6), 5, 1, (10, 10, 16))) == "banded"
    assert conv_dx.choose(shape((128, 12, 12, 32), 3, 1, (10, 10, 64))) == "per_offset"
    assert conv_dx.choose(shape((128, 28, 28, 6), 5, 1, (24, 24, 16))) == "per_offset"
    assert conv_dx.choose(shape((128, 14, 14, 6), 5, 2, (5, 5, 16))) == "per_offset"
    with pytest.raises(ValueError, match="dx_form must be one of"):
        Conv2D(3, dx_form="by_rows")


@pytest.mark.parametrize("form", sorted(conv_dw.FORMS))
@pytest.mark.parametrize("channels,filters", [(1, 4), (3, 16), (6, 16), (32, 8)])
def test_every_weight_gradient_form_matches_the_reference(monkeypatch, form, channels, filters):
    """Each registered dW form, forced through Conv2D(dw_form=...), equals the loop
    reference's dW in float64 (blocked: over several blocks, a partial last one included)."""
    monkeypatch.setattr(rules, "DW_BLOCK_ROWS", 64)  # 3*7*6 = 126 rows: 2 blocks
    rng = np.random.default_rng(12)
    layer = Conv2D(filters, 3, dw_form=form)
    layer.build((9, 8, channels), rng, np.float64)
    x = rng.standard_normal((3, 9, 8, channels))
    dy = rng.standard_normal((3,) + layer.forward(x, training=True).shape[1:])
    layer.backward(dy.copy())
    _, rdw, rdb = ref.conv2d_backward(x, layer.params["W"], dy)
    assert np.allclose(layer.grads["W"], rdw, atol=1e-10)
    assert np.allclose(layer.grads["b"], rdb, atol=1e-10)


def test_weight_gradient_rule():
    assert conv_dw.choose(6, 16, 10_000) == "transposed"  # LeNet's 6 -> 16
    assert conv_dw.choose(1, 6, 100_352) == "blocked"  # LeNet's first layer
    assert conv_dw.choose(1, 32, 100_352) == "one_product"  # the cnn preset's
    assert conv_dw.choose(32, 64, 12_800) == "one_product"
    assert conv_dw.choose(1, 6, 2 * rules.DW_BLOCK_ROWS) == "one_product"


@pytest.mark.parametrize("form", sorted(im2col.FORMS))
@pytest.mark.parametrize("channels", [1, 3])
def test_every_patch_matrix_form_matches_the_reference(form, channels):
    if form == "slabs" and channels != 1:
        pytest.skip("the slab form is for one input channel")
    rng = np.random.default_rng(13)
    xp = rng.standard_normal((2, 7, 6, channels))
    alloc = np.empty
    want = im2col.reference(xp, (3, 2), (2, 1), (3, 5), alloc)
    got = im2col.FORMS[form](xp, (3, 2), (2, 1), (3, 5), alloc)
    assert np.array_equal(got, want)


@pytest.mark.parametrize("size,stride", [(2, 2), (3, 2)])
def test_relu_then_maxpool_runs_pool_first_with_identical_results(size, stride):
    """Sequential runs a ReLU followed by a max-pool in the other order (a quarter of the
    work): outputs and every gradient equal the layers run one by one as listed, to the
    bit, even with ties and all-negative windows (integer-valued inputs)."""
    from digitnet.nn import softmax_cross_entropy

    def make():
        return Sequential(
            [Conv2D(4, 3, padding="same"), ReLU(), MaxPool2D(size, stride), Flatten(), Dense(3)],
            (9, 9, 2),
            np.random.default_rng(3),
        )

    fused, listed = make(), make()
    assert [type(m).__name__ for m in fused._run[1:3]] == ["MaxPool2D", "ReLU"]
    assert [type(m).__name__ for m in fused.layers[1:3]] == ["ReLU", "MaxPool2D"]
    rng = np.random.default_rng(4)
    x = rng.integers(-2, 3, (5, 9, 9, 2)).astype(np.float32)
    fused.layers[0].params["W"][...] = rng.integers(-1, 2, (3, 3, 2, 4))
    listed.layers[0].params["W"][...] = fused.layers[0].params["W"]
    y = rng.integers(0, 3, 5)

    out_f = fused.forward(x, training=True)
    h = x
    for layer in listed.layers:
        h = layer.forward(h, training=True)
    assert np.array_equal(out_f, h)
    fused.backward(softmax_cross_entropy(out_f, y)[1])
    d = softmax_cross_entropy(h, y)[1]
    for layer in reversed(listed.layers):
        d = layer.backward(d)
    assert np.array_equal(fused.flat_grads, listed.flat_grads)
    h = x
    for layer in listed.layers:
        h = layer.forward(h, training=False)
    assert np.array_equal(fused.forward(x, training=False), h)


def test_inference_scratch_is_reused_across_batch_sizes_and_separate_per_thread(monkeypatch):
    """Inference keeps its padded input and patch matrix between calls (the first rows of
    one buffer serve smaller batches, whose zero border must survive) and gives each thread
    its own, so threads sharing a model get the same answers as one thread alone."""
    import threading

    from digitnet.nn.runtime import thread_buffers

    monkeypatch.setattr(rules, "INFERENCE_COLS_BYTES", 3 * 8 * 8 * 9 * 2 * 4)  # 3 images
    rng = np.random.default_rng(11)
    model = Sequential(
        [Conv2D(3, 3, padding="same"), ReLU(), Conv2D(2, 3, padding=1)], (8, 8, 2), rng
    )
    x = rng.standard_normal((7, 8, 8, 2)).astype(np.float32)
    expected = np.concatenate([model.forward(x[i : i + 1], training=False) for i in range(7)])
    for n in (7, 2, 5, 7, 1):  # grow, shrink, grow again
        assert np.allclose(model.forward(x[:n], training=False), expected[:n], atol=1e-6)
    first = model.layers[0]
    assert thread_buffers(first) is thread_buffers(first)
    results, others = {}, {}

    def work(k):
        others[k] = thread_buffers(first)
        results[k] = [model.forward(x[:n], training=False) for n in (7, 3, 7) * 5]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(b) for b in others.values()} | {id(thread_buffers(first))}) == 4
    for k in range(3):
        for y in results[k]:
            assert np.allclose(y, expected[: len(y)], atol=1e-6)
