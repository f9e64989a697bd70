"""The scikit-learn estimator: scikit-learn's own estimator checks, and what users do with it
(pipelines, grid search, string labels, images through a CNN preset, partial_fit)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from digitnet.interop.sklearn import DigitNetClassifier  # noqa: E402


@parametrize_with_checks([DigitNetClassifier(random_state=0)])
def test_scikit_learn_estimator_checks(estimator, check):
    """Every check of scikit-learn's, none expected to fail."""
    check(estimator)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def test_it_learns_real_digits_and_is_deterministic(digits):
    X, y = digits
    a = DigitNetClassifier(random_state=1).fit(X[:1200], y[:1200])
    b = DigitNetClassifier(random_state=1).fit(X[:1200], y[:1200])
    assert a.score(X[1200:], y[1200:]) >= 0.9  # 92.3% here; MLPClassifier 93.6%
    assert np.array_equal(a.predict_proba(X[1200:]), b.predict_proba(X[1200:]))
    assert a.n_features_in_ == 64 and list(a.classes_) == list(range(10))


def test_string_labels_and_any_number_of_classes(digits):
    X, y = digits
    names = np.array(["zero", "one", "two"])
    keep = y < 3
    model = DigitNetClassifier(epochs=10, random_state=0).fit(X[keep], names[y[keep]])
    assert set(model.classes_) == set(names)
    assert model.predict_proba(X[keep][:5]).shape == (5, 3)
    assert model.score(X[keep], names[y[keep]]) >= 0.95


def test_predict_before_fit_and_partial_fit_rules(digits):
    X, y = digits
    with pytest.raises(NotFittedError):
        DigitNetClassifier().predict(X[:2])
    model = DigitNetClassifier(lr=0.01, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        model.partial_fit(X[:50], y[:50])
    for start in range(0, 1000, 200):
        model.partial_fit(X[start : start + 200], y[start : start + 200], classes=np.arange(10))
    assert [r["epoch"] for r in model.history_] == [1, 2, 3, 4, 5]
    assert model.score(X[1000:], y[1000:]) > 0.8  # 86% here
    with pytest.raises(ValueError, match="not in classes"):
        model.partial_fit(X[:5], np.array([11] * 5))
    model.fit(X[:100], y[:100])  # fit after partial_fit starts afresh
    assert len(model.history_) == model.epochs


def test_a_cnn_preset_reads_784_features_as_an_image():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (40, 784))
    y = np.arange(40) % 3
    model = DigitNetClassifier(architecture="lenet5", epochs=1, random_state=0).fit(X, y)
    assert model.predict_proba(X).shape == (40, 3)
    with pytest.raises(ValueError, match="784 features"):
        DigitNetClassifier(architecture="lenet5").fit(X[:, :100], y)
    with pytest.raises(ValueError, match="preset name"):
        DigitNetClassifier(architecture="nope").fit(X, y)


def test_clone_and_params():
    model = DigitNetClassifier(hidden=(32, 16), lr=0.01)
    twin = clone(model)
    assert twin.get_params() == model.get_params()
    assert twin.set_params(epochs=3).epochs == 3
