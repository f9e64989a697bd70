"""digitnet's networks as a scikit-learn classifier: pipelines, cross-validation, grid search.

Typical use::

    from sklearn.datasets import load_digits
    from sklearn.model_selection import cross_val_score
    from digitnet.interop.sklearn import DigitNetClassifier

    X, y = load_digits(return_X_y=True)
    print(cross_val_score(DigitNetClassifier(random_state=0), X / 16, y).mean())

X is any ``(n_samples, n_features)`` array of numbers. With ``architecture="dense"`` (the
default) a fully connected ReLU network of the ``hidden`` sizes reads it; with a preset name
(``"cnn"``, ``"lenet5"``, ``"relu-128-64"``, ... see ``digitnet presets``) the preset's layers
read the 784 features as a 28x28 image (``x / 255`` for MNIST pixels, or anything in [0, 1]),
their last layer resized to the number of classes. Labels may be any values (strings too),
and any number of classes. Training is digitnet's own loop (:func:`digitnet.training.loop.fit`) in
float32; predictions are computed in float64 by a copy of the trained weights, so that a
sample's probabilities do not depend on the other samples of the batch (BLAS rounds a
float32 matrix product differently for different batch sizes) -- scikit-learn requires it.

scikit-learn's own ``parametrize_with_checks`` passes with no expected failures
(``tests/test_sklearn.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from digitnet.errors import DigitnetError
from digitnet.nn import Dense, ReLU, Sequential
from digitnet.training.loop import TrainConfig, fit, make_model_optimizer

IMAGE_FEATURES = 28 * 28


class _Split:
    """The ``images`` / ``labels`` pair :func:`digitnet.training.loop.fit` reads."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels = images, labels


class DigitNetClassifier(ClassifierMixin, BaseEstimator):
    """A digitnet network trained by digitnet's loop, with scikit-learn's estimator API.

    The optimizer's state (its moments and step count) is kept from call to call, as
    scikit-learn's own estimators keep theirs: two :meth:`partial_fit` calls on the two
    halves of X (in order, ``shuffle=False``) give the weights of one :meth:`fit` epoch
    over X. :meth:`fit` starts a new network and optimizer.

    Parameters
    ----------
    architecture : str, default="dense"
        ``"dense"``: ReLU layers of the ``hidden`` sizes, then a softmax output; or the name
        of a digitnet preset (its layers; X must have 784 features, a 28x28 image).
    hidden : tuple of int, default=(100,)
        Hidden layer sizes of the dense architecture.
    epochs : int, default=30
        Passes over the data in :meth:`fit` (:meth:`partial_fit` makes one pass per call).
    batch_size : int, default=32
    optimizer : str, default="adam"
        sgd, momentum, nesterov, adam, adamw, rmsprop or adagrad.
    lr : float, default=1e-3
        Learning rate.
    weight_decay : float, default=0.0
        L2 penalty on the weights.
    schedule : str, default="constant"
        constant, step, exponential or cosine (over ``epochs``).
    random_state : int, RandomState instance or None, default=None
        Fixes the initial weights, the shuffling and dropout.
    verbose : bool, default=False
        Print each epoch's training loss.
    shuffle : bool, default=True
        Shuffle the samples before each pass; False keeps their order.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    model_ : digitnet.nn.Sequential
        The trained network (float32); ``digitnet.modelfile.save_model`` saves it.
    history_ : list of dict
        The training loop's per-epoch records (loss, seconds, learning rate).

    Notes
    -----
    The optimizer's state (its moments and step count) is kept from call to call, as
    scikit-learn's own estimators keep theirs: two :meth:`partial_fit` calls on the two
    halves of X (in order, ``shuffle=False``) give the weights of one :meth:`fit` epoch
    over X. :meth:`fit` starts a new network and optimizer.
    """

    def __init__(
        self,
        architecture: str = "dense",
        hidden: tuple[int, ...] = (100,),
        epochs: int = 30,
        batch_size: int = 32,
        optimizer: str = "adam",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        schedule: str = "constant",
        random_state: Any = None,
        verbose: bool = False,
        shuffle: bool = True,
    ) -> None:
        self.architecture = architecture
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.schedule = schedule
        self.random_state = random_state
        self.verbose = verbose
        self.shuffle = shuffle

    # -- training ------------------------------------------------------------------------------

    def fit(self, X, y) -> DigitNetClassifier:
        """Train a new network on ``X`` ``(n_samples, n_features)`` and ``y``
        ``(n_samples,)`` for ``epochs`` passes; returns self."""
        X, y = self._validate(X, y, reset=True)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        self._start(X.shape[1])
        self._train(X, encoded, self.epochs)
        return self

    def partial_fit(self, X, y, classes=None) -> DigitNetClassifier:
        """One pass over ``X``, ``y``; the first call (or the first after :meth:`fit`
        with other classes) needs ``classes``, every label there may be."""
        first = not hasattr(self, "model_")
        X, y = self._validate(X, y, reset=first)
        if first:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit")
            self.classes_ = np.unique(column_or_1d(classes))
            self._start(X.shape[1])
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(
                f"classes={np.unique(classes)!r} is not the same as on the first "
                f"call, {self.classes_!r}"
            )
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(f"y holds labels not in classes: {unknown[:5]!r}")
        self._train(X, np.searchsorted(self.classes_, y), 1)
        return self

    def _validate(self, X, y, *, reset: bool):
        X, y = validate_data(self, X, y, reset=reset, dtype=(np.float64, np.float32))
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        return X, y

    def _start(self, n_features: int) -> None:
        """A new network for ``n_features`` inputs and the classes, and its random seeds."""
        seeds = check_random_state(self.random_state).randint(0, 2**31 - 1, size=2)
        self._rng = np.random.default_rng(int(seeds[0]))
        layers, shape = self._layers(n_features, len(self.classes_))
        self.model_ = Sequential(layers, shape, np.random.default_rng(int(seeds[1])))
        self.history_: list[dict[str, Any]] = []
        #: the optimizer's state after the last call (plain arrays: pickles with the rest)
        self._optimizer_state: dict[str, np.ndarray] | None = None

    def _layers(self, n_features: int, n_classes: int) -> tuple[list, tuple[int, ...]]:
        if self.architecture == "dense":
            sizes = list(self.hidden)
            if not all(isinstance(h, int | np.integer) and h > 0 for h in sizes):
                raise ValueError(f"hidden must be positive layer sizes, got {self.hidden!r}")
            layers: list = []
            for units in sizes:
                layers += [Dense(int(units), bias=True), ReLU()]
            return layers + [Dense(n_classes, bias=True)], (n_features,)
        from digitnet.training import presets

        try:
            preset = presets.get(self.architecture)
        except DigitnetError as exc:
            raise ValueError(f"architecture must be 'dense' or a preset name: {exc}") from None
        if n_features != IMAGE_FEATURES:
            raise ValueError(
                f"architecture {self.architecture!r} reads 28x28 images: X needs "
                f"{IMAGE_FEATURES} features, got {n_features}"
            )
        layers = preset.layers()
        if not isinstance(layers[-1], Dense):
            raise ValueError(f"preset {self.architecture!r} does not end with a Dense layer")
        last = layers[-1]
        layers[-1] = Dense(n_classes, init=last.init, bias=True)
        return layers, preset.input_shape

    def _train(self, X: np.ndarray, y: np.ndarray, epochs: int) -> None:
        config = TrainConfig(
            epochs=epochs,
            batch_size=self.batch_size,
            optimizer=self.optimizer,
            lr=self.lr,
            weight_decay=self.weight_decay,
            schedule=self.schedule,
            seed=int(self._rng.integers(2**31 - 1)),
            shuffle=self.shuffle,
        )
        log = (
            (lambda r: print(f"epoch {len(self.history_) + 1}: loss {r['train_loss']:.4f}"))
            if self.verbose
            else None
        )
        try:
            config.validate()  # before the optimizer is made: one message per bad setting
            optimizer = make_model_optimizer(self.model_, config)
            if self._optimizer_state is not None:
                optimizer.load_state_dict(self._optimizer_state)
            history = fit(
                self.model_,
                _Split(X.astype(np.float32), y.astype(np.int64)),
                None,
                config,
                log=log,
                progress=False,
                optimizer=optimizer,
            )
        except DigitnetError as exc:
            raise ValueError(str(exc)) from None
        self._optimizer_state = optimizer.state_dict()
        done = len(self.history_)
        self.history_ = self.history_ + [
            dict(r, epoch=done + i + 1) for i, r in enumerate(history.epochs)
        ]
        self._float64 = Sequential.from_config(self.model_.get_config(), dtype=np.float64)
        self._float64.load_state_dict(
            {k: v.astype(np.float64) for k, v in self.model_.state_dict().items()}
        )

    # -- prediction ----------------------------------------------------------------------------

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``(n_samples, n_classes)``, columns in the order of
        ``classes_``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        shape = (len(X),) + tuple(self._float64.input_shape)
        return self._float64.predict_proba(X.astype(np.float64).reshape(shape))

    def predict(self, X) -> np.ndarray:
        """The most probable class of each sample ``(n_samples,)``."""
        check_is_fitted(self)
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
