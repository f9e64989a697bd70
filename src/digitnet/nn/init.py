"""Weight initialisers.

Each takes the weight shape, the fan-in and fan-out, a ``np.random.Generator`` and a dtype,
and returns a new array. For a dense layer the shape is ``(fan_in, fan_out)``; for a
convolution ``(C_out, C_in, kH, kW)`` with ``fan_in = C_in*kH*kW`` and
``fan_out = C_out*kH*kW``.

- He (Kaiming) normal: ``N(0, 2 / fan_in)`` keeps the activation variance constant through
  ReLU layers (He et al. 2015).
- Xavier/Glorot uniform: ``U(-a, a)`` with ``a = sqrt(6 / (fan_in + fan_out))``, for tanh and
  sigmoid (Glorot & Bengio 2010).
- Scaled normal: ``N(0, 1 / fan_in)`` (LeCun), the "improved" initialisation of the classic
  sigmoid network; ``normal`` with an explicit std is also available.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Initializer = Callable[[tuple[int, ...], int, int, np.random.Generator, np.dtype], np.ndarray]


def he_normal(shape, fan_in, fan_out, rng, dtype=np.float32):
    """He/Kaiming normal: std = sqrt(2 / fan_in)."""
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


def he_uniform(shape, fan_in, fan_out, rng, dtype=np.float32):
    """He/Kaiming uniform: U(-a, a), a = sqrt(6 / fan_in)."""
    a = np.sqrt(6.0 / fan_in)
    return rng.uniform(-a, a, size=shape).astype(dtype)


def xavier_uniform(shape, fan_in, fan_out, rng, dtype=np.float32):
    """Xavier/Glorot uniform: U(-a, a), a = sqrt(6 / (fan_in + fan_out))."""
    a = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, size=shape).astype(dtype)


def xavier_normal(shape, fan_in, fan_out, rng, dtype=np.float32):
    """Xavier/Glorot normal: std = sqrt(2 / (fan_in + fan_out))."""
    return (rng.standard_normal(shape) * np.sqrt(2.0 / (fan_in + fan_out))).astype(dtype)


def lecun_normal(shape, fan_in, fan_out, rng, dtype=np.float32):
    """Scaled normal (LeCun): std = sqrt(1 / fan_in)."""
    return (rng.standard_normal(shape) * np.sqrt(1.0 / fan_in)).astype(dtype)


def normal(std: float) -> Initializer:
    """Plain normal with a fixed standard deviation (e.g. ``normal(0.01)``)."""
    if not std > 0:
        raise ValueError(f"std must be positive, got {std}")

    def init(shape, fan_in, fan_out, rng, dtype=np.float32):
        return (rng.standard_normal(shape) * std).astype(dtype)

    return init


INITIALIZERS: dict[str, Initializer] = {
    "he": he_normal,
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "xavier": xavier_uniform,
    "glorot": xavier_uniform,
    "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "lecun": lecun_normal,
    "scaled_normal": lecun_normal,
}


def get_initializer(name: str) -> Initializer:
    """Look an initialiser up by name; ``"normal:0.01"`` gives ``normal(0.01)``."""
    if name.startswith("normal:"):
        try:
            return normal(float(name.split(":", 1)[1]))
        except ValueError as exc:
            raise ValueError(f"bad initialiser {name!r}: {exc}") from None
    try:
        return INITIALIZERS[name]
    except KeyError:
        known = ", ".join(sorted(INITIALIZERS)) + ", normal:<std>"
        raise ValueError(f"unknown initialiser {name!r}; choose one of: {known}") from None


def initial_weights(
    name: str,
    shape: tuple[int, ...],
    fan_in: int,
    fan_out: int,
    rng: np.random.Generator | None,
    dtype=np.float32,
) -> np.ndarray:
    """A layer's new weights: drawn by the initialiser ``name``, or zeros when ``rng`` is
    None -- a model built only to receive weights from a file (drawing random numbers that
    are then overwritten is wasted work: see :meth:`digitnet.nn.Sequential.from_config`)."""
    if rng is None:
        return np.zeros(shape, dtype)
    return get_initializer(name)(shape, fan_in, fan_out, rng, dtype)
