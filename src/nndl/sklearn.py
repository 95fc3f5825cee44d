"""A scikit-learn classifier built on nndl's network and training loop.

``NetworkClassifier`` follows scikit-learn's estimator conventions --
hyper-parameters in ``__init__``, ``fit`` / ``partial_fit`` / ``predict`` /
``predict_proba`` / ``score``, ``get_params`` / ``set_params`` -- so that
``GridSearchCV``, ``cross_val_score`` and ``Pipeline`` work with it, and it
passes scikit-learn's ``check_estimator`` (see tests/test_sklearn.py).

This is the only module of nndl that imports scikit-learn; install it with
``pip install 'nndl[sklearn]'``.
"""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .data import Dataset, Splits
from .optimizers import make_optimizer
from .run import RunConfig, build, make_network


class InputScaleWarning(UserWarning):
    """The inputs are far outside 0..1: the network will hardly learn."""


#: Inputs beyond this magnitude saturate sigmoid neurons from the first step.
SCALE_LIMIT = 10.0


def warn_if_unscaled(X):
    """Warn (``InputScaleWarning``) if ``X`` reaches beyond +-SCALE_LIMIT."""
    import warnings
    peak = float(np.abs(X).max(initial=0.0))
    if peak > SCALE_LIMIT:
        warnings.warn(InputScaleWarning(
            f"X reaches {peak:g}: scale the inputs to about 0..1 (e.g. divide pixels by "
            "their maximum, or use sklearn.preprocessing.MinMaxScaler); on values this "
            "large the neurons saturate and the network learns next to nothing"),
            stacklevel=3)


class NetworkClassifier(ClassifierMixin, BaseEstimator):
    """A feedforward network classifier trained by mini-batch SGD.

    Parameters mirror the ``nndl train`` flags: ``hidden_layer_sizes`` (the
    hidden layers' widths; the input and output layers come from the data),
    ``activation`` (hidden neurons), ``output`` (sigmoid, softmax or linear;
    ``cost`` defaults to the one that belongs with it), ``eta``,
    ``lmbda_per_example`` (lambda = this * n, so the weight decay does not
    depend on the data size; 1e-4 is the chapter's 5.0 for 50,000 images),
    ``regularization`` ('l2' or 'l1'), ``momentum``, ``nesterov``,
    ``dropout``, ``max_norm``, ``batch_size``, ``epochs``,
    ``early_stopping`` (patience in epochs, judged on a held-out
    ``validation_fraction`` of the training data), ``dtype`` and
    ``random_state``.

    The inputs should be scaled to about 0..1, as MNIST's pixels are: on raw
    pixel values (0..255, or 0..16 in ``load_digits``) sigmoid neurons
    saturate and the network learns nothing, so ``fit`` and ``partial_fit``
    warn (``InputScaleWarning``) when X reaches beyond +-10; they do
    not rescale it themselves (a ``MinMaxScaler`` in a ``Pipeline`` does).
    ``epochs`` must be at least 1 for ``fit``.

    Fitted attributes: ``classes_``, ``n_features_in_``, ``network_``,
    ``n_iter_`` (epochs trained) and ``best_epoch_`` (with early stopping).
    """

    def __init__(self, hidden_layer_sizes=(30,), activation="sigmoid", output="sigmoid",
                 cost=None, eta=0.5, lmbda_per_example=1e-4, regularization="l2",
                 momentum=0.0, nesterov=False, dropout=0.0, max_norm=None, batch_size=10,
                 epochs=30, early_stopping=None, validation_fraction=0.1, dtype="float32",
                 random_state=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.output = output
        self.cost = cost
        self.eta = eta
        self.lmbda_per_example = lmbda_per_example
        self.regularization = regularization
        self.momentum = momentum
        self.nesterov = nesterov
        self.dropout = dropout
        self.max_norm = max_norm
        self.batch_size = batch_size
        self.epochs = epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.dtype = dtype
        self.random_state = random_state

    # ----------------------------------------------------------- fitting
    def fit(self, X, y):
        """Train a new network on (X, y) for ``epochs`` epochs; return self."""
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        self.classes_, y = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"a classifier needs at least 2 classes; the data has only "
                             f"one class ({self.classes_[0]!r})")
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, (int, np.integer)) \
                or self.epochs < 1:
            raise ValueError(f"epochs must be an integer >= 1, got {self.epochs!r}")
        warn_if_unscaled(X)
        self._start(X.shape[1])
        training, evaluation = self._split(Dataset(X, y))
        run, state = self._train(training, self.epochs, evaluation)
        self.n_iter_ = len(state.history)
        self.best_epoch_ = run.steering[0].best_epoch if run.steering else None
        return self

    def partial_fit(self, X, y, classes=None):
        """Train for one epoch on (X, y), starting a network on the first call
        (which must list every class in ``classes``); return self."""
        first = not hasattr(self, "network_")
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], reset=first)
        check_classification_targets(y)
        if first:
            if classes is None:
                raise ValueError("the first call to partial_fit must give classes=")
            self.classes_ = np.unique(classes)
            if len(self.classes_) < 2:
                raise ValueError("a classifier needs at least 2 classes")
            self._start(X.shape[1])
            self.n_iter_ = 0
            self.best_epoch_ = None
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"classes={classes!r} differs from the first call's {self.classes_!r}")
        warn_if_unscaled(X)
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(f"labels {unknown!r} are not in classes {self.classes_!r}")
        self._train(Dataset(X, np.searchsorted(self.classes_, y)), 1, None)
        self.n_iter_ += 1
        return self

    def _config(self, n_features, epochs=None):
        """The RunConfig of this estimator's hyper-parameters (no monitoring,
        no progress bar, no test set)."""
        return RunConfig(
            sizes=[n_features, *[int(h) for h in self.hidden_layer_sizes], len(self.classes_)],
            activation=self.activation, output=self.output, cost=self.cost, eta=self.eta,
            lmbda_per_example=self.lmbda_per_example, regularization=self.regularization,
            momentum=self.momentum, nesterov=self.nesterov, dropout=self.dropout,
            max_norm=self.max_norm, batch_size=self.batch_size,
            epochs=self.epochs if epochs is None else epochs,
            early_stopping=self.early_stopping or None, dtype=self.dtype, monitor=(),
            progress="off", test=False)

    def _start(self, n_features):
        """Build the network and optimiser for ``n_features`` inputs."""
        seed = check_random_state(self.random_state).randint(2**31 - 1)
        config = self._config(n_features).replace(seed=seed)
        self.network_ = make_network(config, config.sizes)
        self.optimizer_ = make_optimizer(self.eta, self.momentum, self.nesterov)

    def _split(self, data):
        """Hold out ``validation_fraction`` of the data when early stopping."""
        if not self.early_stopping:
            return data, None
        n_val = max(1, int(round(self.validation_fraction * len(data))))
        if n_val >= len(data):
            raise ValueError("validation_fraction leaves no training data")
        order = self.network_.rng.permutation(len(data))
        take = lambda idx: Dataset(data.images[idx], data.labels[idx])  # noqa: E731
        return take(order[n_val:]), take(order[:n_val])

    def _train(self, training, epochs, evaluation):
        """Train ``network_`` through ``nndl.run.build`` with this estimator's
        techniques; return the run and its final state."""
        config = self._config(training.images.shape[1], epochs)
        none = Dataset(np.empty((0, training.images.shape[1])), np.empty(0, dtype=np.int64))
        run = build(config, Splits(training, evaluation or none, none), network=self.network_,
                    optimizer=self.optimizer_)
        return run, run.train()

    # -------------------------------------------------------- prediction
    def predict_proba(self, X):
        """Return class probabilities, one row per example, columns in the
        order of ``classes_``.  Softmax outputs are probabilities already;
        other outputs are clipped at 0 and normalised to sum to 1 (a row of
        zeros becomes uniform)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        out = self.network_.feedforward(X, dtype=np.float64)
        if self.network_.activations[-1].name != "softmax":
            out = np.maximum(out, 0.0)
        total = out.sum(axis=1, keepdims=True)
        uniform = np.full_like(out, 1.0 / out.shape[1])
        return np.divide(out, total, out=uniform, where=total > 0)

    def predict(self, X):
        """Return the most probable class of each example."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
