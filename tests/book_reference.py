"""A faithful per-example transcription of the book's network2.py training.

``BookNetwork`` is network2.py's ``update_mini_batch`` and ``backprop``,
changed only to Python 3 syntax: it loops over the examples of each
mini-batch one at a time.  The tests use it to prove that nndl's
matrix-based training gives the same weights; the benchmarks use it as the
baseline that nndl's speed is measured against.  Mini-batch orders are
passed in, so that both implementations can be fed the same shuffles.
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


class BookCrossEntropy:
    @staticmethod
    def delta(z, a, y):
        return a - y


class BookQuadratic:
    @staticmethod
    def delta(z, a, y):
        return (a - y) * sigmoid_prime(z)


class BookNetwork:
    """network2.py's Network, reduced to what training needs, verbatim."""

    def __init__(self, sizes, weights, biases, cost):
        self.num_layers = len(sizes)
        self.sizes = sizes
        self.weights = [w.copy() for w in weights]
        self.biases = [b.copy() for b in biases]
        self.cost = cost

    def SGD(self, training_data, epochs, mini_batch_size, eta, lmbda, orders):
        """network2.py's SGD without monitoring; ``orders[j]`` is epoch j's
        permutation of the training data."""
        n = len(training_data)
        for j in range(epochs):
            shuffled = [training_data[i] for i in orders[j]]
            mini_batches = [shuffled[k:k + mini_batch_size]
                            for k in range(0, n, mini_batch_size)]
            for mini_batch in mini_batches:
                self.update_mini_batch(mini_batch, eta, lmbda, len(training_data))

    def update_mini_batch(self, mini_batch, eta, lmbda, n):
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
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        activation = x
        activations = [x]
        zs = []
        for b, w in zip(self.biases, self.weights):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        delta = self.cost.delta(zs[-1], activations[-1], y)
        nabla_b[-1] = delta
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())
        for l in range(2, self.num_layers):
            z = zs[-l]
            sp = sigmoid_prime(z)
            delta = np.dot(self.weights[-l + 1].transpose(), delta) * sp
            nabla_b[-l] = delta
            nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())
        return (nabla_b, nabla_w)


def book_columns(images, labels, n_out=10):
    """The book's data layout: a list of (n_in, 1) float64 columns and a list
    of one-hot (n_out, 1) columns."""
    eye = np.eye(n_out)
    xs = [x.reshape(-1, 1).astype(np.float64) for x in images]
    ys = [eye[j].reshape(-1, 1) for j in labels]
    return xs, ys
