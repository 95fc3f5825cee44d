"""nndl's matrix-based training equals the book's per-example algorithm.

``BookNetwork`` (tests/book_reference.py) is a faithful transcription of network2.py's
``update_mini_batch`` and ``backprop`` (Python 3 syntax, nothing else
changed): it loops over the examples of each mini-batch one at a time.
Given the same starting weights and the same mini-batch order, network2's
Network (float64, one matrix per mini-batch) must end with the same weights
to 1e-9 relative.
"""

import copy

import numpy as np
import pytest

import network2
from book_reference import BookCrossEntropy, BookNetwork, BookQuadratic
from nndl.bookdata import BookList


def make_book_data(n, n_in, n_out, seed):
    """Random book-style training and evaluation lists."""
    rng = np.random.default_rng(seed)
    images = rng.random((n, n_in))  # float64: no rounding to float32 allowed
    labels = rng.integers(0, n_out, n)
    eye = np.eye(n_out)
    training = [(x.reshape(-1, 1).astype(np.float64), eye[j].reshape(-1, 1))
                for x, j in zip(images, labels)]
    evaluation = [(x.reshape(-1, 1).astype(np.float64), int(j)) for x, j in zip(images, labels)]
    return training, evaluation


def relative_error(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("cost, book_cost, lmbda, monitor, sizes, mbs", [
    (network2.CrossEntropyCost, BookCrossEntropy, 0.0, False, [20, 8, 4], 10),
    (network2.CrossEntropyCost, BookCrossEntropy, 5.0, True, [20, 8, 4], 10),
    (network2.QuadraticCost, BookQuadratic, 2.0, True, [20, 12, 6, 4], 7),
])
def test_network2_matches_per_example_book_algorithm(cost, book_cost, lmbda, monitor, sizes, mbs,
                                                     capsys):
    training, evaluation = make_book_data(203, sizes[0], sizes[-1], seed=1)
    epochs = 4
    net = network2.Network(sizes, cost=cost, seed=42)
    book = BookNetwork(sizes, net.weights, net.biases, book_cost)
    # network2 shuffles with the network's generator: replay the same draws.
    replay = copy.deepcopy(net.rng)
    orders = [replay.permutation(len(training)) for _ in range(epochs)]

    result = net.SGD(training, epochs, mbs, 0.5, lmbda=lmbda, evaluation_data=evaluation,
                     monitor_evaluation_cost=monitor, monitor_evaluation_accuracy=monitor,
                     monitor_training_cost=monitor, monitor_training_accuracy=monitor)
    book.SGD(training, epochs, mbs, 0.5, lmbda, orders)

    for ours, theirs in zip(net.weights + net.biases, book.weights + book.biases):
        assert ours.dtype == np.float64
        assert relative_error(ours, theirs) < 1e-9
    if monitor:
        assert [len(r) for r in result] == [epochs] * 4
        out = capsys.readouterr().out
        assert out.count("training complete") == epochs
        assert "Accuracy on evaluation data: " in out


def test_training_moves_weights_away_from_start():
    """Guard for the test above: training changes the weights noticeably."""
    training, _ = make_book_data(100, 20, 4, seed=2)
    net = network2.Network([20, 8, 4], seed=3)
    start = [w.copy() for w in net.weights]
    net.SGD(training, 2, 10, 0.5)
    assert all(relative_error(w, s) > 1e-3 for w, s in zip(net.weights, start))


def test_book_list_and_plain_list_train_identically():
    """The BookList fast path and a plain list of tuples give the same run."""
    rng = np.random.default_rng(0)
    images = rng.random((50, 12)).astype(np.float32)
    labels = rng.integers(0, 3, 50)
    fast = BookList.from_arrays(images, labels, one_hot=True)
    plain = list(fast)
    assert fast.arrays is not None
    a = network2.Network([12, 5, 3], seed=7)
    b = network2.Network([12, 5, 3], seed=7)
    a.SGD(fast, 2, 5, 1.0)
    b.SGD(plain, 2, 5, 1.0)
    for wa, wb in zip(a.weights, b.weights):
        np.testing.assert_array_equal(wa, wb)


def test_book_list_forgets_arrays_when_shuffled():
    import random
    images = np.arange(20, dtype=np.float32).reshape(10, 2)
    labels = np.arange(10) % 3
    data = BookList.from_arrays(images, labels, one_hot=True)
    assert data[:4].arrays[0].shape == (4, 2)
    random.Random(0).shuffle(data)
    assert data.arrays is None
