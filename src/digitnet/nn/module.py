"""The layer contract and the Sequential container.

Every layer is a :class:`Module`:

- ``params``: learnable arrays, updated in place by optimizers;
- ``grads``: same keys and shapes, *overwritten* (never accumulated) by each ``backward``;
- ``buffers``: non-learned state saved with the model (BatchNorm running statistics);
- ``forward(x, *, training)`` caches what ``backward`` needs and returns the output;
- ``backward(dy)`` fills ``grads`` and returns ``dx``. It may overwrite ``dy`` (it owns the
  upstream gradient), which saves a copy per layer in the hot loop.

Two flags, set by :class:`Sequential` when it builds the network, let layers skip work:
``needs_input_grad`` (False for the first layers: nothing upstream learns, so no ``dx``) and
``inplace`` (True when the layer may overwrite its input because nothing else will read it:
the input is not the caller's array and the layer that produced it does not keep it).
A layer says what it keeps with ``keeps_output``; a layer whose output is a view of its input
(Flatten) has ``aliases_input``. In training mode a layer's output may be a buffer reused by
its next training forward pass.

Layers are built lazily: ``build(input_shape, rng, dtype)`` receives the per-example input
shape (no batch axis), creates parameters and returns the output shape. This lets a user write
``Dense(128)`` without repeating the input size, as in Keras.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

Shape = tuple[int, ...]

LAYER_TYPES: dict[str, type[Module]] = {}


def register(cls: type[Module]) -> type[Module]:
    """Class decorator: make a layer type loadable from its JSON config by name."""
    LAYER_TYPES[cls.__name__] = cls
    return cls


class Module:
    """Base class of every layer (see the module docstring for the contract)."""

    #: parameter names that receive L2 weight decay (weights, not biases or BN affine terms)
    decay_keys: tuple[str, ...] = ()
    #: the layer reads its own output again in backward (so nobody may overwrite it)
    keeps_output = False
    #: the layer's output is a view of its input (writes to one are writes to the other)
    aliases_input = False
    #: an element-wise f with max(f(a), f(b)) = f(max(a, b)), gradients included (ReLU):
    #: a max-pool right after it may run first (see Sequential)
    commutes_with_max = False
    #: the layer takes the maximum over windows (MaxPool2D)
    is_max_pool = False

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        #: False when nothing upstream needs dx (the first layers of a network): backward
        #: may then skip computing it and return None.
        self.needs_input_grad = True
        #: True when forward may overwrite its input (decided by Sequential.build)
        self.inplace = False
        self.input_shape: Shape | None = None
        self.output_shape: Shape | None = None

    def build(
        self,
        input_shape: Shape,
        rng: np.random.Generator | None,
        dtype: np.dtype | type = np.float32,
    ) -> Shape:
        """Create parameters for per-example ``input_shape``; return the output shape.

        ``rng`` None: weights start at zero, not drawn (their values are loaded next)."""
        self.input_shape = tuple(int(d) for d in input_shape)
        self.output_shape = self.compute_output_shape(self.input_shape)
        return self.output_shape

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def forward(self, x: np.ndarray, *, training: bool) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments as JSON-compatible values (``type`` is added by the caller)."""
        return {}

    def describe(self) -> str:
        """A short human-readable name with the main settings, e.g. ``Conv2D 32 5x5``."""
        return type(self).__name__

    def fused_with(self, following: Module) -> Module | None:
        """A module computing this layer and ``following`` (the layer run right after it)
        as one step in training, or None (the default: run them one by one). Sequential
        asks when it builds; the fused module is only an execution plan: the layers, their
        parameters and everything saved stay as listed."""
        return None

    def _alloc_grads(self) -> None:
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Sequential(Module):
    """A stack of layers applied in order.

    Parameters
    ----------
    layers : sequence of Module
        The layers, first to last. The last layer produces logits (N, classes).
    input_shape : tuple of int, optional
        Per-example input shape such as ``(28, 28, 1)`` (channels-last images) or
        ``(784,)``; when given together with ``rng`` the network is built immediately.
    rng : np.random.Generator, optional
        Source of randomness for initialisation and dropout.
    dtype : numpy dtype
        float32 by default; gradient checks use float64.
    """

    def __init__(
        self,
        layers: Sequence[Module],
        input_shape: Shape | None = None,
        rng: np.random.Generator | None = None,
        dtype: np.dtype | type = np.float32,
    ) -> None:
        super().__init__()
        if not layers:
            raise ValueError("a Sequential model needs at least one layer, got none")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"layer {i} is not a Module, got {type(layer).__name__}")
        self.layers = list(layers)
        self.dtype = np.dtype(dtype)
        self.built = False
        #: free-form JSON-compatible metadata saved with the model (see digitnet.modelfile)
        self.meta: dict[str, Any] = {}
        #: the digitnet version that wrote the model file it was loaded from (None: made here)
        self.saved_with: str | None = None
        #: a network's input is data: no dx unless asked for (see backward)
        self.needs_input_grad = False
        if input_shape is not None:
            self.build(input_shape, rng if rng is not None else np.random.default_rng(0), dtype)

    def build(
        self,
        input_shape: Shape,
        rng: np.random.Generator | None,
        dtype: np.dtype | type = np.float32,
    ) -> Shape:
        self.dtype = np.dtype(dtype)
        self.input_shape = tuple(int(d) for d in input_shape)
        shape = self.input_shape
        for layer in self.layers:
            shape = layer.build(shape, rng, self.dtype)
        self.output_shape = shape
        self._mark_input_grads()
        self._run = self._execution_order()
        self._mark_inplace()
        self._flatten_parameters()
        self.built = True
        return shape

    def _execution_order(self) -> list[Module]:
        """The layers in the order forward runs them: a layer that commutes with a max (a
        ReLU) directly followed by a max-pool runs after it instead, on a quarter of the
        values (2x2 pools). Exact: max(relu(a), relu(b)) = relu(max(a, b)), and the
        gradient reaches the same input (the first maximum of a window whose maximum is
        positive; nothing otherwise). The layers declare it (``commutes_with_max``,
        ``is_max_pool``): this class knows no concrete layer."""
        run = list(self.layers)
        i = 0
        while i < len(run) - 1:
            if run[i].commutes_with_max and run[i + 1].is_max_pool:
                run[i], run[i + 1] = run[i + 1], run[i]
                i += 2
            else:
                i += 1
        # then pairs that a layer offers to compute as one step (fused_with)
        fused: list[Module] = []
        for layer in run:
            joint = fused[-1].fused_with(layer) if fused else None
            if joint is not None:
                fused[-1] = joint
            else:
                fused.append(layer)
        return fused

    def _mark_inplace(self) -> None:
        # The network's input belongs to the caller; after that, a layer's input may be
        # overwritten unless the layer that made it (looking through views) reads it again.
        owner_keeps = True
        for layer in self._run:
            layer.inplace = not owner_keeps
            if not layer.aliases_input:
                owner_keeps = layer.keeps_output

    def _flatten_parameters(self) -> None:
        """Move every parameter (and gradient) into one contiguous buffer, leaving each
        layer's ``params[key]`` (``grads[key]``) a view of its slice.

        Layers do not notice; optimizers do: an update over all parameters becomes a handful
        of whole-buffer operations instead of a few per array (tens of small NumPy calls per
        step for a CNN with batch norm). Slices start on 64-byte boundaries for BLAS.
        """
        entries = [(layer, key, p) for layer in self.layers for key, p in layer.params.items()]
        if not entries:
            return
        align = 64 // self.dtype.itemsize
        offsets, total = [], 0
        for _, _, p in entries:
            offsets.append(total)
            total += -(-p.size // align) * align
        flat_p = np.zeros(total, dtype=self.dtype)
        flat_g = np.zeros(total, dtype=self.dtype)
        for (layer, key, p), off in zip(entries, offsets, strict=True):
            view = flat_p[off : off + p.size].reshape(p.shape)
            view[...] = p
            layer.params[key] = view
            layer.grads[key] = flat_g[off : off + p.size].reshape(p.shape)
        self.flat_params, self.flat_grads = flat_p, flat_g

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickled or deep-copied: NumPy copied each layer's parameter views on their own,
        so they are moved back into new flat buffers, as :meth:`build` leaves them (an
        optimizer made afterwards updates the layers' own arrays)."""
        self.__dict__.update(state)
        if getattr(self, "flat_params", None) is not None:
            self._flatten_parameters()

    def flat_buffers(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The two 1-D buffers holding every parameter and every gradient (each layer's
        arrays are views into them), for optimizers to update in one go; None without
        parameters."""
        if getattr(self, "flat_params", None) is None:
            return None
        return self.flat_params, self.flat_grads

    def _mark_input_grads(self) -> None:
        # Layers up to and including the first one with parameters never need dx: nothing
        # upstream of them learns. Skipping it saves the largest matmul of an MLP's backward.
        first = next((i for i, layer in enumerate(self.layers) if layer.params), None)
        for i, layer in enumerate(self.layers):
            layer.needs_input_grad = self.needs_input_grad or (first is not None and i > first)
        self._first_param_layer = first

    def _backward_stop(self) -> int | None:
        """Where back-propagation stops in the run order: the step holding the first layer
        with parameters (0 when the network's own dx is wanted; None: no parameters)."""
        if self.needs_input_grad:
            return 0
        if self._first_param_layer is None:
            return None
        first = self.layers[self._first_param_layer]
        for i, step in enumerate(self._run):
            if step is first or first in getattr(step, "parts", ()):
                return i
        raise AssertionError("the first layer with parameters is not in the run order")

    def forward(self, x: np.ndarray, *, training: bool) -> np.ndarray:
        """(N, *input_shape) -> (N, *output_shape), an array of the caller's own.

        Layers may return scratch buffers that their next training pass reuses; the
        network's output is copied out of them (a small (N, classes) copy), so an earlier
        result never changes under the caller."""
        out = x
        for layer in self._run:
            out = layer.forward(out, training=training)
        if training or np.may_share_memory(out, x):
            out = out.copy()
        return out

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        """(N, *output_shape) -> dx (N, *input_shape), or None; fills every layer's
        ``grads``.

        As for every layer, dx is computed only when ``needs_input_grad`` is True. A network
        is built with it False (its input is data: nothing upstream learns), so
        back-propagation stops at the first layer with parameters and None is returned; set
        it True before ``build`` (e.g. for input saliency, or a Sequential nested in another
        one) to get dx.
        """
        stop = self._backward_stop()
        if stop is None:
            return None
        grad: np.ndarray | None = dy
        for layer in reversed(self._run[stop:]):
            assert grad is not None  # only the first layer run may skip dx, and it runs last
            grad = layer.backward(grad)
        return grad

    # -- parameters -------------------------------------------------------------------------

    def named_parameters(self) -> Iterator[tuple[str, np.ndarray, np.ndarray, bool]]:
        """Yield ``(name, param, grad, decays)`` in a fixed order; ``decays`` marks weights."""
        for i, layer in enumerate(self.layers):
            for key, p in layer.params.items():
                yield f"layers.{i}.{key}", p, layer.grads[key], key in layer.decay_keys

    def named_buffers(self) -> Iterator[tuple[str, np.ndarray]]:
        for i, layer in enumerate(self.layers):
            for key, b in layer.buffers.items():
                yield f"layers.{i}.{key}", b

    def num_parameters(self) -> int:
        return int(sum(p.size for _, p, _, _ in self.named_parameters()))

    def state_dict(self) -> dict[str, np.ndarray]:
        """All parameters and buffers by name (the arrays themselves, not copies)."""
        state = {name: p for name, p, _, _ in self.named_parameters()}
        state.update(self.named_buffers())
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy arrays into the built model; names and shapes must match exactly."""
        own = self.state_dict()
        missing = sorted(set(own) - set(state))
        extra = sorted(set(state) - set(own))
        if missing or extra:
            raise ValueError(
                f"state does not match the model: missing {missing}, unexpected {extra}"
            )
        for name, arr in own.items():
            src = state[name]
            if src.shape != arr.shape:
                raise ValueError(
                    f"{name}: shape {src.shape} does not match the model's {arr.shape}"
                )
            arr[...] = src

    def copy_state(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self.state_dict().items()}

    # -- inference ---------------------------------------------------------------------------

    def predict_logits(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Network outputs in inference mode, in batches. (N, ...) -> (N, classes)."""
        x = np.asarray(x)
        if x.shape[0] == 0:
            return np.zeros((0,) + tuple(self.output_shape or ()), dtype=self.dtype)
        outs = [
            self.forward(x[i : i + batch_size].astype(self.dtype, copy=False), training=False)
            for i in range(0, x.shape[0], batch_size)
        ]
        return np.concatenate(outs) if len(outs) > 1 else outs[0].copy()

    def predict_proba(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Class probabilities, (N, ...) -> (N, classes), rows summing to 1."""
        from digitnet.nn.losses import softmax

        out = self.predict_logits(x, batch_size)
        kind = getattr(self.layers[-1], "output_kind", "logits")
        if kind == "probabilities":
            return out
        if kind == "sigmoid":  # independent sigmoid outputs (MSE-trained): normalise
            return out / np.maximum(out.sum(axis=1, keepdims=True), 1e-12)
        return softmax(out)

    def predict(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Predicted class indices, (N, ...) -> (N,) int64."""
        return self.predict_logits(x, batch_size).argmax(axis=1)

    # -- description -------------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        return {
            "input_shape": list(self.input_shape or ()),
            "layers": [layer_to_config(layer) for layer in self.layers],
        }

    @classmethod
    def from_config(
        cls,
        config: dict[str, Any],
        rng: np.random.Generator | None = None,
        dtype: np.dtype | type = np.float32,
        *,
        initialise: bool = True,
    ) -> Sequential:
        """The network described by ``config`` (:meth:`get_config`), built.

        ``initialise=False`` leaves the weights at zero instead of drawing them (``rng``
        is then unused): for a model whose weights are loaded next
        (:func:`digitnet.modelfile.load_model`), where random draws would only be
        overwritten."""
        layers = [layer_from_config(c) for c in config["layers"]]
        model = cls(layers)
        shape = tuple(config["input_shape"])
        model.build(shape, (rng or np.random.default_rng(0)) if initialise else None, dtype)
        return model

    def summary(self) -> str:
        """A table of layers, output shapes and parameter counts."""
        rows = [f" #  {'layer':<32}{'output shape':<16}{'params':>10}"]
        for i, layer in enumerate(self.layers):
            n = sum(p.size for p in layer.params.values())
            rows.append(f"{i:>2}  {layer.describe():<32}{str(layer.output_shape):<16}{n:>10,}")
        rows.append(f"    {'total':<48}{self.num_parameters():>10,}")
        return "\n".join(rows)

    def __repr__(self) -> str:
        return "Sequential(\n" + "".join(f"  {layer!r},\n" for layer in self.layers) + ")"


def layer_to_config(layer: Module) -> dict[str, Any]:
    return {"type": type(layer).__name__, **layer.get_config()}


def layer_from_config(config: dict[str, Any]) -> Module:
    """Rebuild a layer from ``{"type": name, **constructor_args}``."""
    if not isinstance(config, dict) or "type" not in config:
        raise ValueError(f"a layer config must be a mapping with a 'type', got {config!r}")
    args = dict(config)
    name = args.pop("type")
    try:
        cls = LAYER_TYPES[name]
    except KeyError:
        raise ValueError(f"unknown layer type {name!r}") from None
    return cls(**args)
