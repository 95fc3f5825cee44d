"""A scikit-learn classifier built on nndl's network and training loop.

``NetworkClassifier`` follows scikit-learn's estimator conventions --
hyper-parameters in ``__init__``, ``fit`` / ``partial_fit`` / ``predict`` /
``predict_proba`` / ``score``, ``get_params`` / ``set_params`` -- so that
``GridSearchCV``, ``cross_val_score`` and ``Pipeline`` work with it, and it
passes scikit-learn's ``check_estimator`` (see tests/test_sklearn.py).

This is the only module of nndl that imports scikit-learn; install it with
``pip install 'nndl[sklearn]'``.
"""

from dataclasses import fields

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .data import Dataset, Splits
from .run import RunConfig, build, make_network

#: The defaults of the ``general`` preset (src/nndl/presets/general.toml) that
#: the estimator's None stands for with sgd: eta, momentum, mini-batch size.
SGD_DEFAULTS = {"eta": 0.05, "momentum": 0.9, "batch_size": 16}
#: Optimiser hyper-parameters passed through as RunConfig fields of the same
#: name: every field that belongs to some optimisers, but SGD's own three.
OPTIMIZER_OPTIONS = tuple(f.name for f in fields(RunConfig) if f.metadata["applies"]
                          and f.name not in ("eta", "momentum", "nesterov"))


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
    """A feedforward network classifier trained by mini-batch SGD (or any
    ``nndl train --optimizer``).

    Parameters mirror the ``nndl train`` flags: ``hidden_layer_sizes`` (the
    hidden layers' widths; the input and output layers come from the data),
    ``activation`` (hidden neurons), ``output`` (sigmoid, softmax or linear;
    ``cost`` defaults to the one that belongs with it), ``optimizer``
    ('sgd', 'adam', 'rmsprop', 'adagrad', or full-batch 'lbfgs', 'bfgs',
    'cg', 'newton', for which ``epochs`` counts iterations), ``eta``,
    ``lmbda_per_example`` (lambda = this * n, so the weight decay does not
    depend on the data size; 1e-4 would be the chapter's 5.0 for 50,000
    images, and the default 5e-5 is the preset's 0.5 on the 10,000 images
    it was chosen on),
    ``regularization`` ('l2' or 'l1'), ``momentum``, ``nesterov``,
    ``dropout``, ``max_norm``, ``batch_size``, ``epochs``,
    ``early_stopping`` (patience in epochs, judged on a held-out
    ``validation_fraction`` of the training data), ``dtype``,
    ``random_state``, and the optimisers' own hyper-parameters under their
    flag names (``beta1``, ``beta2``, ``epsilon``, ``rho``,
    ``initial_accumulator``, ``lbfgs_memory``, ``cg_restart``,
    ``newton_damping``, ``newton_tries``, ``line_search_trials``,
    ``gradient_tolerance``; None: the optimiser's default).

    The defaults are the ``general`` preset's (``nndl train --preset
    general``, docs/general.md): one hidden layer of 100 ReLUs, a softmax output with the log-likelihood
    cost, 120 epochs, and with sgd momentum 0.9, eta 0.05 and mini-batches of
    16 -- which is what ``eta``, ``momentum`` and ``batch_size`` None stand
    for.  With another optimiser eta None is that optimiser's default
    (adam 0.001), and momentum and a mini-batch size for a full-batch method
    are refused, not ignored.  (nndl 0.1.0's defaults were the
    chapter's: 30 sigmoid neurons, sigmoid outputs, eta 0.5, no momentum,
    mini-batches of 10, 30 epochs.)

    The inputs should be scaled to about 0..1, as MNIST's pixels are: on raw
    pixel values (0..255, or 0..16 in ``load_digits``) sigmoid neurons
    saturate and the network learns nothing, so ``fit`` and ``partial_fit``
    warn (``InputScaleWarning``) when X reaches beyond +-10; they do
    not rescale it themselves (a ``MinMaxScaler`` in a ``Pipeline`` does).
    ``epochs`` must be at least 1 for ``fit``.

    Fitted attributes: ``classes_``, ``n_features_in_``, ``network_``,
    ``n_iter_`` (epochs trained) and ``best_epoch_`` (with early stopping).
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", output="softmax",
                 cost=None, optimizer="sgd", eta=None, lmbda_per_example=5e-5,
                 regularization="l2", momentum=None, nesterov=False, dropout=0.0,
                 max_norm=None, batch_size=None, epochs=120, early_stopping=None,
                 validation_fraction=0.1, dtype="float32", random_state=None, beta1=None,
                 beta2=None, epsilon=None, rho=None, initial_accumulator=None,
                 lbfgs_memory=None, cg_restart=None, newton_damping=None, newton_tries=None,
                 line_search_trials=None, gradient_tolerance=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.optimizer = optimizer
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
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.rho = rho
        self.initial_accumulator = initial_accumulator
        self.lbfgs_memory = lbfgs_memory
        self.cg_restart = cg_restart
        self.newton_damping = newton_damping
        self.newton_tries = newton_tries
        self.line_search_trials = line_search_trials
        self.gradient_tolerance = gradient_tolerance

    # ----------------------------------------------------------- fitting
    def fit(self, X, y, callbacks=()):
        """Train a new network on (X, y) for ``epochs`` epochs; return self.
        ``callbacks`` are more ``nndl.training`` callbacks (e.g.
        ``nndl.notebook.LivePlot()``)."""
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
        run, state = self._train(training, self.epochs, evaluation, callbacks)
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
        sgd = SGD_DEFAULTS if self.optimizer == "sgd" else {}
        given = {k: getattr(self, k) for k in SGD_DEFAULTS if getattr(self, k) is not None}
        return RunConfig(
            sizes=[n_features, *[int(h) for h in self.hidden_layer_sizes], len(self.classes_)],
            activation=self.activation, output=self.output, cost=self.cost,
            optimizer=self.optimizer, **{**sgd, **given},
            lmbda_per_example=self.lmbda_per_example, regularization=self.regularization,
            nesterov=self.nesterov, dropout=self.dropout, max_norm=self.max_norm,
            epochs=self.epochs if epochs is None else epochs,
            early_stopping=self.early_stopping or None, dtype=self.dtype, monitor=(),
            progress="off", test=False, **{k: getattr(self, k) for k in OPTIMIZER_OPTIONS})

    def _start(self, n_features):
        """Build the network and optimiser for ``n_features`` inputs."""
        seed = check_random_state(self.random_state).randint(2**31 - 1)
        config = self._config(n_features).replace(seed=seed)
        self.network_ = make_network(config, config.sizes)
        self.optimizer_ = None          # made by the first training run

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

    def _train(self, training, epochs, evaluation, callbacks=()):
        """Train ``network_`` through ``nndl.run.build`` with this estimator's
        techniques (and ``callbacks`` after them); return the run and its final state."""
        config = self._config(training.images.shape[1], epochs)
        none = Dataset(np.empty((0, training.images.shape[1])), np.empty(0, dtype=np.int64))
        # a per-step optimiser's state carries over between partial_fit calls; a
        # full-batch method starts afresh on each call's data
        keep = self.optimizer_ if not config.full_batch() else None
        run = build(config, Splits(training, evaluation or none, none), network=self.network_,
                    optimizer=keep)
        self.optimizer_ = run.optimizer
        return run, run.train(callbacks)

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
