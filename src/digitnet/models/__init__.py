"""The models shipped inside the package, so `digitnet evaluate` and `digitnet predict` work on
a fresh install without training: the digit model, and the segment checker that helps
`predict` split touching digits (:mod:`digitnet.training.checker`).

How it was trained (the exact command and seed) is in its metadata (``model.meta``) and in the
README.
"""

from __future__ import annotations

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
    """The shipped model, loaded (see :func:`digitnet.modelfile.load_model`)."""
    from digitnet.modelfile import load_model

    return load_model(shipped_model_path())


def load_shipped_checker():
    """The shipped segment checker, loaded; None when this install has none (``predict``
    then chooses between readings of touching digits without it)."""
    from digitnet.modelfile import load_model

    return load_model(SHIPPED_CHECKER) if SHIPPED_CHECKER.is_file() else None
