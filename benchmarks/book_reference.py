"""The chapter's per-example algorithm, written from the book, for timing.

This is network2.py's ``update_mini_batch`` and ``backprop``: each
mini-batch loops over its examples one (784, 1) column at a time, sums their
gradients, then applies equation (93).  Float64, sigmoid neurons, the
cross-entropy cost -- the configuration the chapter times.
"""

import numpy as np


def sigmoid(z):
    """The sigmoid function."""
    return 1.0 / (1.0 + np.exp(-z))


class BookNetwork:
    """network2.Network reduced to training: weights (n_out, n_in), columns."""

    def __init__(self, sizes, seed=0):
        rng = np.random.default_rng(seed)
        self.sizes = sizes
        self.biases = [rng.standard_normal((y, 1)) for y in sizes[1:]]
        self.weights = [rng.standard_normal((y, x)) / np.sqrt(x)
                        for x, y in zip(sizes[:-1], sizes[1:])]

    def sgd_epoch(self, xs, ys, order, mini_batch_size, eta, lmbda):
        """One epoch of the book's SGD over columns xs[i], one-hot ys[i]."""
        n = len(order)
        for k in range(0, n, mini_batch_size):
            batch = order[k:k + mini_batch_size]
            self.update_mini_batch([(xs[i], ys[i]) for i in batch], eta, lmbda, n)

    def update_mini_batch(self, mini_batch, eta, lmbda, n):
        """Equation (93) with the gradient summed example by example."""
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in mini_batch:
            delta_nabla_b, delta_nabla_w = self.backprop(x, y)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
        self.weights = [(1 - eta * (lmbda / n)) * w - (eta / len(mini_batch)) * nw
                        for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - (eta / len(mini_batch)) * nb
                       for b, nb in zip(self.biases, nabla_b)]

    def backprop(self, x, y):
        """The gradient for one example: (BP1)-(BP4) with delta = a - y."""
        activation, activations = x, [x]
        for b, w in zip(self.biases, self.weights):
            activation = sigmoid(np.dot(w, activation) + b)
            activations.append(activation)
        delta = activations[-1] - y
        nabla_b = [None] * len(self.weights)
        nabla_w = [None] * len(self.weights)
        nabla_b[-1], nabla_w[-1] = delta, np.dot(delta, activations[-2].T)
        for l in range(2, len(self.sizes)):
            a = activations[-l]
            delta = np.dot(self.weights[-l + 1].T, delta) * a * (1 - a)
            nabla_b[-l], nabla_w[-l] = delta, np.dot(delta, activations[-l - 1].T)
        return nabla_b, nabla_w


def book_columns(images, labels, n_out=10):
    """The book's data layout: a list of (784, 1) float64 columns and one-hot
    (10, 1) columns."""
    eye = np.eye(n_out)
    xs = [x.reshape(-1, 1).astype(np.float64) for x in images]
    ys = [eye[j].reshape(-1, 1) for j in labels]
    return xs, ys
