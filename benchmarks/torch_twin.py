"""A PyTorch twin of a digitnet model, built from the model's config, so it always has the same
architecture as the model it is compared with.

Layout: digitnet images are channels-last (N, H, W, C), PyTorch's are (N, C, H, W). The
twin takes MNIST as (N, 1, 28, 28), which is the same memory as digitnet's (N, 28, 28, 1).
Weights are mapped when copied: Conv2D (kH, kW, C_in, C_out) -> (C_out, C_in, kH, kW), Dense
(D_in, D_out) -> (D_out, D_in), and a Dense (or BatchNorm) after a Flatten of a feature map has
its inputs reordered, since digitnet flattens (H, W, C) and PyTorch (C, H, W).

:func:`verify` proves the two compute the same function: after copying the weights, the
inference logits, training-mode logits, loss, every parameter gradient and the batch-norm
running statistics agree in float64 (dropout set to 0 for that check only, since the two
frameworks draw different masks), and the float32 twin used for timing agrees with the
float32 model.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from flops import _pair, conv_padding, propagate
from torch import nn

CONV_TYPES = ("Conv2D", "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D")
F64_TOL = 1e-9  # float64: agreement of the algorithms, not of rounding
F32_TOL = 1e-4  # float32: the instances that are timed


class TwinError(Exception):
    """The model has a layer (or setting) that has no PyTorch twin here."""


@dataclass
class Link:
    """One digitnet array and the twin tensor it maps to."""

    layer: int  # digitnet layer index
    source: str  # "params" or "buffers"
    key: str  # digitnet name: W, b, gamma, beta, running_mean, running_var
    module: int  # index in the twin's nn.Sequential
    attr: str  # torch name: weight, bias, running_mean, running_var
    to_torch: Callable[[np.ndarray], np.ndarray]
    from_torch: Callable[[np.ndarray], np.ndarray]
    decays: bool = False  # L2 weight decay applies (digitnet's decay_keys: weights)

    def tensor(self, twin: nn.Sequential) -> torch.Tensor:
        return getattr(twin[self.module], self.attr)


@dataclass
class Twin:
    net: nn.Sequential
    links: list[Link]
    input_shape: tuple[int, ...]  # per example, as PyTorch wants it: (1, 28, 28)


def _same(a: np.ndarray) -> np.ndarray:
    return a


def _permuted_rows(perm: np.ndarray | None):
    """Maps for a vector indexed by flat features: torch feature j is digitnet's perm[j]."""
    if perm is None:
        return _same, _same

    def to_t(a):
        return a[perm]

    def from_t(a):
        out = np.empty_like(a)
        out[perm] = a
        return out

    return to_t, from_t


def _dense_maps(perm: np.ndarray | None):
    """digitnet W (D_in, D_out) <-> torch weight (D_out, D_in), rows reordered after a
    Flatten of a feature map."""
    rows_t, rows_f = _permuted_rows(perm)
    return (lambda a: rows_t(a).T), (lambda a: rows_f(a.T))


def build(config: dict[str, Any]) -> Twin:
    """The twin of a digitnet ``Sequential`` config (float32, PyTorch's default init: copy
    the weights with :func:`copy_weights` to start from the same point)."""
    shapes = propagate(config)
    conv_like = any(ls.type in CONV_TYPES for ls in shapes)
    in_shape = shapes[0].input_shape if shapes else tuple(config["input_shape"])
    if conv_like:
        h, w, c = in_shape
        if c != 1:
            raise TwinError(f"only one-channel image input is supported, got {in_shape}")
        torch_in: tuple[int, ...] = (c, h, w)
    else:
        torch_in = tuple(in_shape)
    channels_first = conv_like  # the torch tensor is the NCHW transpose of digitnet's
    modules: list[nn.Module] = []
    links: list[Link] = []
    perm: np.ndarray | None = None

    def link(i, source, key, attr, maps=(_same, _same), decays=False):
        links.append(Link(i, source, key, len(modules), attr, maps[0], maps[1], decays))

    for ls in shapes:
        c, i, kind = ls.config, ls.index, ls.type
        if kind == "Conv2D":
            k, s = _pair(c["kernel_size"]), _pair(c.get("stride", 1))
            link(
                i,
                "params",
                "W",
                "weight",
                (lambda a: a.transpose(3, 2, 0, 1), lambda a: a.transpose(2, 3, 1, 0)),
                True,
            )
            if c.get("bias", True):
                link(i, "params", "b", "bias")
            modules.append(
                nn.Conv2d(
                    ls.input_shape[-1],
                    int(c["filters"]),
                    k,
                    s,
                    conv_padding(c.get("padding", "valid"), k),
                    bias=bool(c.get("bias", True)),
                )
            )
        elif kind == "Dense":
            link(i, "params", "W", "weight", _dense_maps(perm), True)
            if c.get("bias", True):
                link(i, "params", "b", "bias")
            modules.append(
                nn.Linear(ls.input_shape[0], int(c["units"]), bias=bool(c.get("bias", True)))
            )
            perm = None
        elif kind == "BatchNorm":
            if len(ls.input_shape) == 3:
                if not channels_first:
                    raise TwinError("BatchNorm on an image input without convolutions")
                bn: nn.Module = nn.BatchNorm2d(
                    ls.input_shape[-1], eps=c["eps"], momentum=c["momentum"]
                )
                maps = (_same, _same)
            else:
                bn = nn.BatchNorm1d(ls.input_shape[0], eps=c["eps"], momentum=c["momentum"])
                maps = _permuted_rows(perm)
            for source, key, attr in (
                ("params", "gamma", "weight"),
                ("params", "beta", "bias"),
                ("buffers", "running_mean", "running_mean"),
                ("buffers", "running_var", "running_var"),
            ):
                link(i, source, key, attr, maps)
            modules.append(bn)
        elif kind == "Flatten":
            if len(ls.input_shape) == 3 and channels_first:
                hh, ww, cc = ls.input_shape
                # torch flattens (C, H, W): its feature j is digitnet's (H, W, C) feature perm[j]
                perm = np.arange(hh * ww * cc).reshape(hh, ww, cc).transpose(2, 0, 1).ravel()
            modules.append(nn.Flatten())
        elif kind in ("MaxPool2D", "AvgPool2D"):
            k = _pair(c.get("pool_size", 2))
            s = _pair(c.get("stride") or k)
            modules.append(nn.MaxPool2d(k, s) if kind == "MaxPool2D" else nn.AvgPool2d(k, s))
        elif kind == "GlobalAvgPool2D":
            modules += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        else:
            modules.append(_simple_layer(kind, c))
    return Twin(nn.Sequential(*modules), links, torch_in)


def _simple_layer(kind: str, c: dict[str, Any]) -> nn.Module:
    if kind == "ReLU":
        return nn.ReLU()
    if kind == "Sigmoid":
        return nn.Sigmoid()
    if kind == "Tanh":
        return nn.Tanh()
    if kind == "LeakyReLU":
        return nn.LeakyReLU(c.get("alpha", 0.01))
    if kind == "Softmax":
        return nn.Softmax(dim=1)
    if kind == "Dropout":
        return nn.Dropout(c["rate"])
    raise TwinError(f"no PyTorch twin for layer type {kind!r}")


def copy_weights(model, twin: Twin) -> None:
    """Copy every parameter and buffer of the digitnet ``model`` into the twin."""
    with torch.no_grad():
        for ln in twin.links:
            src = getattr(model.layers[ln.layer], ln.source)[ln.key]
            dst = ln.tensor(twin.net)
            val = np.ascontiguousarray(ln.to_torch(src))
            if tuple(val.shape) != tuple(dst.shape):
                raise TwinError(
                    f"layer {ln.layer} {ln.key}: shape {val.shape} does not map "
                    f"onto the twin's {tuple(dst.shape)}"
                )
            dst.copy_(torch.from_numpy(val).to(dst.dtype))
    covered = {id(ln.tensor(twin.net)) for ln in twin.links if ln.source == "params"}
    missing = [n for n, p in twin.net.named_parameters() if id(p) not in covered]
    if missing:
        raise TwinError(f"twin parameters with no digitnet counterpart: {missing}")


def to_torch_input(x: np.ndarray, twin: Twin) -> torch.Tensor:
    """digitnet input (N, *model.input_shape) -> the twin's (N, *twin.input_shape), no copy
    (one-channel images: (N, 28, 28, 1) and (N, 1, 28, 28) are the same memory)."""
    return torch.from_numpy(np.ascontiguousarray(x)).view(x.shape[0], *twin.input_shape)


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-30)) if a.size else 0.0


def _no_dropout(config: dict[str, Any]) -> dict[str, Any]:
    cfg = copy.deepcopy(config)
    for layer in cfg["layers"]:
        if layer["type"] == "Dropout":
            layer["rate"] = 0.0
    return cfg


def verify(model, twin32: Twin, images: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Check the twin against the model on a batch of uint8 ``images`` (N, 28, 28).

    float64 (dropout off): inference logits, training logits, loss, all parameter gradients
    and the batch-norm running statistics after one training forward, each within a
    relative error of ``F64_TOL``. float32: ``twin32`` (weights already copied) gives the
    model's inference logits within ``F32_TOL``. Returns the errors and ``ok``.
    """
    from digitnet.nn import Sequential, softmax_cross_entropy

    cfg = _no_dropout(model.get_config())
    m64 = Sequential.from_config(cfg, dtype=np.float64)
    for dst, src in zip(m64.layers, model.layers, strict=True):
        for group in ("params", "buffers"):
            for key, arr in getattr(src, group).items():
                getattr(dst, group)[key][...] = arr
    t64 = build(cfg)
    t64.net.double()
    copy_weights(m64, t64)
    x = (images.astype(np.float64) / 255.0).reshape((len(images),) + tuple(model.input_shape))
    xt = to_torch_input(x, t64)
    yt = torch.from_numpy(np.array(labels, dtype=np.int64))
    err: dict[str, float] = {}

    t64.net.eval()
    with torch.no_grad():
        err["f64_eval_logits"] = _rel(m64.forward(x, training=False), t64.net(xt).numpy())
    t64.net.train()
    out = m64.forward(x, training=True).copy()  # backward may reuse the engine's arrays
    loss, dz = softmax_cross_entropy(out, labels)
    m64.backward(dz)
    tout = t64.net(xt)
    tloss = F.cross_entropy(tout, yt)
    tloss.backward()
    err["f64_train_logits"] = _rel(out, tout.detach().numpy())
    err["f64_loss"] = abs(loss - tloss.item()) / max(abs(tloss.item()), 1e-30)
    grads, stats = 0.0, 0.0
    for ln in t64.links:
        layer = m64.layers[ln.layer]
        t = ln.tensor(t64.net)
        if ln.source == "params":
            grads = max(grads, _rel(layer.grads[ln.key], ln.from_torch(t.grad.numpy())))
        else:
            stats = max(stats, _rel(layer.buffers[ln.key], ln.from_torch(t.numpy())))
    err["f64_grads"] = grads
    err["f64_running_stats"] = stats

    twin32.net.eval()
    x32 = x.astype(np.float32)
    with torch.no_grad():
        err["f32_eval_logits"] = _rel(
            model.predict_logits(x32), twin32.net(to_torch_input(x32, twin32)).numpy()
        )
    ok = all(v <= (F32_TOL if k.startswith("f32") else F64_TOL) for k, v in err.items())
    return {
        "ok": ok,
        "examples": len(images),
        "max_rel_error": err,
        "tolerance": {"float64": F64_TOL, "float32": F32_TOL},
    }


# -- training and inference loops ----------------------------------------------------------


def make_optimizer(
    twin: Twin,
    optimizer: str,
    lr: float,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
) -> torch.optim.Optimizer:
    """The PyTorch counterpart of a digitnet optimizer; L2 decay on weights only, as digitnet
    does (its ``decay_keys``); ``betas`` for Adam."""
    params = [(ln.tensor(twin.net), ln.decays) for ln in twin.links if ln.source == "params"]
    groups = [
        {"params": [p for p, d in params if d], "weight_decay": weight_decay},
        {"params": [p for p, d in params if not d], "weight_decay": 0.0},
    ]
    groups = [g for g in groups if g["params"]]
    if optimizer in ("sgd", "momentum", "nesterov"):
        return torch.optim.SGD(
            groups,
            lr=lr,
            momentum=0.0 if optimizer == "sgd" else momentum,
            nesterov=optimizer == "nesterov",
        )
    if optimizer == "adam":
        return torch.optim.Adam(groups, lr=lr, betas=tuple(betas))
    if optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas))
    raise TwinError(f"no PyTorch counterpart for optimizer {optimizer!r} here")


def train_epoch(
    twin: Twin,
    opt: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    order: Callable[[], torch.Tensor],
    lr_at: Callable[[float], float] | None = None,
    label_smoothing: float = 0.0,
    digitnet_momentum: bool = False,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> dict[str, float]:
    """One epoch, the same work as digitnet's trainer: a shuffled order, then per batch a
    gather from the uint8 images, /255 to float32, forward, cross-entropy, backward, step.

    images : (N, 28, 28) uint8 tensor; labels : (N,) int64 tensor.
    order : returns the epoch's permutation (called inside the timed region, as digitnet
    draws its permutation inside its timed epoch).
    lr_at : learning rate as a function of the fraction of the epoch done (schedules).
    augment : distorts each batch, (B, 28, 28) float32 in [0, 1] -> the same (a recipe with
    augmentation replays digitnet's batched augmenter, so both pay the same for it).
    digitnet_momentum : when the learning rate changes, rescale the momentum buffers by
    old/new. PyTorch's SGD keeps b = mu b + g and steps -lr b; digitnet keeps the velocity
    v = mu v - lr g. The two agree while lr is constant (v = -lr b); the rescale keeps
    v = -lr b true across changes, so PyTorch then follows digitnet's update exactly (also
    with Nesterov). Costs one small in-place multiply per parameter per step.
    """
    import math
    import time

    net = twin.net
    net.train()
    n = images.shape[0]
    steps = math.ceil(n / batch_size)
    total = 0.0
    start = time.perf_counter()
    perm = order()
    for step in range(steps):
        idx = perm[step * batch_size : (step + 1) * batch_size]
        xb = images[idx].to(torch.float32).div_(255.0)
        if augment is not None:
            xb = augment(xb)
        xb = xb.view(-1, *twin.input_shape)
        yb = labels[idx]
        if lr_at is not None:
            lr = lr_at(step / steps)
            for g in opt.param_groups:
                if digitnet_momentum and g["lr"] != lr and lr > 0:
                    scale = g["lr"] / lr
                    for p in g["params"]:
                        buf = opt.state[p].get("momentum_buffer") if p in opt.state else None
                        if buf is not None:
                            buf.mul_(scale)
                g["lr"] = lr
        out = net(xb)
        loss = F.cross_entropy(out, yb, label_smoothing=label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        value = loss.item()
        if not math.isfinite(value):
            raise FloatingPointError(f"PyTorch training diverged at batch {step + 1}")
        total += value * idx.shape[0]
    return {"seconds": time.perf_counter() - start, "train_loss": total / n}


def predict_logits(twin: Twin, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Inference in batches (eval mode, inference_mode), like digitnet's predict_logits."""
    net = twin.net
    net.eval()
    with torch.inference_mode():
        outs = [net(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)]
        return torch.cat(outs) if len(outs) > 1 else outs[0]


def accuracy(twin: Twin, x: torch.Tensor, labels: np.ndarray) -> float:
    pred = predict_logits(twin, x).argmax(dim=1).numpy()
    return float((pred == np.asarray(labels)).mean())
