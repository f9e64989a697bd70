"""Every equation of the "How it works" pages (docs/how-it-works/*.md), computed in plain NumPy
exactly as the page writes it and compared with what the engine computes.

Each equation on a page carries ``\\tag{name}``; each test here is declared with
``@equation(name, latex)``, the equation's LaTeX as the page writes it (whitespace aside).
The first tests tie the two together: a tag on a page with no test, a test whose tag is on
no page, or an equation whose text differs from the test's copy fails. So changing an
equation on a page fails until its test is brought in line, and changing the engine fails
the test that computes the page's form.

Sums the page writes over indices are written here as loops over those indices, on small
arrays; float64 throughout, so the tolerances are those of float64 arithmetic done in
another order.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from digitnet.nn import (
    SGD,
    AdaGrad,
    Adam,
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    GlobalAvgPool2D,
    LeakyReLU,
    MaxPool2D,
    Momentum,
    ReLU,
    RMSprop,
    Sigmoid,
    Softmax,
    Tanh,
    init,
    losses,
    make_schedule,
)
from digitnet.nn import sigmoid as nn_sigmoid
from digitnet.nn.conv import conv_output_size
from digitnet.nn.gradcheck import check_layer, numerical_gradient, rel_error
from digitnet.nn.kernels import conv_dw, conv_dx, im2col
from digitnet.nn.runtime import Buffers

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT / "docs" / "how-it-works"
DISPLAY = re.compile(r"^[ \t]*\$\$\n(.*?)\n[ \t]*\$\$[ \t]*$", re.M | re.S)
TAG = re.compile(r"\\tag\{([^}]*)\}")

#: tag -> the equation's LaTeX as the test was written for it (whitespace collapsed)
EQUATIONS: dict[str, str] = {}


def _squash(latex: str) -> str:
    return " ".join(latex.split())


def equation(tag: str, latex: str):
    """Declare the test of the page equation ``\\tag{tag}``, whose LaTeX is ``latex``."""
    if tag in EQUATIONS:
        raise ValueError(f"two tests for equation {tag}")
    EQUATIONS[tag] = _squash(latex)

    def mark(fn):
        fn.equation = tag
        return fn

    return mark


def page_equations() -> dict[str, tuple[str, str]]:
    """tag -> (page, LaTeX without the tag) of every display equation on the pages."""
    found: dict[str, tuple[str, str]] = {}
    for page in sorted(PAGES.glob("*.md")):
        for block in DISPLAY.findall(page.read_text()):
            tags = TAG.findall(block)
            assert len(tags) == 1, f"{page.name}: a display equation needs one \\tag: {block}"
            assert tags[0] not in found, f"equation {tags[0]} appears twice"
            found[tags[0]] = (page.name, _squash(TAG.sub("", block)))
    return found


def rng(seed=0):
    return np.random.default_rng(seed)


def built(layer, shape, seed=0):
    layer.build(shape, rng(seed), np.float64)
    layer.needs_input_grad = True
    return layer


def close(a, b, tol=1e-10):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64),
                               rtol=tol, atol=tol)


# -- the link between the pages and the tests ------------------------------------------------

def test_every_equation_on_the_pages_has_a_test():
    on_pages = page_equations()
    assert len(on_pages) >= 60
    assert sorted(set(on_pages) - set(EQUATIONS)) == [], "equations without a test"
    assert sorted(set(EQUATIONS) - set(on_pages)) == [], "tests of equations on no page"


def test_every_test_computes_the_equation_the_page_writes():
    changed = {tag: (page, latex) for tag, (page, latex) in page_equations().items()
               if EQUATIONS.get(tag) != latex}
    assert changed == {}, "equations changed on the page: update their tests"


def test_every_declared_equation_has_its_test_function():
    tested = {fn.equation for fn in globals().values() if callable(fn)
              and hasattr(fn, "equation") and fn.__name__.startswith("test_")}
    assert tested == set(EQUATIONS)


# == dense.md ==================================================================================

def dense_case(seed=0, n=5, d_in=4, d_out=3):
    layer = built(Dense(d_out), (d_in,), seed)
    layer.params["b"][...] = rng(seed + 1).standard_normal(d_out)
    x = rng(seed + 2).standard_normal((n, d_in))
    dy = rng(seed + 3).standard_normal((n, d_out))
    y = layer.forward(x, training=True).copy()
    dx = layer.backward(dy.copy())
    return layer, x, dy, y, dx


@equation("dense-forward", r"Y = X W + b")
def test_dense_forward():
    layer, x, _, y, _ = dense_case()
    W, b = layer.params["W"], layer.params["b"]
    Y = np.zeros_like(y)
    for n in range(x.shape[0]):                       # Y_nj = sum_i X_ni W_ij + b_j
        for j in range(W.shape[1]):
            Y[n, j] = sum(x[n, i] * W[i, j] for i in range(W.shape[0])) + b[j]
    close(y, Y)
    close(y, x @ W + b)


@equation("dense-grad-w", r"\frac{\partial L}{\partial W} = X^\top \delta Y")
def test_dense_grad_w():
    layer, x, dy, _, _ = dense_case()
    close(layer.grads["W"], x.T @ dy)


@equation("dense-grad-b", r"\frac{\partial L}{\partial b_j} = \sum_{n=1}^{N} \delta Y_{nj}")
def test_dense_grad_b():
    layer, _, dy, _, _ = dense_case()
    close(layer.grads["b"], [sum(dy[n, j] for n in range(dy.shape[0]))
                             for j in range(dy.shape[1])])


@equation("dense-grad-x", r"\frac{\partial L}{\partial X} = \delta Y \, W^\top")
def test_dense_grad_x():
    layer, _, dy, _, dx = dense_case()
    close(dx, dy @ layer.params["W"].T)


def activation(layer, z, dy):
    built(layer, z.shape[1:])
    y = layer.forward(z.copy(), training=True).copy()
    dz = layer.backward(dy.copy())
    return y, dz


@pytest.mark.parametrize("shape", [(6, 7), (2, 64, 64, 16)])   # MLP form; threaded image form
@equation("relu", r"Y = \max(0, Z)")
def test_relu(shape):
    z = rng().standard_normal(shape)
    y, _ = activation(ReLU(), z, z)
    close(y, np.maximum(0, z))


@pytest.mark.parametrize("shape", [(6, 7), (2, 64, 64, 16)])
@equation("relu-grad", r"\delta Z = \delta Y \odot [Y > 0]")
def test_relu_grad(shape):
    z, dy = rng().standard_normal(shape), rng(1).standard_normal(shape)
    y, dz = activation(ReLU(), z, dy)
    close(dz, dy * (y > 0))


@equation("leaky-relu",
          r"Y = \begin{cases} Z & Z > 0 \\ \alpha Z & \text{otherwise} \end{cases}")
def test_leaky_relu():
    z, alpha = rng().standard_normal((6, 7)), 0.1
    y, _ = activation(LeakyReLU(alpha), z, z)
    close(y, np.where(z > 0, z, alpha * z))


@equation("leaky-relu-grad", r"\delta Z = \begin{cases} \delta Y & Z > 0 \\ \alpha\, \delta Y "
                             r"& \text{otherwise} \end{cases}")
def test_leaky_relu_grad():
    z, dy, alpha = rng().standard_normal((6, 7)), rng(1).standard_normal((6, 7)), 0.1
    _, dz = activation(LeakyReLU(alpha), z, dy)
    close(dz, np.where(z > 0, dy, alpha * dy))


@equation("sigmoid", r"\sigma(z) = \frac{1}{1 + e^{-z}} = "
                     r"\frac{1}{2}\left(1 + \tanh\frac{z}{2}\right)")
def test_sigmoid():
    z = rng().standard_normal((6, 7)) * 5
    textbook, tanh_form = 1 / (1 + np.exp(-z)), 0.5 * (1 + np.tanh(z / 2))
    close(textbook, tanh_form, 1e-12)
    close(nn_sigmoid(z.copy()), tanh_form, 1e-15)
    y, _ = activation(Sigmoid(), z, z)
    close(y, textbook, 1e-12)
    extreme = np.array([[-1000.0, 1000.0]])                 # no overflow in the tanh form
    close(nn_sigmoid(extreme.copy()), 0.5 * (1 + np.tanh(extreme / 2)), 0)


@equation("sigmoid-grad", r"\delta Z = \delta Y \odot Y \odot (1 - Y)")
def test_sigmoid_grad():
    z, dy = rng().standard_normal((6, 7)), rng(1).standard_normal((6, 7))
    y, dz = activation(Sigmoid(), z, dy)
    close(dz, dy * y * (1 - y))


@equation("tanh-grad", r"\delta Z = \delta Y \odot (1 - Y \odot Y)")
def test_tanh_grad():
    z, dy = rng().standard_normal((6, 7)), rng(1).standard_normal((6, 7))
    y, dz = activation(Tanh(), z, dy)
    close(y, np.tanh(z))
    close(dz, dy * (1 - y * y))


def logits(n=6, k=10, seed=0):
    return rng(seed).standard_normal((n, k)) * 4


@equation("softmax", r"p_k = \frac{e^{z_k - m}}{\sum_{j=1}^{K} e^{z_j - m}}")
def test_softmax():
    z = logits()
    m = z.max(axis=1, keepdims=True)
    p = np.exp(z - m) / np.exp(z - m).sum(axis=1, keepdims=True)
    close(losses.softmax(z), p)
    close(activation(Softmax(), z, z)[0], p)
    big = z + 1000                                        # the shift keeps exp finite
    assert np.all(np.isfinite(losses.softmax(big)))
    close(losses.softmax(big), p, 1e-9)


@equation("softmax-grad", r"\delta z_k = p_k \Big(\delta p_k - \sum_{j=1}^{K} \delta p_j \, "
                          r"p_j\Big)")
def test_softmax_grad():
    z, dp = logits(), rng(1).standard_normal((6, 10))
    p, dz = activation(Softmax(), z, dp)
    expected = np.zeros_like(z)
    for n in range(z.shape[0]):
        for k in range(z.shape[1]):
            expected[n, k] = p[n, k] * (dp[n, k] - sum(dp[n, j] * p[n, j]
                                                       for j in range(z.shape[1])))
    close(dz, expected)
    jacobian = np.diag(p[0]) - np.outer(p[0], p[0])      # the same as the full Jacobian
    close(dz[0], jacobian.T @ dp[0])


@equation("log-softmax", r"\log p_k = z_k - m - \log \sum_{j=1}^{K} e^{z_j - m}")
def test_log_softmax():
    z = logits()
    m = z.max(axis=1, keepdims=True)
    close(losses.log_softmax(z), z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True)))
    far = np.array([[0.0, -2000.0]])                     # log p finite where p underflows
    assert np.isfinite(losses.log_softmax(far)).all()


def targets(y, k, s):
    """t_nk = (1 - s)[k = y_n] + s / K, and 1/K for a label -1 (ce-targets, ce-none)."""
    t = np.zeros((len(y), k))
    for n, label in enumerate(y):
        for c in range(k):
            t[n, c] = 1 / k if label == -1 else (1 - s) * (c == label) + s / k
    return t


def cross_entropy(z, t):
    p = losses.softmax(z)
    n, k = z.shape
    return -1 / n * sum(t[i, c] * np.log(p[i, c]) for i in range(n) for c in range(k))


@pytest.mark.parametrize("s", [0.0, 0.1])
@equation("cross-entropy", r"L = -\frac{1}{N} \sum_{n=1}^{N} \sum_{k=1}^{K} t_{nk} \log p_{nk}")
def test_cross_entropy(s):
    z, y = logits(), np.array([3, 0, 9, 9, 1, 5])
    loss, _ = losses.softmax_cross_entropy(z, y, label_smoothing=s)
    close(loss, cross_entropy(z, targets(y, 10, s)))
    if s == 0:
        close(loss, -np.mean(np.log(losses.softmax(z)[np.arange(6), y])))


@equation("ce-targets", r"t_{nk} = (1 - s)\,[k = y_n] + \frac{s}{K}")
def test_ce_targets():
    z, y, s = logits(), np.array([3, 0, 9, 9, 1, 5]), 0.1
    t = targets(y, 10, s)
    assert np.allclose(t.sum(axis=1), 1) and t[0, 3] == pytest.approx(0.91)
    _, dz = losses.softmax_cross_entropy(z, y, label_smoothing=s)
    close(losses.softmax(z) - 6 * dz, t)                 # the targets the engine used


@pytest.mark.skipif(not hasattr(losses, "NONE_OF_THESE"),
                    reason="this digitnet has no 'none of these' label (losses.NONE_OF_THESE)")
@pytest.mark.parametrize("s", [0.0, 0.1])
@equation("ce-none", r"t_{nk} = \frac{1}{K} \quad \text{for } y_n = -1")
def test_ce_none(s):
    z, y = logits(), np.array([3, -1, 9, -1, 1, 5])
    assert losses.NONE_OF_THESE == -1
    t = targets(y, 10, s)
    close(t[1], np.full(10, 0.1))
    loss, dz = losses.softmax_cross_entropy(z, y, label_smoothing=s)
    close(loss, cross_entropy(z, t))
    close(dz, (losses.softmax(z) - t) / 6)


@pytest.mark.parametrize("s", [0.0, 0.1])
@equation("ce-grad", r"\frac{\partial L}{\partial z_{nk}} = \frac{1}{N}\,(p_{nk} - t_{nk})")
def test_ce_grad(s):
    z, y = logits(), np.array([3, 0, 9, 9, 1, 5])
    _, dz = losses.softmax_cross_entropy(z, y, label_smoothing=s)
    close(dz, 1 / 6 * (losses.softmax(z) - targets(y, 10, s)))
    numeric = numerical_gradient(lambda: losses.softmax_cross_entropy(z, y, s)[0], z)
    close(dz, numeric, 1e-7)                             # and it is the derivative


def sigmoid_outputs():
    return nn_sigmoid(rng().standard_normal((5, 10))), np.array([1, 7, 0, 0, 4])


@equation("mse", r"L = \frac{1}{2N} \sum_{n=1}^{N} \lVert a_n - e_{y_n} \rVert^2")
def test_mse():
    a, y = sigmoid_outputs()
    e = np.eye(10)
    loss, _ = losses.mse(a, y)
    close(loss, 1 / (2 * 5) * sum(np.sum((a[n] - e[y[n]]) ** 2) for n in range(5)))


@equation("mse-grad", r"\frac{\partial L}{\partial a_n} = \frac{1}{N}\,(a_n - e_{y_n})")
def test_mse_grad():
    a, y = sigmoid_outputs()
    _, da = losses.mse(a.copy(), y)
    close(da, 1 / 5 * (a - np.eye(10)[y]))


# == convolution.md ============================================================================

CONV_CASES = [  # (N, H, W, C, F, k, stride, pad)
    (2, 6, 6, 1, 3, 3, 1, 0),
    (2, 7, 6, 2, 3, 3, 2, 1),
    (1, 6, 7, 3, 2, 2, 1, 1),
]


def conv_case(case, seed=0):
    n, h, w, c, f, k, s, p = case
    layer = built(Conv2D(f, k, stride=s, padding=p), (h, w, c), seed)
    layer.params["b"][...] = rng(seed + 1).standard_normal(f)
    x = rng(seed + 2).standard_normal((n, h, w, c))
    y = layer.forward(x, training=True).copy()
    dy = rng(seed + 3).standard_normal(y.shape)
    dx = layer.backward(dy.copy())
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))   # x tilde: zero padding
    return layer, x, xp, y, dy, dx


@equation("conv-output-size", r"H_o = \left\lfloor \frac{H + 2P - k}{S} \right\rfloor + 1")
def test_conv_output_size():
    for size in (5, 6, 7, 28):
        for k in (1, 2, 3, 5):
            for s in (1, 2, 3):
                for p in (0, 1, 2):
                    if size + 2 * p < k:
                        continue
                    expected = math.floor((size + 2 * p - k) / s) + 1
                    assert conv_output_size(size, k, s, p) == expected
                    layer = Conv2D(4, k, stride=s, padding=p)
                    layer.build((size, size, 1), rng(), np.float64)
                    assert layer.output_shape == (expected, expected, 4)


@pytest.mark.parametrize("case", CONV_CASES)
@equation("conv-forward", r"y_{n,p,q,f} = b_f + \sum_{i=0}^{k_h-1} \sum_{j=0}^{k_w-1} "
                          r"\sum_{c=0}^{C-1} W_{i,j,c,f}\; \tilde x_{n,\, pS_h + i,\, qS_w + j,\, "
                          r"c}")
def test_conv_forward(case):
    layer, x, xp, y, _, _ = conv_case(case)
    W, b, (S, _) = layer.params["W"], layer.params["b"], layer.stride
    kh, kw, C, F = W.shape
    expected = np.zeros_like(y)
    for n, p, q, f in np.ndindex(*y.shape):
        expected[n, p, q, f] = b[f] + sum(W[i, j, c, f] * xp[n, p * S + i, q * S + j, c]
                                          for i in range(kh) for j in range(kw)
                                          for c in range(C))
    close(y, expected)


@pytest.mark.parametrize("case", CONV_CASES)
@equation("conv-grad-w", r"\frac{\partial L}{\partial W_{i,j,c,f}} = \sum_{n} \sum_{p=0}^{H_o-1} "
                         r"\sum_{q=0}^{W_o-1} \delta y_{n,p,q,f}\; \tilde x_{n,\, pS_h + i,\, "
                         r"qS_w + j,\, c}")
def test_conv_grad_w(case):
    layer, _, xp, _, dy, _ = conv_case(case)
    S = layer.stride[0]
    N, Ho, Wo, _ = dy.shape
    expected = np.zeros_like(layer.params["W"])
    for i, j, c, f in np.ndindex(*expected.shape):
        expected[i, j, c, f] = sum(dy[n, p, q, f] * xp[n, p * S + i, q * S + j, c]
                                   for n in range(N) for p in range(Ho) for q in range(Wo))
    close(layer.grads["W"], expected)


@pytest.mark.parametrize("case", CONV_CASES)
@equation("conv-grad-b", r"\frac{\partial L}{\partial b_f} = \sum_{n,p,q} \delta y_{n,p,q,f}")
def test_conv_grad_b(case):
    layer, _, _, _, dy, _ = conv_case(case)
    close(layer.grads["b"], [sum(dy[n, p, q, f] for n, p, q in np.ndindex(*dy.shape[:3]))
                             for f in range(dy.shape[3])])


@pytest.mark.parametrize("case", CONV_CASES)
@equation("conv-grad-x", r"\frac{\partial L}{\partial \tilde x_{n,u,v,c}} = \sum_{i,j,f} "
                         r"\;\sum_{\substack{p,\,q:\; pS_h + i = u \\ \phantom{p,\,q:\;} qS_w + j "
                         r"= v}} \delta y_{n,p,q,f}\; W_{i,j,c,f}")
def test_conv_grad_x(case):
    layer, x, xp, _, dy, dx = conv_case(case)
    W, S, P = layer.params["W"], layer.stride[0], layer.pad[0]
    kh, kw, _, F = W.shape
    _, Ho, Wo, _ = dy.shape
    dxp = np.zeros_like(xp)
    for n, u, v, c in np.ndindex(*xp.shape):
        dxp[n, u, v, c] = sum(dy[n, p, q, f] * W[i, j, c, f]
                              for i in range(kh) for j in range(kw) for f in range(F)
                              for p in range(Ho) for q in range(Wo)
                              if p * S + i == u and q * S + j == v)
    close(dx, dxp[:, P:P + x.shape[1], P:P + x.shape[2], :])


def cols_by_the_page(xp, k, S, out):
    """cols[(n,p,q), (i,j,c)] = x~[n, pS + i, qS + j, c]."""
    N, _, _, C = xp.shape
    Ho, Wo = out
    cols = np.zeros((N * Ho * Wo, k * k * C))
    for n, p, q in np.ndindex(N, Ho, Wo):
        for i, j, c in np.ndindex(k, k, C):
            cols[(n * Ho + p) * Wo + q, (i * k + j) * C + c] = xp[n, p * S + i, q * S + j, c]
    return cols


@pytest.mark.parametrize("case", CONV_CASES)
@equation("im2col", r"\mathrm{cols}_{(n,p,q),\,(i,j,c)} = \tilde x_{n,\, pS_h + i,\, qS_w + j,\, "
                    r"c}")
def test_im2col(case):
    layer, _, xp, y, _, _ = conv_case(case)
    k, S = layer.kernel_size[0], layer.stride[0]
    expected = cols_by_the_page(xp, k, S, y.shape[1:3])
    forms = ["reference", "patches"] + (["slabs"] if xp.shape[3] == 1 else [])
    for form in forms:
        cols = im2col.FORMS[form](np.ascontiguousarray(xp), (k, k), (S, S), y.shape[1:3],
                                  lambda shape: np.empty(shape))
        close(cols, expected, 0)
    close(layer._cols_m, expected, 0)      # what the layer multiplied in its forward pass


@pytest.mark.parametrize("case", CONV_CASES)
@equation("conv-matmul", r"Y_\text{mat} = \mathrm{cols}\; W_\text{mat} + b")
def test_conv_matmul(case):
    layer, _, xp, y, _, _ = conv_case(case)
    k, S, F = layer.kernel_size[0], layer.stride[0], layer.filters
    cols = cols_by_the_page(xp, k, S, y.shape[1:3])
    w_mat = layer.params["W"].reshape(-1, F)               # rows in (i, j, c) order
    close(y.reshape(-1, F), cols @ w_mat + layer.params["b"])


@pytest.mark.parametrize("case", CONV_CASES)
@equation("conv-matmul-grad-w", r"\frac{\partial L}{\partial W_\text{mat}} = \mathrm{cols}^\top\, "
                                r"\delta Y_\text{mat}")
def test_conv_matmul_grad_w(case):
    layer, _, xp, y, dy, _ = conv_case(case)
    k, S, F = layer.kernel_size[0], layer.stride[0], layer.filters
    cols = cols_by_the_page(xp, k, S, y.shape[1:3])
    expected = cols.T @ dy.reshape(-1, F)
    close(layer.grads["W"].reshape(-1, F), expected)
    for form in conv_dw.FORMS:                             # every registered form of dW
        gw = np.empty_like(expected)
        conv_dw.FORMS[form](cols, dy.reshape(-1, F), gw, Buffers())
        close(gw, expected)


@pytest.mark.parametrize("case", CONV_CASES)
@equation("conv-dx-per-offset", r"\delta \tilde x_{n,\, pS_h + i,\, qS_w + j,\, c} \mathrel{+}= "
                                r"\big(\delta Y_\text{mat}\, W_{i,j}^\top\big)_{(n,p,q),\,c} "
                                r"\quad \text{for each } (i, j)")
def test_conv_dx_per_offset(case):
    layer, x, xp, _, dy, dx = conv_case(case)
    W, S, P = layer.params["W"], layer.stride[0], layer.pad[0]
    kh, kw, C, F = W.shape
    N, Ho, Wo, _ = dy.shape
    dy_mat = dy.reshape(-1, F)
    dxp = np.zeros_like(xp)
    for i, j in np.ndindex(kh, kw):
        part = (dy_mat @ W[i, j].T).reshape(N, Ho, Wo, C)
        dxp[:, i:i + S * (Ho - 1) + 1:S, j:j + S * (Wo - 1) + 1:S, :] += part
    expected = dxp[:, P:P + x.shape[1], P:P + x.shape[2], :]
    close(dx, expected)
    shape = conv_dx.ConvShape(x.shape, layer.kernel_size, layer.stride, layer.pad,
                              layer.output_shape)
    for form in conv_dx.FORMS:                             # every registered form of dx
        if form == "banded" and S != 1:
            continue
        close(conv_dx.FORMS[form](dy.copy(), W, shape, Buffers()), expected)


POOL_CASES = [((2, 6, 6, 3), 2, 2), ((2, 7, 7, 2), 3, 2), ((1, 6, 5, 2), 2, 1)]


def pool_case(layer, shape, seed=0, ties=False):
    built(layer, shape[1:], seed)
    x = (rng(seed).integers(0, 3, shape).astype(np.float64) if ties
         else rng(seed).standard_normal(shape))
    y = layer.forward(x, training=True).copy()
    dy = rng(seed + 1).standard_normal(y.shape)
    return x, y, dy, layer.backward(dy.copy())


@pytest.mark.parametrize("shape,k,s", POOL_CASES)
@equation("maxpool", r"y_{n,p,q,c} = \max_{0 \le i < k_h,\; 0 \le j < k_w} x_{n,\, pS_h + i,\, "
                     r"qS_w + j,\, c}")
def test_maxpool(shape, k, s):
    x, y, _, _ = pool_case(MaxPool2D(k, s), shape)
    expected = np.zeros_like(y)
    for n, p, q, c in np.ndindex(*y.shape):
        expected[n, p, q, c] = max(x[n, p * s + i, q * s + j, c]
                                   for i in range(k) for j in range(k))
    close(y, expected, 0)


@pytest.mark.parametrize("shape,k,s", POOL_CASES)
@equation("maxpool-grad", r"\frac{\partial L}{\partial x_{n,\, pS_h + i^*,\, qS_w + j^*,\, c}} "
                          r"\mathrel{+}= \delta y_{n,p,q,c}")
def test_maxpool_grad(shape, k, s):
    x, y, dy, dx = pool_case(MaxPool2D(k, s), shape, ties=True)   # many ties: 0, 1, 2 only
    expected = np.zeros_like(x)
    for n, p, q, c in np.ndindex(*y.shape):
        window = [(i, j) for i in range(k) for j in range(k)]     # row-major order
        values = [x[n, p * s + i, q * s + j, c] for i, j in window]
        i, j = window[values.index(max(values))]                  # the first maximum
        expected[n, p * s + i, q * s + j, c] += dy[n, p, q, c]
    close(dx, expected)


@pytest.mark.parametrize("shape,k,s", POOL_CASES)
@equation("avgpool", r"y_{n,p,q,c} = \frac{1}{k_h k_w} \sum_{i=0}^{k_h-1} \sum_{j=0}^{k_w-1} "
                     r"x_{n,\, pS_h + i,\, qS_w + j,\, c}")
def test_avgpool(shape, k, s):
    x, y, _, _ = pool_case(AvgPool2D(k, s), shape)
    expected = np.zeros_like(y)
    for n, p, q, c in np.ndindex(*y.shape):
        expected[n, p, q, c] = 1 / (k * k) * sum(x[n, p * s + i, q * s + j, c]
                                                 for i in range(k) for j in range(k))
    close(y, expected)


@pytest.mark.parametrize("shape,k,s", POOL_CASES)
@equation("avgpool-grad", r"\frac{\partial L}{\partial x_{n,\, pS_h + i,\, qS_w + j,\, c}} "
                          r"\mathrel{+}= \frac{\delta y_{n,p,q,c}}{k_h k_w} \quad "
                          r"\text{for every } (i, j)")
def test_avgpool_grad(shape, k, s):
    x, y, dy, dx = pool_case(AvgPool2D(k, s), shape)
    expected = np.zeros_like(x)
    for n, p, q, c in np.ndindex(*y.shape):
        for i, j in np.ndindex(k, k):
            expected[n, p * s + i, q * s + j, c] += dy[n, p, q, c] / (k * k)
    close(dx, expected)


@equation("global-avgpool", r"y_{n,c} = \frac{1}{HW} \sum_{u,v} x_{n,u,v,c}")
def test_global_avgpool():
    x, y, _, _ = pool_case(GlobalAvgPool2D(), (2, 5, 4, 3))
    expected = np.zeros((2, 3))
    for n, c in np.ndindex(2, 3):
        expected[n, c] = 1 / (5 * 4) * sum(x[n, u, v, c] for u in range(5) for v in range(4))
    close(y, expected)


# == regularisation.md =========================================================================

BN_SHAPES = [(8, 5), (3, 4, 5, 6)]


def bn_case(shape, seed=0):
    layer = built(BatchNorm(momentum=0.1, eps=1e-5), shape[1:], seed)
    layer.params["gamma"][...] = rng(seed + 1).uniform(0.5, 2, shape[-1])
    layer.params["beta"][...] = rng(seed + 2).standard_normal(shape[-1])
    x = rng(seed + 3).standard_normal(shape) * 3 + 1
    y = layer.forward(x.copy(), training=True).copy()
    dy = rng(seed + 4).standard_normal(shape)
    dx = layer.backward(dy.copy())
    return layer, x, y, dy, dx


def channel_values(a, c):
    """The m values of channel c: every axis but the last."""
    return a[..., c].ravel()


def bn_page_stats(xr):
    m = len(xr)
    mu = 1 / m * sum(xr)
    var = 1 / m * sum((v - mu) ** 2 for v in xr)
    return m, mu, var


@pytest.mark.parametrize("shape", BN_SHAPES)
@equation("bn-stats", r"\mu = \frac{1}{m} \sum_{r=1}^{m} x_r , \qquad \sigma^2 = \frac{1}{m} "
                      r"\sum_{r=1}^{m} (x_r - \mu)^2")
def test_bn_stats(shape):
    layer, x, _, _, _ = bn_case(shape)
    for c in range(shape[-1]):
        m, mu, var = bn_page_stats(channel_values(x, c))
        assert m == int(np.prod(shape[:-1]))
        xhat = channel_values(layer._xhat.reshape(shape), c)      # (x - mu) / std, kept
        close(xhat.mean(), 0, 1e-12)
        close(1 / layer._inv_std[c] ** 2 - layer.eps, var, 1e-9)


@pytest.mark.parametrize("shape", BN_SHAPES)
@equation("bn-forward", r"\hat x_r = \frac{x_r - \mu}{\sqrt{\sigma^2 + \varepsilon}} , \qquad "
                        r"y_r = \gamma\, \hat x_r + \beta")
def test_bn_forward(shape):
    layer, x, y, _, _ = bn_case(shape)
    g, b, eps = layer.params["gamma"], layer.params["beta"], layer.eps
    for c in range(shape[-1]):
        xr = channel_values(x, c)
        _, mu, var = bn_page_stats(xr)
        xhat = (xr - mu) / np.sqrt(var + eps)
        close(channel_values(y, c), g[c] * xhat + b[c])


@pytest.mark.parametrize("shape", BN_SHAPES)
@equation("bn-running", r"\mu_\text{run} \leftarrow (1 - \rho)\, \mu_\text{run} + \rho\, \mu , "
                        r"\qquad \sigma^2_\text{run} \leftarrow (1 - \rho)\, \sigma^2_\text{run} "
                        r"+ \rho\, \frac{m}{m - 1}\, \sigma^2")
def test_bn_running(shape):
    layer, x, _, _, _ = bn_case(shape)                   # started from mean 0, variance 1
    rho = layer.momentum
    for c in range(shape[-1]):
        m, mu, var = bn_page_stats(channel_values(x, c))
        close(layer.buffers["running_mean"][c], (1 - rho) * 0 + rho * mu)
        close(layer.buffers["running_var"][c], (1 - rho) * 1 + rho * m / (m - 1) * var)


@pytest.mark.parametrize("shape", BN_SHAPES)
@equation("bn-inference", r"y = \gamma\, \frac{x - \mu_\text{run}}{\sqrt{\sigma^2_\text{run} + "
                          r"\varepsilon}} + \beta")
def test_bn_inference(shape):
    layer, x, _, _, _ = bn_case(shape)
    mu, var = layer.buffers["running_mean"], layer.buffers["running_var"]
    g, b = layer.params["gamma"], layer.params["beta"]
    for batch in (x, x[:1]):                              # the batch plays no part
        close(layer.forward(batch.copy(), training=False),
              g * (batch - mu) / np.sqrt(var + layer.eps) + b)


@pytest.mark.parametrize("shape", BN_SHAPES)
@equation("bn-grad-affine", r"\frac{\partial L}{\partial \beta} = \sum_{r=1}^{m} \delta y_r , "
                            r"\qquad \frac{\partial L}{\partial \gamma} = \sum_{r=1}^{m} "
                            r"\delta y_r\, \hat x_r")
def test_bn_grad_affine(shape):
    layer, x, _, dy, _ = bn_case(shape)
    for c in range(shape[-1]):
        xr, dyr = channel_values(x, c), channel_values(dy, c)
        _, mu, var = bn_page_stats(xr)
        xhat = (xr - mu) / np.sqrt(var + layer.eps)
        close(layer.grads["beta"][c], sum(dyr))
        close(layer.grads["gamma"][c], sum(dyr * xhat))


@pytest.mark.parametrize("shape", BN_SHAPES)
@equation("bn-grad-x", r"\frac{\partial L}{\partial x_r} = \frac{\gamma}{\sqrt{\sigma^2 + "
                       r"\varepsilon}} \Big( \delta y_r - \frac{1}{m} \sum_{s=1}^{m} \delta y_s "
                       r"- \hat x_r \, \frac{1}{m} \sum_{s=1}^{m} \delta y_s\, \hat x_s \Big)")
def test_bn_grad_x(shape):
    layer, x, _, dy, dx = bn_case(shape)
    g = layer.params["gamma"]
    for c in range(shape[-1]):
        xr, dyr = channel_values(x, c), channel_values(dy, c)
        m, mu, var = bn_page_stats(xr)
        xhat = (xr - mu) / np.sqrt(var + layer.eps)
        expected = g[c] / np.sqrt(var + layer.eps) * (
            dyr - 1 / m * sum(dyr) - xhat * 1 / m * sum(dyr * xhat))
        close(channel_values(dx, c), expected, 1e-9)


@equation("dropout", r"y = \frac{M \odot x}{1 - r} , \qquad \delta x = \frac{M \odot \delta y}"
                     r"{1 - r}")
def test_dropout():
    r, shape = 0.3, (200, 50)
    layer = built(Dropout(r), shape[1:])
    x = rng(1).uniform(0.5, 1.5, shape)                  # no zeros: M is where y != 0
    y = layer.forward(x.copy(), training=True).copy()
    M = (y != 0).astype(np.float64)
    close(y, M * x / (1 - r))
    assert abs(M.mean() - (1 - r)) < 0.02                 # each kept with probability 1 - r
    dy = rng(2).standard_normal(shape)
    close(layer.backward(dy.copy()), M * dy / (1 - r))
    close(layer.forward(x.copy(), training=False), x, 0)  # inference: the identity


def l2_case(lam=0.01, lr=0.1):
    W, b = rng().standard_normal((4, 3)), rng(1).standard_normal(3)
    gW, gb = rng(2).standard_normal((4, 3)), rng(3).standard_normal(3)
    W1, b1 = W.copy(), b.copy()
    opt = SGD([(W1, gW.copy(), True), (b1, gb.copy(), False)], lr, weight_decay=lam)
    opt.step()
    return W, b, gW, gb, W1, b1, lam, lr


@equation("l2-penalty", r"L_\text{total} = L + \frac{\lambda}{2} \sum_{W} \lVert W \rVert^2")
def test_l2_penalty():
    W, _, gW, _, W1, _, lam, lr = l2_case()
    Wp = W.copy()
    penalty_grad = numerical_gradient(lambda: lam / 2 * np.sum(Wp ** 2), Wp)
    added = (W - W1) / lr - gW                           # what the optimiser added to g
    close(added, penalty_grad, 1e-7)


@equation("l2-grad", r"g \leftarrow g + \lambda\, W")
def test_l2_grad():
    W, b, gW, gb, W1, b1, lam, lr = l2_case()
    g = gW + lam * W
    close(W1, W - lr * g)
    close(b1, b - lr * gb)                               # biases do not decay


# == optimisers.md =============================================================================

STEPS = 4


def grads(shape=(3, 4)):
    return [rng(10 + t).standard_normal(shape) for t in range(STEPS)]


def engine_steps(make, w0, gs):
    """Run the engine's optimizer over the gradients gs; the parameter after each step."""
    w, g = w0.copy(), np.zeros_like(w0)
    opt = make([(w, g, True)])
    out = []
    for gt in gs:
        g[...] = gt                                      # as a backward pass writes it
        opt.step()
        out.append(w.copy())
    return out


@equation("sgd", r"w \leftarrow w - \eta\, g")
def test_sgd():
    w0, gs, eta = rng().standard_normal((3, 4)), grads(), 0.1
    w = w0.copy()
    for got, g in zip(engine_steps(lambda p: SGD(p, eta), w0, gs), gs, strict=True):
        w = w - eta * g
        close(got, w)


@equation("momentum", r"v \leftarrow \mu\, v - \eta\, g , \qquad w \leftarrow w + v")
def test_momentum():
    w0, gs, eta, mu = rng().standard_normal((3, 4)), grads(), 0.1, 0.9
    w, v = w0.copy(), np.zeros_like(w0)
    for got, g in zip(engine_steps(lambda p: Momentum(p, eta, mu), w0, gs), gs, strict=True):
        v = mu * v - eta * g
        w = w + v
        close(got, w)


@equation("nesterov", r"v \leftarrow \mu\, v - \eta\, g , \qquad w \leftarrow w + \mu\, v - "
                      r"\eta\, g")
def test_nesterov():
    w0, gs, eta, mu = rng().standard_normal((3, 4)), grads(), 0.1, 0.9
    w, v = w0.copy(), np.zeros_like(w0)
    make = lambda p: Momentum(p, eta, mu, nesterov=True)     # noqa: E731
    for got, g in zip(engine_steps(make, w0, gs), gs, strict=True):
        v = mu * v - eta * g
        w = w + mu * v - eta * g
        close(got, w)


def adam_by_the_page(w0, gs, eta, b1, b2, eps, lam=0.0):
    w, m, v, out = w0.copy(), np.zeros_like(w0), np.zeros_like(w0), []
    for t, g in enumerate(gs, start=1):
        w = (1 - eta * lam) * w                          # adamw-decay (lam = 0: plain Adam)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g ** 2
        w = w - eta * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        out.append(w)
    return out


@equation("adam-moments", r"m \leftarrow \beta_1 m + (1 - \beta_1)\, g , \qquad v \leftarrow "
                          r"\beta_2 v + (1 - \beta_2)\, g^2")
def test_adam_moments():
    w0, gs = rng().standard_normal((3, 4)), grads()
    w, g = w0.copy(), np.zeros_like(w0)
    opt = Adam([(w, g, True)], 1e-3, beta1=0.8, beta2=0.99)
    m, v = np.zeros_like(w0), np.zeros_like(w0)
    for gt in gs:
        g[...] = gt
        opt.step()
        m = 0.8 * m + (1 - 0.8) * gt
        v = 0.99 * v + (1 - 0.99) * gt ** 2
        close(opt.m[0], m)
        close(opt.v[0], v)


@equation("adam-update", r"w \leftarrow w - \eta\, \frac{m / (1 - \beta_1^t)}{\sqrt{v / (1 - "
                         r"\beta_2^t)} + \varepsilon}")
def test_adam_update():
    w0, gs = rng().standard_normal((3, 4)), grads()
    got = engine_steps(lambda p: Adam(p, 0.01, beta1=0.8, beta2=0.99, eps=1e-8), w0, gs)
    close(got, adam_by_the_page(w0, gs, 0.01, 0.8, 0.99, 1e-8))


@equation("adamw-decay", r"w \leftarrow (1 - \eta\lambda)\, w")
def test_adamw_decay():
    w0, gs = rng().standard_normal((3, 4)), grads()
    make = lambda p: Adam(p, 0.01, weight_decay=0.1, decoupled=True)   # noqa: E731
    close(engine_steps(make, w0, gs), adam_by_the_page(w0, gs, 0.01, 0.9, 0.999, 1e-8, 0.1))


@equation("rmsprop", r"s \leftarrow \rho\, s + (1 - \rho)\, g^2 , \qquad w \leftarrow w - "
                     r"\eta\, \frac{g}{\sqrt{s} + \varepsilon}")
def test_rmsprop():
    w0, gs, eta, rho, eps = rng().standard_normal((3, 4)), grads(), 0.01, 0.9, 1e-8
    w, s = w0.copy(), np.zeros_like(w0)
    make = lambda p: RMSprop(p, eta, rho=rho, eps=eps)      # noqa: E731
    for got, g in zip(engine_steps(make, w0, gs), gs, strict=True):
        s = rho * s + (1 - rho) * g ** 2
        w = w - eta * g / (np.sqrt(s) + eps)
        close(got, w)


@equation("adagrad", r"s \leftarrow s + g^2 , \qquad w \leftarrow w - \eta\, \frac{g}"
                     r"{\sqrt{s} + \varepsilon}")
def test_adagrad():
    w0, gs, eta, eps = rng().standard_normal((3, 4)), grads(), 0.05, 1e-8
    w, s = w0.copy(), np.zeros_like(w0)
    for got, g in zip(engine_steps(lambda p: AdaGrad(p, eta, eps=eps), w0, gs), gs,
                      strict=True):
        s = s + g ** 2
        w = w - eta * g / (np.sqrt(s) + eps)
        close(got, w)


TIMES = [0, 0.3, 1, 2.5, 4.99, 5, 7.2, 9.9, 10]


@equation("schedule-step", r"\eta(t) = \eta_0\, \gamma^{\lfloor t / T \rfloor}")
def test_schedule_step():
    f = make_schedule("step", 0.1, 10, step_size=3, gamma=0.5)
    close([f(t) for t in TIMES], [0.1 * 0.5 ** math.floor(t / 3) for t in TIMES], 1e-15)


@equation("schedule-exponential", r"\eta(t) = \eta_0\, \gamma^{t}")
def test_schedule_exponential():
    f = make_schedule("exponential", 0.1, 10, gamma=0.8)
    close([f(t) for t in TIMES], [0.1 * 0.8 ** t for t in TIMES], 1e-15)


def cosine_by_the_page(t, eta0, eta_min, E, tw):
    clip = min(max((t - tw) / (E - tw), 0), 1)
    return eta_min + 1 / 2 * (eta0 - eta_min) * (1 + math.cos(math.pi * clip))


@equation("schedule-cosine", r"\eta(t) = \eta_\text{min} + \frac{1}{2}\,(\eta_0 - "
                             r"\eta_\text{min}) \Big(1 + \cos\big(\pi \operatorname{clip}"
                             r"\big(\tfrac{t - t_w}{E - t_w}, 0, 1\big)\big)\Big)")
def test_schedule_cosine():
    f = make_schedule("cosine", 0.1, 10, min_lr=0.001)
    close([f(t) for t in TIMES], [cosine_by_the_page(t, 0.1, 0.001, 10, 0) for t in TIMES],
          1e-15)
    assert f(0) == pytest.approx(0.1) and f(10) == pytest.approx(0.001)


@equation("schedule-warmup", r"\eta_\text{warm}(t) = \eta(t)\, \max\!\Big(\frac{t}{t_w},\ "
                             r"10^{-3}\Big) \quad \text{for } t < t_w")
def test_schedule_warmup():
    f = make_schedule("cosine", 0.1, 10, warmup=2)
    for t in TIMES:
        eta = cosine_by_the_page(t, 0.1, 0.0, 10, 2)
        close(f(t), eta * max(t / 2, 1e-3) if t < 2 else eta, 1e-15)


@equation("schedule-onecycle", r"\eta(t) = \begin{cases} c\big(\tfrac{\eta_0}{25}, \eta_0, "
                               r"\tfrac{t}{t_r}\big) & t < t_r \\ c\big(\eta_0, "
                               r"\tfrac{\eta_0}{25 \cdot 10^4}, \min(\tfrac{t - t_r}{E - t_r}, "
                               r"1)\big) & t \ge t_r \end{cases} , \qquad c(a, b, f) = b + "
                               r"\tfrac{1}{2}\,(a - b)\,(1 + \cos \pi f)")
def test_schedule_onecycle():
    f = make_schedule("onecycle", 0.1, 10, warmup=3)

    def c(a, b, frac):
        return b + 1 / 2 * (a - b) * (1 + math.cos(math.pi * frac))

    for t in TIMES:
        want = c(0.1 / 25, 0.1, t / 3) if t < 3 else c(0.1, 0.1 / (25 * 10**4),
                                                        min((t - 3) / (10 - 3), 1))
        close(f(t), want, 1e-15)


# == initialisation.md =========================================================================

@equation("init-variance", r"\operatorname{Var}(z) = n_\text{in}\, \operatorname{Var}(w)\, "
                           r"\mathbb{E}[x^2]")
def test_init_variance():
    # Through 8 He-initialised Dense + ReLU layers of the engine: each layer's
    # pre-activation variance is what the equation predicts, and so stays level.
    x = rng(1).standard_normal((4000, 256))
    variances = []
    for depth in range(8):
        layer = built(Dense(256, init="he"), (256,), seed=depth)
        layer.params["b"][...] = 0
        z = layer.forward(x, training=False)
        predicted = 256 * layer.params["W"].var() * np.mean(x ** 2)
        assert z.var() == pytest.approx(predicted, rel=0.2), depth    # width 256: noisy
        variances.append(z.var())
        x = np.maximum(z, 0)
    assert max(variances) / min(variances) < 1.5


FANS = [((784, 128), 784, 128), ((5, 5, 1, 32), 25, 800)]   # Dense; Conv2D (kh, kw, C, F)


def same_draw(fn, shape, fan_in, fan_out, seed=3):
    return fn(shape, fan_in, fan_out, rng(seed), np.float64), rng(seed)


def test_conv_fans_are_kernel_area_times_channels():
    layer = Conv2D(32, 5, init="he")
    layer.build((28, 28, 1), rng(3), np.float64)
    close(layer.params["W"], np.sqrt(2 / (5 * 5 * 1)) * rng(3).standard_normal((5, 5, 1, 32)))


@pytest.mark.parametrize("shape,fan_in,fan_out", FANS)
@equation("init-he-normal", r"W = \sqrt{\frac{2}{n_\text{in}}}\; Z")
def test_init_he_normal(shape, fan_in, fan_out):
    W, r = same_draw(init.he_normal, shape, fan_in, fan_out)
    close(W, np.sqrt(2 / fan_in) * r.standard_normal(shape))
    layer = built(Dense(shape[1]), (shape[0],), seed=3) if len(shape) == 2 else None
    if layer is not None:                                # what Dense(init="he") draws
        close(layer.params["W"], W)


@pytest.mark.parametrize("shape,fan_in,fan_out", FANS)
@equation("init-he-uniform", r"W \sim U(-a, a), \quad a = \sqrt{\frac{6}{n_\text{in}}}")
def test_init_he_uniform(shape, fan_in, fan_out):
    W, r = same_draw(init.he_uniform, shape, fan_in, fan_out)
    a = np.sqrt(6 / fan_in)
    close(W, r.uniform(-a, a, size=shape))


@pytest.mark.parametrize("shape,fan_in,fan_out", FANS)
@equation("init-xavier-uniform", r"W \sim U(-a, a), \quad a = \sqrt{\frac{6}{n_\text{in} + "
                                 r"n_\text{out}}}")
def test_init_xavier_uniform(shape, fan_in, fan_out):
    W, r = same_draw(init.xavier_uniform, shape, fan_in, fan_out)
    a = np.sqrt(6 / (fan_in + fan_out))
    close(W, r.uniform(-a, a, size=shape))
    assert W.var() == pytest.approx(2 / (fan_in + fan_out), rel=0.1)   # a^2 / 3


@pytest.mark.parametrize("shape,fan_in,fan_out", FANS)
@equation("init-xavier-normal", r"W = \sqrt{\frac{2}{n_\text{in} + n_\text{out}}}\; Z")
def test_init_xavier_normal(shape, fan_in, fan_out):
    W, r = same_draw(init.xavier_normal, shape, fan_in, fan_out)
    close(W, np.sqrt(2 / (fan_in + fan_out)) * r.standard_normal(shape))


@pytest.mark.parametrize("shape,fan_in,fan_out", FANS)
@equation("init-lecun-normal", r"W = \sqrt{\frac{1}{n_\text{in}}}\; Z")
def test_init_lecun_normal(shape, fan_in, fan_out):
    W, r = same_draw(init.lecun_normal, shape, fan_in, fan_out)
    close(W, np.sqrt(1 / fan_in) * r.standard_normal(shape))


@equation("central-difference", r"\frac{\partial f}{\partial x_i} \approx \frac{f(x + h\, e_i) - "
                                r"f(x - h\, e_i)}{2h}")
def test_central_difference():
    x, h = rng().standard_normal((3, 4)), 1e-6
    f = lambda: float(np.sum(np.sin(x) * x))             # noqa: E731
    expected = np.zeros_like(x)
    for i in np.ndindex(*x.shape):
        e = np.zeros_like(x)
        e[i] = 1
        expected[i] = (float(np.sum(np.sin(x + h * e) * (x + h * e)))
                       - float(np.sum(np.sin(x - h * e) * (x - h * e)))) / (2 * h)
    got = numerical_gradient(f, x, eps=h)
    close(got, expected, 1e-8)
    close(got, np.cos(x) * x + np.sin(x), 1e-8)          # and it is the derivative


@equation("gradcheck-objective", r"f(x) = \sum y(x) \odot R , \qquad \frac{\partial f}"
                                 r"{\partial y} = R")
def test_gradcheck_objective():
    layer = built(Dense(3), (4,), seed=5)
    x = rng(6).standard_normal((5, 4))
    errors = check_layer(layer, x, seed=7)
    R = rng(7).standard_normal((5, 3))                   # the fixed random projection
    f = lambda: float(np.sum(layer.forward(x, training=True) * R))    # noqa: E731
    layer.forward(x, training=True)
    dx = layer.backward(R.copy())                        # dL/dy = R
    assert errors["x"] == pytest.approx(rel_error(dx, numerical_gradient(f, x)), abs=1e-12)
    analytic = layer.grads["W"].copy()
    assert errors["W"] == pytest.approx(
        rel_error(analytic, numerical_gradient(f, layer.params["W"])), abs=1e-12)
    assert max(errors.values()) < 1e-7


@equation("rel-error", r"\operatorname{err}(a, b) = \max_i \frac{|a_i - b_i|}{\max\big(|a_i| + "
                       r"|b_i|,\ 10^{-8}\big)}")
def test_rel_error():
    a, b = rng().standard_normal(20), rng(1).standard_normal(20)
    a[:3] = b[:3] = 0                                    # the floor keeps 0/0 away
    expected = max(abs(a[i] - b[i]) / max(abs(a[i]) + abs(b[i]), 1e-8) for i in range(20))
    assert rel_error(a, b) == pytest.approx(expected, rel=1e-12)


# == reading.md ================================================================================

def page_image(h=90, w=120, noise=0.0, seed=0):
    """Dark strokes on paper lit unevenly, as grey levels 0-255 (H, W)."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    paper = 200 - 60 * xx - 30 * yy                      # light falling off to one corner
    levels = paper.copy()
    levels[20:70, 30:36] = 40                            # a 1
    levels[20:26, 60:95] = levels[20:70, 89:95] = 35     # a 7
    levels += rng(seed).normal(0, noise, levels.shape)
    return np.clip(levels, 0, 255).astype(np.float32)


@equation("ink-relative", r"r = \frac{x - b}{\max(1 - b,\ 0.05)}")
def test_ink_relative():
    from digitnet.imaging import images as im

    x = (255 - page_image()) / np.float32(255)           # ink bright
    b, r = im.remove_background(x)
    assert im.robust_std(x - b) <= im.NOISY              # not smoothed first: r is of x
    close(r, (x - b) / np.maximum(1 - b, 0.05), 1e-6)
    assert r[40, 32] > 0.6 and abs(np.median(r)) < 0.05  # ink stands out, paper near 0


@equation("robust-std", r"\hat\sigma = 1.4826 \operatorname{median}\big|\,r - "
                        r"\operatorname{median}(r)\,\big|")
def test_robust_std():
    from digitnet.imaging import images as im

    r = rng().normal(0, 0.02, (100, 100))
    r[:5] = 1                                            # 5% strokes barely move it
    expected = 1.4826 * np.median(np.abs(r - np.median(r)))
    close(im.robust_std(r), expected, 1e-12)
    assert expected == pytest.approx(0.02, rel=0.2)


@equation("ink-map", r"\text{floor} = \operatorname{median}(r) + 3\hat\sigma , \qquad "
                     r"\text{ink} = \operatorname{clip}\Big(\frac{r - \text{floor}}{\ell - "
                     r"\text{floor}},\ 0,\ 1\Big)")
def test_ink_map():
    from digitnet.imaging import images as im

    levels = page_image(noise=2.0)
    inkmap = im.ink_map(levels)
    assert inkmap.inverted                               # dark ink on light paper
    _, r = im.remove_background((255 - levels) / np.float32(255))
    sigma = 1.4826 * np.median(np.abs(r - np.median(r)))
    floor = np.median(r) + 3 * sigma
    strong = r[r > floor + max(sigma, im.MIN_CONTRAST / 2)]   # the clearly inked pixels
    level = np.percentile(strong, 90)                    # the stroke cores
    ink = np.clip((r - floor) / (level - floor), 0, 1)
    close(inkmap.ink, ink, 1e-5)
    assert np.array_equal(inkmap.mask, inkmap.ink >= 0.4)    # the confident ink


@pytest.mark.parametrize("h,w", [(60, 30), (30, 45)])
@equation("box-scale", r"s = \frac{20}{\max(h, w)}")
def test_box_scale(h, w):
    from digitnet.imaging import images as im

    ink = np.zeros((h + 8, w + 8), np.float32)
    ink[4:4 + h, 4:4 + w] = 1                            # a solid block: its box is h x w
    out = im.normalise_digit(ink, ink > 0)
    s = 20 / max(h, w)
    rows, cols = np.flatnonzero(out.any(axis=1)), np.flatnonzero(out.any(axis=0))
    assert (len(rows), len(cols)) == (round(h * s), round(w * s))
    assert max(len(rows), len(cols)) == 20


@equation("centre-of-mass", r"\bar u = \frac{\sum_{u,v} u\, I_{uv}}{\sum_{u,v} I_{uv}} , \qquad "
                            r"\bar v = \frac{\sum_{u,v} v\, I_{uv}}{\sum_{u,v} I_{uv}}")
def test_centre_of_mass():
    from digitnet.imaging import images as im

    I = rng().uniform(0, 1, (17, 11)) ** 3
    total = sum(I[u, v] for u in range(17) for v in range(11))
    ubar = sum(u * I[u, v] for u in range(17) for v in range(11)) / total
    vbar = sum(v * I[u, v] for u in range(17) for v in range(11)) / total
    close(im.centre_of_mass(I), (ubar, vbar), 1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
@equation("com-shift", r"\text{top} = \Big\lfloor 14 - \bar u + \tfrac{1}{2} \Big\rfloor , "
                       r"\qquad \text{left} = \Big\lfloor 14 - \bar v + \tfrac{1}{2} \Big\rfloor")
def test_com_shift(seed):
    from digitnet.imaging import images as im

    digit = rng(seed).uniform(0, 1, (20, 13)) ** (3 + seed)
    ubar, vbar = im.centre_of_mass(digit)
    top, left = math.floor(14 - ubar + 1 / 2), math.floor(14 - vbar + 1 / 2)
    expected = np.zeros((28, 28), np.float32)
    expected[top:top + 20, left:left + 13] = digit
    out = im.place_by_centre_of_mass(digit.astype(np.float32))
    assert np.array_equal(out, np.rint(expected * 255).astype(np.uint8))
    cu, cv = im.centre_of_mass(out.astype(np.float64))
    assert abs(cu - 14) <= 0.5 + 1e-3 and abs(cv - 14) <= 0.5 + 1e-3
