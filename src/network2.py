"""network2.py
~~~~~~~~~~~~~~

The book's ``network2`` module, for Python 3, backed by nndl.

Every session of chapter 3 runs unchanged::

    >>> import mnist_loader
    >>> training_data, validation_data, test_data = \\
    ... mnist_loader.load_data_wrapper()
    >>> import network2
    >>> net = network2.Network([784, 30, 10], cost=network2.CrossEntropyCost)
    >>> net.large_weight_initializer()
    >>> net.SGD(training_data, 30, 10, 0.5, evaluation_data=test_data,
    ... monitor_evaluation_accuracy=True)

and prints what the book prints.  Computation is in float64, as in the book,
but each mini-batch is one matrix (``nndl.network``), so an epoch takes well
under a second instead of minutes.  With the same starting weights and the
same mini-batch order, the weights after training equal those of the book's
per-example code to rounding error (see tests/test_book_exactness.py).

Differences a reader may notice: ``Network`` takes an optional ``seed``;
``SGD`` shuffles with the network's seeded generator and does not reorder the
caller's list in place.  ``SGD`` trains the nndl network it holds through
``nndl.run.build``, the same assembly as ``nndl train``.
"""

import numpy as np

from nndl import costs as _costs
from nndl import persistence as _persistence
from nndl.bookdata import as_dataset, vectorized_result
from nndl.data import Dataset, Splits
from nndl.network import Network as _Network
from nndl.regularization import make_regularization
from nndl.optimizers import SGD as _SGD
from nndl.run import RunConfig, build

QuadraticCost = _costs.QuadraticCost
CrossEntropyCost = _costs.CrossEntropyCost
LogLikelihoodCost = _costs.LogLikelihoodCost

__all__ = ["Network", "QuadraticCost", "CrossEntropyCost", "LogLikelihoodCost",
           "load", "vectorized_result", "sigmoid", "sigmoid_prime"]


def _shared(name, doc):
    """An attribute read from and written to the nndl network held inside."""
    return property(lambda self: getattr(self._net, name),
                    lambda self, value: setattr(self._net, name, value), doc=doc)


class Network:
    """network2.py's Network: ``Network(sizes, cost=CrossEntropyCost)``.

    It holds an ``nndl.network.Network`` (``self._net``, in float64 by
    default) and converts the book's column vectors and lists of ``(x, y)``
    pairs at its edge.  ``weights[l]`` has shape (n_out, n_in) and
    ``biases[l]`` (n_out, 1), as in the book; both lists may be read and
    assigned, whole or element by element.
    """

    weights = _shared("weights", "The weight matrices, one per layer after the input.")
    biases = _shared("biases", "The bias columns, one per layer after the input.")
    sizes = property(lambda self: self._net.sizes, doc="Neurons per layer, input first.")
    num_layers = property(lambda self: self._net.num_layers, doc="The number of layers.")
    cost = property(lambda self: self._net.cost, doc="The cost class.")
    activations = property(lambda self: self._net.activations, doc="One per layer.")
    dtype = property(lambda self: self._net.dtype, doc="The float type computed in.")
    rng = property(lambda self: self._net.rng, doc="The generator that shuffles.")
    seed = property(lambda self: self._net.seed, doc="The seed of ``rng``.")

    def __init__(self, sizes, cost=CrossEntropyCost, seed=None, dtype="float64", **kwargs):
        self._net = _Network(sizes, cost=cost, dtype=dtype, seed=seed, **kwargs)

    def default_weight_initializer(self):
        """Weights from N(0, 1/n_in), biases from N(0, 1) (the book's default)."""
        self._net.default_weight_initializer()

    def large_weight_initializer(self):
        """Weights and biases from N(0, 1), as in chapter 1."""
        self._net.large_weight_initializer()

    def check_params(self):
        """Make the weights and biases the network's shapes and dtype."""
        self._net.check_params()

    def feedforward(self, a):
        """Return the output for input ``a``: a book-style (n_in, 1) column
        gives a (n_out, 1) column; rows of examples give rows of outputs."""
        a = np.asarray(a)
        if self._is_column(a):
            return self._net.feedforward(a.T).T
        return self._net.feedforward(a)

    def _is_column(self, a):
        return a.ndim == 2 and a.shape[1] == 1 and a.shape[0] == self.sizes[0]

    def SGD(self, training_data, epochs, mini_batch_size, eta,
            lmbda=0.0,
            evaluation_data=None,
            monitor_evaluation_cost=False,
            monitor_evaluation_accuracy=False,
            monitor_training_cost=False,
            monitor_training_accuracy=False,
            *,
            regularization="l2",
            momentum=0.0,
            nesterov=False,
            dropout=0.0,
            input_dropout=0.0,
            max_norm=None,
            early_stopping_n=0,
            lr_schedule=None,
            callbacks=(),
            optimizer="sgd",
            **optimizer_options):
        """Train with mini-batch stochastic gradient descent, as in the book.

        ``training_data`` is a list of ``(x, y)`` with one-hot y;
        ``evaluation_data`` a list of ``(x, label)``.  Returns the four lists
        (evaluation costs, evaluation accuracies, training costs, training
        accuracies), one entry per epoch for each monitored quantity;
        accuracies are counts of correct images, as in the book.

        The keyword-only arguments add the chapter's other techniques (all
        off by default, so the book's calls behave as in the book):
        ``regularization`` 'l2' or 'l1'; ``momentum`` mu and ``nesterov``;
        ``dropout`` / ``input_dropout`` probabilities; ``max_norm`` bound on
        each neuron's incoming weights; ``early_stopping_n`` (stop after n
        epochs without a better evaluation accuracy, keeping the best
        weights); ``lr_schedule`` n (halve eta after each n epochs without
        improvement, stop at eta/128).  The last two judge by
        ``evaluation_data``, which should then be the validation data.
        ``optimizer`` is any ``nndl train --optimizer`` ('adam', 'lbfgs', ...)
        and ``optimizer_options`` its hyper-parameters by their ``RunConfig``
        names (``beta1=0.8``, ``lbfgs_memory=5``, ...).  A full-batch
        optimiser ('lbfgs', 'bfgs', 'cg', 'newton') takes one iteration per
        epoch and no mini-batches or learning rate: pass None for both.
        ``callbacks`` are more ``nndl.training`` callbacks (e.g.
        ``nndl.notebook.LivePlot()``), run after the monitoring.
        Afterwards ``self.last_run`` holds the stop reason (None if every
        epoch ran), the best epoch, the learning rate of each epoch and the engine.
        """
        training = as_dataset(training_data, self.sizes[0])
        evaluation = as_dataset(evaluation_data, self.sizes[0]) if evaluation_data else None
        flags = {"training-cost": monitor_training_cost,
                 "training-accuracy": monitor_training_accuracy,
                 "evaluation-cost": monitor_evaluation_cost,
                 "evaluation-accuracy": monitor_evaluation_accuracy}
        config = RunConfig(
            sizes=self.sizes, epochs=epochs, batch_size=mini_batch_size, eta=eta,
            lmbda=lmbda, regularization=regularization, cost=self.cost.name,
            output=self.activations[-1].name, momentum=momentum, nesterov=nesterov,
            dropout=dropout, input_dropout=input_dropout, max_norm=max_norm,
            early_stopping=early_stopping_n or None,
            lr_schedule=("halve", lr_schedule) if lr_schedule else None,
            optimizer=optimizer, **_optimizer_options(optimizer_options),
            monitor=tuple(name for name, on in flags.items() if on), progress="off",
            test=False, dtype=np.dtype(self.dtype).name)
        empty = Dataset(np.empty((0, self.sizes[0])), np.empty(0, dtype=np.int64))
        run = build(config, Splits(training, evaluation or empty, empty), network=self._net)
        printer = _BookPrinter(len(training), len(evaluation) if evaluation else 0)
        state = run.train([*callbacks, printer], check_divergence=False)
        best = [cb.best_epoch for cb in run.steering]
        self.last_run = {"stop_reason": state.stop, "best_epoch": best[0] if best else None,
                         "etas": [r["eta"] for r in state.history], "engine": state.engine}
        return printer.results()

    def update_mini_batch(self, mini_batch, eta, lmbda, n):
        """Apply one step of gradient descent (equation (93)) on ``mini_batch``,
        a list of book-style ``(x, y)`` pairs, out of ``n`` training examples."""
        from nndl.training import sgd_step
        data = as_dataset(mini_batch, self.sizes[0])
        self.check_params()
        y = np.eye(self.sizes[-1], dtype=self.dtype)[data.labels]
        sgd_step(self._net, data.images.astype(self.dtype), y, _SGD(eta),
                 make_regularization("l2", lmbda), n)

    def backprop(self, x, y, masks=None):
        """Return (nabla_b, nabla_w) for book-style columns ``x`` and ``y``;
        with rows of examples, the gradient summed over them (through the
        dropout ``masks``, if any)."""
        x, y = np.asarray(x), np.asarray(y)
        if self._is_column(x):
            return self._net.backprop(x.T.astype(self.dtype), y.T.astype(self.dtype), masks)
        return self._net.backprop(x, y, masks)

    def forward(self, x, masks=None):
        """Every layer's output for rows of examples (see nndl's ``Network.forward``)."""
        return self._net.forward(x, masks)

    def predict(self, x, batch_size=10000):
        """The most active output neuron for each row of ``x``."""
        return self._net.predict(x, batch_size)

    def accuracy(self, data, convert=False):
        """Return the number of inputs in ``data`` classified correctly.

        ``data`` is book-style: a list of ``(x, y)`` pairs, labels one-hot
        columns (training data) or integers; ``convert`` is accepted for
        compatibility.
        """
        d = as_dataset(data, self.sizes[0])
        return self._net.accuracy(d.images, d.labels)

    def total_cost(self, data, lmbda, convert=False):
        """Return the mean cost over ``data`` plus 0.5*(lmbda/len(data))*sum w^2,
        as in the book."""
        d = as_dataset(data, self.sizes[0])
        return self._net.total_cost(d.images, d.labels, make_regularization("l2", lmbda))

    def save(self, filename):
        """Save the network to ``filename`` as JSON (readable by ``load``)."""
        _persistence.save(self._net, filename)


def _optimizer_options(options):
    """``SGD``'s optimiser keywords, refusing any that is not one."""
    from dataclasses import fields
    names = {f.name for f in fields(RunConfig) if f.metadata["applies"]} - \
        {"eta", "momentum", "nesterov"}                  # SGD's own arguments
    unknown = sorted(set(options) - names)
    if unknown:
        raise TypeError(f"SGD() got unexpected keyword arguments {', '.join(unknown)}; "
                        f"optimiser options are {', '.join(sorted(names))}")
    return options


def load(filename):
    """Load a network saved by ``Network.save``, by nndl, or by the book's
    network2.py; returns a ``network2.Network``."""
    return _persistence.load(filename, network_class=Network)


class _BookPrinter:
    """Print network2.py's lines after each epoch and collect its four lists."""

    def __init__(self, n_train, n_eval):
        self.sizes = {"training": n_train, "evaluation": n_eval}
        self.lists = {key: [] for key in ("evaluation_cost", "evaluation_accuracy",
                                          "training_cost", "training_accuracy")}

    def on_epoch_end(self, state):
        """Print the book's lines for this epoch (costs as numbers, accuracies
        as counts of correct images) and append them to the four lists."""
        record = state.history[-1]
        print(f"Epoch {state.epoch} training complete")
        for key in ("training_cost", "training_accuracy", "evaluation_cost",
                    "evaluation_accuracy"):
            if key not in record:
                continue
            data, quantity = key.split("_")
            if quantity == "cost":
                value = record[key]
                print(f"Cost on {data} data: {value}")
            else:
                value = round(record[key] * self.sizes[data])
                print(f"Accuracy on {data} data: {value} / {self.sizes[data]}")
            self.lists[key].append(value)
        print()

    def results(self):
        """Return network2.SGD's four lists, in the book's order."""
        return tuple(self.lists.values())


def sigmoid(z):
    """The sigmoid function."""
    return _costs.Sigmoid.fn(np.asarray(z, dtype=float))


def sigmoid_prime(z):
    """Derivative of the sigmoid function."""
    s = sigmoid(z)
    return s * (1 - s)
