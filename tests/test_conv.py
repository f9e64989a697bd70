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
    (5, 5, 2, 2, 2, 1, 2),          # stride 1 with padding >= kernel: the col2im path
    (9, 8, 1, 3, 3, 2, 1),          # one input channel: the transposed patch matrix
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
    layer = built(Conv2D(int(f), (int(kh), int(kw)), (int(sh), int(sw)), (int(ph), int(pw))),
                  (int(h), int(w), int(c)))
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


@pytest.mark.parametrize("bad", [dict(filters=0), dict(filters=4, kernel_size=0),
                                 dict(filters=4, stride=(1, 0)), dict(filters=4, padding=-1),
                                 dict(filters=4, padding="full")])
def test_conv_rejects_bad_arguments(bad):
    with pytest.raises(ValueError, match="got"):
        Conv2D(**bad)


def test_conv_kernel_larger_than_input():
    with pytest.raises(ValueError, match="does not fit"):
        built(Conv2D(2, 5), (3, 3, 1))


POOL_CASES = [((2, 2), (2, 2), (6, 6)), ((2, 2), (2, 2), (7, 5)), ((3, 3), (2, 2), (7, 7)),
              ((2, 3), (1, 2), (5, 7)), ((3, 3), (3, 3), (7, 8))]


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
    x = rng.integers(0, 2, (3, 2 * size, 2 * size, 2)).astype(np.float64)   # many ties
    layer = built(MaxPool2D(size), x.shape[1:])
    y = layer.forward(x, training=True)
    dy = rng.standard_normal(y.shape)
    ry, rdx = ref.maxpool_forward_backward(x, dy, (size, size), (size, size))
    assert np.array_equal(y, ry) and np.array_equal(layer.backward(dy.copy()), rdx)


def test_maxpool_2x2_with_columns_apart_equals_the_in_place_comparison():
    """Few channels: the 2x2 forward copies the left and right columns apart first. Same
    outputs, winners and gradients, to the bit, as comparing them in place (which a
    non-contiguous input takes), ties included."""
    from digitnet.nn import conv
    rng = np.random.default_rng(11)
    x = rng.integers(-2, 3, (3, 8, 6, 5)).astype(np.float32)          # many ties
    dy = rng.standard_normal((3, 4, 3, 5)).astype(np.float32)
    apart, in_place = built(MaxPool2D(2), x.shape[1:]), built(MaxPool2D(2), x.shape[1:])
    strided = np.zeros(x.shape[:3] + (10,), np.float32)[..., ::2]
    strided[...] = x                                                   # same values
    assert conv._few_channels(x) and not conv._few_channels(strided)
    assert not conv._few_channels(np.zeros((1, 4, 4, conv._POOL_APART_BELOW), np.float32))
    y1, y2 = apart.forward(x, training=True), in_place.forward(strided, training=True)
    assert np.array_equal(y1, y2)
    assert np.array_equal(apart._col1, in_place._col1)
    assert np.array_equal(apart._row1, in_place._row1)
    assert np.array_equal(apart.backward(dy.copy()), in_place.backward(dy.copy()))
    ry, rdx = ref.maxpool_forward_backward(x, dy, (2, 2), (2, 2))
    assert np.array_equal(y1, ry) and np.array_equal(apart.backward(dy.copy()), rdx)


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
    assert np.allclose(y, ref.batchnorm_forward(x, layer.params["gamma"], layer.params["beta"],
                                                layer.eps), atol=1e-10)
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
    y = layer.forward(x, training=False)               # running stats ~ batch stats now
    assert np.allclose(y.mean(axis=0), 0, atol=1e-6)
    assert np.allclose(y.std(axis=0), np.sqrt(49 / 50), atol=1e-3)


def test_small_cnn_trains_end_to_end_gradients():
    """A whole CNN stack against finite differences of the loss, in float64."""
    from digitnet.nn import softmax_cross_entropy
    from digitnet.nn.gradcheck import numerical_gradient, rel_error

    rng = np.random.default_rng(7)
    model = Sequential([Conv2D(3, 3, padding="same", bias=False), BatchNorm(), ReLU(), MaxPool2D(2),
                        Conv2D(4, 3), ReLU(), Flatten(), Dense(3)], (6, 6, 2), rng,
                       dtype=np.float64)
    x = rng.standard_normal((4, 6, 6, 2))
    y = rng.integers(0, 3, 4)

    def loss():
        return softmax_cross_entropy(model.forward(x, training=True), y)[0]

    _, d = softmax_cross_entropy(model.forward(x, training=True), y)
    model.backward(d)
    for name, p, g, _ in model.named_parameters():
        assert rel_error(g, numerical_gradient(loss, p)) < 1e-5, name


@pytest.mark.parametrize("k,p", [(3, 1), (3, 0), (5, 2), (2, 1), ((3, 5), (0, 2)),
                                 ((2, 3), (1, 0))])
def test_all_input_gradient_paths_match_reference(k, p):
    """backward() picks one of four dx algorithms by cost; check each on the same input."""
    rng = np.random.default_rng(8)
    layer = built(Conv2D(3, k, 1, p), (6, 7, 2))
    x = rng.standard_normal((2, 6, 7, 2))
    y = layer.forward(x, training=True)
    dy = rng.standard_normal(y.shape)
    pad = p if isinstance(p, tuple) else (p, p)
    rdx, _, _ = ref.conv2d_backward(x, layer.params["W"], dy, (1, 1), pad)
    forms = {"as conv": layer._input_grad_as_conv(dy.copy()).copy(),
             "by rows": layer._input_grad_by_rows(dy.copy()).copy(),
             "banded": layer._input_grad_banded(dy.copy()).copy(),
             "per offset": layer._input_grad_per_offset(dy.reshape(-1, 3).copy()).copy()}
    for name, dx in forms.items():
        assert dx.shape == rdx.shape and np.allclose(dx, rdx, atol=1e-10), name
    form = layer._input_grad_form()                        # 2 input channels: few
    wo, kw = layer.output_shape[1], layer.kernel_size[1]
    assert form == ("banded" if wo <= 2 * kw else "by rows")
    assert np.array_equal(layer.backward(dy.copy()), forms[form])


def test_banded_input_gradient_equals_the_by_rows_form_in_float32():
    """LeNet-5's second layer (6 -> 16 channels, 5x5, 14x14 input) takes the banded form;
    in float32 it equals the by-rows form's dx up to float32 rounding. The two are different
    BLAS products: on AVX-512 kernels they happened to give the same bits, on Haswell kernels
    (AMD EPYC, or OPENBLAS_CORETYPE=Haswell) they differ in the last bits, so only a
    tolerance is a property of the code (|dx| ~ 1-10 here: 1e-5 is ~100 float32 ulps)."""
    rng = np.random.default_rng(13)
    layer = Conv2D(16, 5)
    layer.build((14, 14, 6), rng, np.float32)
    layer.needs_input_grad = True
    x = rng.standard_normal((6, 14, 14, 6)).astype(np.float32)
    dy = rng.standard_normal((6,) + layer.forward(x, training=True).shape[1:]).astype(
        np.float32)
    assert layer._input_grad_form() == "banded"
    banded = layer.backward(dy.copy()).copy()
    assert banded.dtype == np.float32
    by_rows = layer._input_grad_by_rows(dy.copy())
    np.testing.assert_allclose(banded, by_rows, rtol=1e-5, atol=1e-5)


def test_weight_gradient_of_few_inputs_many_filters_matches_reference():
    """LeNet's second layer shape (few input channels, >= 16 filters) computes dW.T =
    dy.T @ patches instead of patches.T @ dy: the same gradient."""
    from digitnet.nn import conv
    rng = np.random.default_rng(12)
    layer = built(Conv2D(conv._FEW_CHANNELS, 3), (7, 6, 3))
    x = rng.standard_normal((4, 7, 6, 3))
    dy = rng.standard_normal((4,) + layer.forward(x, training=True).shape[1:])
    layer.backward(dy.copy())
    _, rdw, rdb = ref.conv2d_backward(x, layer.params["W"], dy)
    assert np.allclose(layer.grads["W"], rdw, atol=1e-10)
    assert np.allclose(layer.grads["b"], rdb, atol=1e-10)


@pytest.mark.parametrize("channels", [1, 3])
def test_weight_gradient_summed_in_blocks_matches_one_product(monkeypatch, channels):
    """Few filters and a long batch axis: dW is summed over blocks of rows (a partial last
    block included); it equals the single product up to float32 rounding."""
    from digitnet.nn import conv
    rng = np.random.default_rng(9)
    layer = Conv2D(4, 3)
    layer.build((9, 8, channels), rng, np.float32)
    x = rng.standard_normal((5, 9, 8, channels)).astype(np.float32)
    dy = rng.standard_normal((5, *layer.forward(x, training=True).shape[1:])).astype(
        np.float32)
    layer.backward(dy.copy())
    one = layer.grads["W"].copy()
    assert "dwpart" not in layer._buf._arrays
    monkeypatch.setattr(conv, "_DW_ROWS", 64)                  # 5*7*6 = 210 rows: 4 blocks
    layer.backward(dy.copy())
    _, rdw, _ = ref.conv2d_backward(x.astype(np.float64), layer.params["W"].astype(np.float64),
                                    dy.astype(np.float64))
    assert "dwpart" in layer._buf._arrays                  # the blocked path ran
    assert np.allclose(layer.grads["W"], rdw, rtol=1e-5, atol=1e-5)
    assert np.allclose(one, rdw, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("size,stride", [(2, 2), (3, 2)])
def test_relu_then_maxpool_runs_pool_first_with_identical_results(size, stride):
    """Sequential runs a ReLU followed by a max-pool in the other order (a quarter of the
    work): outputs and every gradient equal the layers run one by one as listed, to the
    bit, even with ties and all-negative windows (integer-valued inputs)."""
    from digitnet.nn import softmax_cross_entropy

    def make():
        return Sequential([Conv2D(4, 3, padding="same"), ReLU(), MaxPool2D(size, stride),
                           Flatten(), Dense(3)], (9, 9, 2), np.random.default_rng(3))

    fused, listed = make(), make()
    assert [type(m).__name__ for m in fused._run[1:3]] == ["MaxPool2D", "ReLU"]
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

    from digitnet.nn import conv
    monkeypatch.setattr(conv, "_INFERENCE_COLS_BYTES", 3 * 8 * 8 * 9 * 2 * 4)  # 3 images
    rng = np.random.default_rng(11)
    model = Sequential([Conv2D(3, 3, padding="same"), ReLU(), Conv2D(2, 3, padding=1)],
                       (8, 8, 2), rng)
    x = rng.standard_normal((7, 8, 8, 2)).astype(np.float32)
    expected = np.concatenate([model.forward(x[i:i + 1], training=False) for i in range(7)])
    for n in (7, 2, 5, 7, 1):                       # grow, shrink, grow again
        assert np.allclose(model.forward(x[:n], training=False), expected[:n], atol=1e-6)
    first = model.layers[0]
    assert conv._inference_buffers(first) is conv._inference_buffers(first)
    results, others = {}, {}

    def work(k):
        others[k] = conv._inference_buffers(first)
        results[k] = [model.forward(x[:n], training=False) for n in (7, 3, 7) * 5]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(b) for b in others.values()} | {id(conv._inference_buffers(first))}) == 4
    for k in range(3):
        for y in results[k]:
            assert np.allclose(y, expected[:len(y)], atol=1e-6)
