"""The model shipped inside the package: it loads without pickle, is small, says how it was
made, and still scores exactly the test accuracy recorded in its metadata."""

from __future__ import annotations

import numpy as np
import pytest

from digitnet.evaluate import evaluate
from digitnet.models import SHIPPED_MODEL, load_shipped_model


def test_shipped_model_is_packaged_small_and_documented():
    assert SHIPPED_MODEL.is_file(), f"{SHIPPED_MODEL} is missing from the package"
    assert SHIPPED_MODEL.stat().st_size < 5_000_000
    model = load_shipped_model()
    meta = model.meta
    assert meta["preset"] == "cnn"
    assert meta["command"].startswith("digitnet train --preset cnn --seed ")
    assert meta["train_config"]["seed"] == int(meta["command"].split("--seed ")[1].split()[0])
    assert meta["test"]["total"] == 10000 and meta["test"]["accuracy"] >= 0.996
    x = np.zeros((2, 28, 28), dtype=np.uint8)
    assert model.predict_proba(x.reshape((2,) + model.input_shape).astype(np.float32)
                               ).shape == (2, 10)


@pytest.mark.mnist
def test_shipped_model_accuracy_is_what_its_metadata_says(mnist):
    model = load_shipped_model()
    report = evaluate(model, mnist.test.images, mnist.test.labels)
    # evaluation is deterministic: the same count of correct digits, to the last one
    assert report["correct"] == model.meta["test"]["correct"]
    assert report["accuracy"] == model.meta["test"]["accuracy"]
