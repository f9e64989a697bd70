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


def weights(model: DigitNetClassifier) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in model.model_.state_dict().items()}


@pytest.mark.parametrize("optimizer", ["adam", "momentum", "rmsprop", "adagrad", "sgd"])
def test_two_half_epoch_partial_fits_equal_one_epoch_of_fit(digits, optimizer):
    """The optimizer's moments and step count are kept between partial_fit calls: the two
    halves of X, in order, give one epoch of fit over X bit for bit (the same loop; the
    batch size divides each half). Throwing the state away between the calls, as before,
    gives other weights (except for plain SGD, which keeps no state)."""
    X, y = digits[0][:1000], digits[1][:1000]
    settings = dict(optimizer=optimizer, lr=0.01, batch_size=20, shuffle=False, random_state=0)
    whole = DigitNetClassifier(epochs=1, **settings).fit(X, y)
    halves = DigitNetClassifier(**settings)
    halves.partial_fit(X[:500], y[:500], classes=np.unique(y))
    halves.partial_fit(X[500:], y[500:])
    a, b = weights(whole), weights(halves)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert np.array_equal(whole.predict_proba(X), halves.predict_proba(X))
    forgetful = DigitNetClassifier(**settings)
    forgetful.partial_fit(X[:500], y[:500], classes=np.unique(y))
    forgetful._optimizer_state = None  # a fresh optimizer for the second half
    forgetful.partial_fit(X[500:], y[500:])
    c = weights(forgetful)
    same = all(np.array_equal(a[k], c[k]) for k in a)
    assert same == (optimizer == "sgd")


def test_a_pickled_classifier_continues_as_the_original_would(digits):
    """Pickling keeps the optimizer's state, and the unpickled network's parameters are
    its own arrays again (NumPy pickles views as copies): both go on identically."""
    import pickle

    X, y = digits
    model = DigitNetClassifier(epochs=2, random_state=0).fit(X[:600], y[:600])
    twin = pickle.loads(pickle.dumps(model))
    for m in (model, twin):
        m.partial_fit(X[600:1200], y[600:1200])
    a, b = weights(model), weights(twin)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert np.array_equal(model.predict_proba(X[1200:]), twin.predict_proba(X[1200:]))
