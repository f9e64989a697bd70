"""The models shipped inside the package, so `digitnet evaluate` and `digitnet predict` work on
a fresh install without training: the digit model, and the segment checker that helps
`predict` split touching digits (:mod:`digitnet.training.checker`).

How it was trained (the exact command and seed) is in its metadata (``model.meta``) and in the
README.

:func:`shipped_model` and :func:`shipped_checker` load each file once per process and return
the same object on every call (reading a photo through the public API used to load both
files again each time: two thirds of the time of reading a 256x256 photo). They are shared:
read with them, never train or change them (:func:`load_shipped_model` and
:func:`load_shipped_checker` give a private copy, loaded afresh). Reading from several
threads at once is safe: in inference (``training=False``) a layer writes only to arrays of
the call itself and to scratch arrays kept per thread
(:func:`digitnet.nn.runtime.thread_buffers`); the scratch arrays a layer keeps for training
(its ``Buffers``, the saved activations) belong to whoever trains it, which the shared
models are not for.
"""

from __future__ import annotations

import functools
from pathlib import Path

from digitnet.errors import ModelFileError

SHIPPED_MODEL = Path(__file__).resolve().parent / "digitnet-cnn.npz"
SHIPPED_CHECKER = Path(__file__).resolve().parent / "digitnet-checker.npz"


def shipped_model_path() -> Path:
    """Path of the shipped model file; ModelFileError when this install has none."""
    if not SHIPPED_MODEL.is_file():
        raise ModelFileError(
            f"no model given and no shipped model in this install ({SHIPPED_MODEL} is "
            "missing); give a model file, or train one (digitnet train)"
        )
    return SHIPPED_MODEL


def load_shipped_model():
    """The shipped model, loaded afresh: a private copy to train or change (see
    :func:`digitnet.modelfile.load_model`; :func:`shipped_model` to read with)."""
    from digitnet.modelfile import load_model

    return load_model(shipped_model_path())


def load_shipped_checker():
    """The shipped segment checker, loaded afresh; None when this install has none
    (``predict`` then chooses between readings of touching digits without it)."""
    from digitnet.modelfile import load_model

    return load_model(SHIPPED_CHECKER) if SHIPPED_CHECKER.is_file() else None


@functools.lru_cache(maxsize=1)
def shipped_model():
    """The shipped model, loaded on the first call and the same object on every later one
    (shared: read with it, never train or change it; safe to read from several threads).
    A failed load (ModelFileError) is not cached: the next call tries again."""
    return load_shipped_model()


@functools.lru_cache(maxsize=1)
def shipped_checker():
    """The shipped segment checker, loaded once and shared like :func:`shipped_model`;
    None when this install has none."""
    return load_shipped_checker()
