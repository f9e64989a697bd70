"""The models shipped inside the package: they load without pickle, are small, say how they
were made, and the digit model still scores the test accuracy recorded in its
metadata (within 3 images: another CPU's BLAS rounds differently)."""

from __future__ import annotations

import numpy as np
import pytest

from digitnet.evaluation.evaluate import evaluate
from digitnet.models import SHIPPED_MODEL, load_shipped_model


def test_shipped_model_is_packaged_small_and_documented():
    assert SHIPPED_MODEL.is_file(), f"{SHIPPED_MODEL} is missing from the package"
    assert SHIPPED_MODEL.stat().st_size < 5_000_000
    model = load_shipped_model()
    meta = model.meta
    assert meta["preset"] == "cnn-world"
    assert meta["command"].startswith("digitnet train --preset cnn-world --seed ")
    assert meta["train_config"]["seed"] == int(meta["command"].split("--seed ")[1].split()[0])
    assert meta["test"]["total"] == 10000 and meta["test"]["accuracy"] >= 0.996
    # trained with non-digits: it carries the threshold chosen on the validation digits
    assert meta["not_a_digit"]["chosen_on"] == "validation"
    assert 0.0 < meta["not_a_digit_below"] < 1.0 and meta["not_a_digit"]["refused"] <= 0.003
    x = np.zeros((2, 28, 28), dtype=np.uint8)
    assert model.predict_proba(x.reshape((2,) + model.input_shape).astype(np.float32)).shape == (
        2,
        10,
    )


@pytest.mark.mnist
def test_shipped_model_accuracy_is_what_its_metadata_says(mnist):
    model = load_shipped_model()
    report = evaluate(model, mnist.test.images, mnist.test.labels)
    # The count was recorded on the machine that trained the model. Another CPU's BLAS
    # kernels round the products differently (AVX-512 vs Haswell), which can flip a digit
    # whose top two probabilities are within float32 rounding of each other: allow a spread
    # of 3 of 10,000 (0.03 points). Evaluation on one machine is deterministic: checked by
    # evaluating twice.
    assert abs(report["correct"] - model.meta["test"]["correct"]) <= 3
    again = evaluate(model, mnist.test.images[:2000], mnist.test.labels[:2000])
    first = evaluate(model, mnist.test.images[:2000], mnist.test.labels[:2000])
    assert again["correct"] == first["correct"]


def test_shipped_checker_is_packaged_small_and_documented():
    from digitnet.data.pieces import NOT_ONE_DIGIT
    from digitnet.models import SHIPPED_CHECKER, load_shipped_checker

    assert SHIPPED_CHECKER.is_file(), f"{SHIPPED_CHECKER} is missing from the package"
    assert SHIPPED_CHECKER.stat().st_size < 5_000_000
    checker = load_shipped_checker()
    meta = checker.meta
    assert meta["kind"] == "checker" and checker.output_shape == (NOT_ONE_DIGIT + 1,)
    assert meta["command"].startswith("digitnet train-checker --numbers ")
    assert meta["train_config"]["seed"] == meta["seed"]
    # measured on segments of numbers made of validation digits when it was trained
    assert meta["val"]["whole_flagged"] < 0.05 and meta["val"]["not_one_missed"] < 0.05


def test_shipped_model_and_checker_are_loaded_once_and_shared(monkeypatch):
    """recognise() with no model reads with the cached shipped model and checker: the same
    objects on every call, loaded from disk once (a counted load_model)."""
    import digitnet.modelfile as modelfile
    from digitnet import models
    from digitnet.reading import recognise

    models.shipped_model.cache_clear()
    models.shipped_checker.cache_clear()
    loads = []
    real = modelfile.load_model
    monkeypatch.setattr(modelfile, "load_model", lambda p: loads.append(p) or real(p))
    image = np.zeros((28, 28), np.uint8)
    image[6:22, 13:15] = 255  # a stroke: a "1"
    first = recognise(image, single=True)
    second = recognise(image, single=True)
    assert len(loads) == 2  # the model and the checker, once each
    assert models.shipped_model() is models.shipped_model()
    assert models.shipped_checker() is models.shipped_checker()
    assert first.digits == second.digits
    assert models.load_shipped_model() is not models.shipped_model()  # a private copy


def test_a_loaded_model_is_built_without_drawing_initial_weights(monkeypatch, tmp_path):
    """load_model builds the network without its initialisers (their draws would only be
    overwritten) and still holds exactly the file's weights."""
    import digitnet.nn.init as init
    from digitnet.modelfile import load_model, save_model

    model = load_shipped_model()
    path = tmp_path / "m.npz"
    save_model(path, model)
    drawn = []
    real = init.get_initializer

    def counting(name):
        fn = real(name)
        return lambda *a, **k: drawn.append(name) or fn(*a, **k)

    monkeypatch.setattr(init, "get_initializer", counting)
    loaded = load_model(path)
    assert drawn == []
    for (name, p), (_, q) in zip(
        sorted(model.state_dict().items()), sorted(loaded.state_dict().items()), strict=True
    ):
        assert np.array_equal(p, q), name


def drawn(draw_on) -> bytes:
    """A 200x200 white image with black strokes drawn by ``draw_on(ImageDraw)``, as PNG."""
    import io

    from PIL import Image, ImageDraw

    img = Image.new("L", (200, 200), 255)
    draw_on(ImageDraw.Draw(img))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


NOT_DIGITS = {
    "a dot": lambda d: d.ellipse((90, 90, 110, 110), fill=0),
    "a capital A": lambda d: (
        d.line((40, 180, 100, 20, 160, 180), fill=0, width=10),
        d.line((65, 115, 135, 115), fill=0, width=10),
    ),
    "a box": lambda d: d.rectangle((40, 50, 160, 150), outline=0, width=9),
    "a cross": lambda d: (
        d.line((40, 40, 160, 160), fill=0, width=10),
        d.line((160, 40, 40, 160), fill=0, width=10),
    ),
    "a scribble": lambda d: d.line(
        [
            (30, 100),
            (70, 40),
            (90, 160),
            (120, 30),
            (140, 170),
            (170, 60),
            (60, 120),
            (160, 110),
            (40, 60),
        ],
        fill=0,
        width=8,
    ),
    "a horizontal line": lambda d: d.line((30, 100, 170, 100), fill=0, width=10),
}


@pytest.mark.parametrize("name", list(NOT_DIGITS))
def test_the_shipped_model_says_what_a_person_draws_is_not_a_digit(name):
    """What a person testing the page draws first: each is answered "not a digit" (the
    shipped model was trained with non-digits and carries its threshold)."""
    from digitnet.reading.recognise import recognise

    r = recognise(drawn(NOT_DIGITS[name]), load_shipped_model(), single=True)
    assert r.prediction is None and r.reason == "not a digit", (name, r.digits[0].top)


def test_the_shipped_model_still_reads_drawn_digits():
    from digitnet.reading.recognise import recognise

    seven = drawn(lambda d: d.line([(50, 40), (150, 40), (90, 170)], fill=0, width=10))
    one = drawn(lambda d: d.line([(100, 30), (100, 170)], fill=0, width=10))
    flagged_one = drawn(lambda d: d.line([(60, 80), (110, 30), (110, 170)], fill=0, width=10))
    assert [
        recognise(x, load_shipped_model(), single=True).prediction
        for x in (seven, one, flagged_one)
    ] == ["7", "1", "1"]
