"""Optional parity with PyTorch's CPU kernels: forward outputs and gradients of conv, pooling,
batch norm, dense and the loss agree within stated tolerances (float64, so the tolerance
measures algorithmic agreement, not float32 rounding). Skipped when torch is absent."""

from __future__ import annotations

import numpy as np
import pytest

from digitnet.nn import (
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    GlobalAvgPool2D,
    MaxPool2D,
    softmax_cross_entropy,
)

torch = pytest.importorskip("torch", reason="PyTorch is not installed (optional parity tests)")
F = torch.nn.functional

RTOL, ATOL = 1e-9, 1e-10  # float64 on both sides


def nchw(x):
    """Our NHWC -> torch's NCHW."""
    return torch.tensor(np.ascontiguousarray(x.transpose(0, 3, 1, 2)), requires_grad=True)


def nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


def close(a, b):
    return np.allclose(a, b, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize(
    "k,s,p", [(3, 1, 0), (3, 1, 1), (5, 1, 2), (5, 2, 2), (3, 2, 0), (2, 1, 0)]
)
def test_conv2d(k, s, p):
    rng = np.random.default_rng(0)
    layer = Conv2D(5, k, s, p)
    layer.build((9, 10, 3), rng, np.float64)
    layer.needs_input_grad = True
    layer.params["b"][...] = rng.standard_normal(5)
    x = rng.standard_normal((4, 9, 10, 3))
    y = layer.forward(x, training=True)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy.copy())
    tx = nchw(x)
    tw = torch.tensor(layer.params["W"].transpose(3, 2, 0, 1).copy(), requires_grad=True)
    tb = torch.tensor(layer.params["b"].copy(), requires_grad=True)
    ty = F.conv2d(tx, tw, tb, stride=s, padding=p)
    ty.backward(torch.tensor(dy.transpose(0, 3, 1, 2).copy()))
    assert close(y, nhwc(ty))
    assert close(dx, nhwc(tx.grad))
    assert close(layer.grads["W"], tw.grad.numpy().transpose(2, 3, 1, 0))
    assert close(layer.grads["b"], tb.grad.numpy())


@pytest.mark.parametrize(
    "cls,fn,size,stride",
    [
        (MaxPool2D, F.max_pool2d, 2, 2),
        (MaxPool2D, F.max_pool2d, 3, 2),
        (AvgPool2D, F.avg_pool2d, 2, 2),
        (AvgPool2D, F.avg_pool2d, 3, 1),
    ],
)
def test_pooling(cls, fn, size, stride):
    rng = np.random.default_rng(1)
    layer = cls(size, stride)
    layer.build((8, 7, 3), rng, np.float64)
    x = rng.standard_normal((2, 8, 7, 3))
    y = layer.forward(x, training=True)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy.copy())
    tx = nchw(x)
    ty = fn(tx, size, stride)
    ty.backward(torch.tensor(dy.transpose(0, 3, 1, 2).copy()))
    assert close(y, nhwc(ty)) and close(dx, nhwc(tx.grad))


def test_global_average_pooling():
    rng = np.random.default_rng(2)
    layer = GlobalAvgPool2D()
    layer.build((4, 5, 3), rng, np.float64)
    x = rng.standard_normal((2, 4, 5, 3))
    tx = nchw(x)
    ty = tx.mean(dim=(2, 3))
    dy = rng.standard_normal((2, 3))
    ty.backward(torch.tensor(dy))
    assert close(layer.forward(x, training=True), ty.detach().numpy())
    assert close(layer.backward(dy.copy()), nhwc(tx.grad))


@pytest.mark.parametrize("shape", [(6,), (5, 4, 3)])
def test_batchnorm_training_and_inference(shape):
    rng = np.random.default_rng(3)
    layer = BatchNorm(momentum=0.1, eps=1e-5)
    layer.build(shape, rng, np.float64)
    layer.needs_input_grad = True
    c = shape[-1]
    layer.params["gamma"][...] = rng.standard_normal(c)
    layer.params["beta"][...] = rng.standard_normal(c)
    x = rng.standard_normal((8,) + shape) * 2 + 0.5
    bn = torch.nn.BatchNorm1d(c) if len(shape) == 1 else torch.nn.BatchNorm2d(c)
    bn = bn.double()
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(layer.params["gamma"]))
        bn.bias.copy_(torch.tensor(layer.params["beta"]))
    tx = torch.tensor(x if len(shape) == 1 else x.transpose(0, 3, 1, 2).copy(), requires_grad=True)
    back = (lambda t: t.detach().numpy()) if len(shape) == 1 else nhwc
    y = layer.forward(x, training=True)
    ty = bn(tx)
    dy = rng.standard_normal(y.shape)
    ty.backward(torch.tensor(dy if len(shape) == 1 else dy.transpose(0, 3, 1, 2).copy()))
    dx = layer.backward(dy.copy())
    assert close(y, back(ty)) and close(dx, back(tx.grad))
    assert close(layer.grads["gamma"], bn.weight.grad.numpy())
    assert close(layer.grads["beta"], bn.bias.grad.numpy())
    assert close(layer.buffers["running_mean"], bn.running_mean.numpy())
    assert close(layer.buffers["running_var"], bn.running_var.numpy())
    bn.eval()
    assert close(layer.forward(x, training=False), back(bn(tx)))


def test_dense_and_cross_entropy():
    rng = np.random.default_rng(4)
    layer = Dense(7)
    layer.build((5,), rng, np.float64)
    layer.needs_input_grad = True
    x = rng.standard_normal((6, 5))
    labels = rng.integers(0, 7, 6)
    z = layer.forward(x, training=True)
    loss, dz = softmax_cross_entropy(z, labels, 0.1)
    dx = layer.backward(dz.copy())
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(layer.params["W"].T.copy(), requires_grad=True)
    tb = torch.tensor(layer.params["b"].copy(), requires_grad=True)
    tl = F.cross_entropy(F.linear(tx, tw, tb), torch.tensor(labels), label_smoothing=0.1)
    tl.backward()
    assert np.isclose(loss, tl.item(), rtol=RTOL)
    assert close(dx, tx.grad.numpy()) and close(layer.grads["W"], tw.grad.numpy().T)
