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
caller's list in place.
"""

import numpy as np

from nndl import costs as _costs
from nndl import persistence as _persistence
from nndl.bookdata import as_dataset, vectorized_result
from nndl.network import Network as _Network
from nndl.regularization import make_regularization
from nndl.optimizers import SGD as _SGD
from nndl.training import Monitor, train

QuadraticCost = _costs.QuadraticCost
CrossEntropyCost = _costs.CrossEntropyCost
LogLikelihoodCost = _costs.LogLikelihoodCost

__all__ = ["Network", "QuadraticCost", "CrossEntropyCost", "LogLikelihoodCost",
           "load", "vectorized_result", "sigmoid", "sigmoid_prime"]


class Network(_Network):
    """network2.py's Network: ``Network(sizes, cost=CrossEntropyCost)``.

    ``weights[l]`` has shape (n_out, n_in) and ``biases[l]`` (n_out, 1), as in
    the book; both lists may be read and assigned.
    """

    def __init__(self, sizes, cost=CrossEntropyCost, seed=None, dtype="float64", **kwargs):
        super().__init__(sizes, cost=cost, dtype=dtype, seed=seed, **kwargs)

    def feedforward(self, a):
        """Return the output for input ``a``: a book-style (n_in, 1) column
        gives a (n_out, 1) column; rows of examples give rows of outputs."""
        a = np.asarray(a)
        if a.ndim == 2 and a.shape[1] == 1 and a.shape[0] == self.sizes[0]:
            return super().feedforward(a.T).T
        return super().feedforward(a)

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
            callbacks=()):
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
        ``callbacks`` are more ``nndl.training`` callbacks (e.g.
        ``nndl.notebook.LivePlot()``), run after the monitoring.
        Afterwards ``self.last_run`` holds the stop reason (None if every
        epoch ran), the best epoch, the learning rate of each epoch and the engine.
        """
        from nndl.callbacks import EarlyStopping, HalvingSchedule
        from nndl.dropout import Dropout
        from nndl.optimizers import make_optimizer
        from nndl.regularization import MaxNorm
        training = as_dataset(training_data, self.sizes[0])
        evaluation = as_dataset(evaluation_data, self.sizes[0]) if evaluation_data else None
        printer = _BookPrinter(len(training), len(evaluation) if evaluation else 0)
        monitor = Monitor(monitor_training_cost, monitor_training_accuracy,
                          monitor_evaluation_cost, monitor_evaluation_accuracy)
        extra = list(callbacks)
        callbacks = [monitor]
        if early_stopping_n:
            callbacks.append(EarlyStopping(early_stopping_n))
        if lr_schedule:
            callbacks.append(HalvingSchedule(lr_schedule))
        state = train(
            self, training, epochs, mini_batch_size, make_optimizer(eta, momentum, nesterov),
            regularization=make_regularization(regularization, lmbda),
            evaluation=evaluation, callbacks=callbacks + extra + [printer],
            dropout=Dropout(dropout, input_dropout) if dropout or input_dropout else None,
            constraint=MaxNorm(max_norm) if max_norm else None)
        best = [cb.best_epoch for cb in callbacks[1:]]
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
        sgd_step(self, data.images.astype(self.dtype), y, _SGD(eta),
                 make_regularization("l2", lmbda), n)

    def backprop(self, x, y, masks=None):
        """Return (nabla_b, nabla_w) for book-style columns ``x`` and ``y``;
        with rows of examples, the gradient summed over them (through the
        dropout ``masks``, if any)."""
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim == 2 and x.shape[1] == 1 and x.shape[0] == self.sizes[0]:
            return super().backprop(x.T.astype(self.dtype), y.T.astype(self.dtype), masks)
        return super().backprop(x, y, masks)

    def accuracy(self, data, convert=False):
        """Return the number of inputs in ``data`` classified correctly.

        ``convert`` is accepted for compatibility: labels are recognised
        whether they are one-hot columns (training data) or integers.
        """
        if isinstance(data, np.ndarray):   # nndl's own signature: (x, labels)
            raise TypeError("network2.Network.accuracy takes book-style data")
        d = as_dataset(data, self.sizes[0])
        return super().accuracy(d.images, d.labels)

    def total_cost(self, data, lmbda, convert=False):
        """Return the mean cost over ``data`` plus 0.5*(lmbda/len(data))*sum w^2,
        as in the book."""
        d = as_dataset(data, self.sizes[0])
        return super().total_cost(d.images, d.labels, make_regularization("l2", lmbda))

    def save(self, filename):
        """Save the network to ``filename`` as JSON (readable by ``load``)."""
        _persistence.save(self, filename)


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
