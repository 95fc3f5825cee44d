"""Training on the real MNIST data, as the chapter does."""

import numpy as np
import pytest

import mnist_loader
import network2
from nndl import Network
from nndl.optimizers import SGD
from nndl.regularization import L2
from nndl.training import Monitor, train

pytestmark = pytest.mark.mnist


def test_one_epoch_of_784_30_10_reaches_93_percent(mnist):
    net = Network([784, 30, 10], seed=0)
    state = train(net, mnist.training, 1, 10, SGD(0.5), regularization=L2(5.0),
                  evaluation=mnist.validation, callbacks=[Monitor(evaluation_accuracy=True)])
    assert state.history[0]["evaluation_accuracy"] >= 0.93


def test_chapter_first_session_runs_unchanged(capsys):
    """The chapter's first >>> session, verbatim; the book reports 95.49%."""
    training_data, validation_data, test_data = \
        mnist_loader.load_data_wrapper()
    net = network2.Network([784, 30, 10], cost=network2.CrossEntropyCost)
    net.large_weight_initializer()
    result = net.SGD(training_data, 30, 10, 0.5, evaluation_data=test_data,
                     monitor_evaluation_accuracy=True)
    evaluation_cost, evaluation_accuracy, training_cost, training_accuracy = result
    assert evaluation_cost == [] and training_cost == [] and training_accuracy == []
    assert len(evaluation_accuracy) == 30
    assert all(isinstance(a, int) for a in evaluation_accuracy)
    # unseeded, so the run differs from the book's; it must end near 95.49%
    assert 9450 <= evaluation_accuracy[-1] <= 9650
    out = capsys.readouterr().out
    assert "Epoch 29 training complete" in out
    assert f"Accuracy on evaluation data: {evaluation_accuracy[-1]} / 10000" in out
    assert net.weights[0].shape == (30, 784) and net.biases[1].shape == (10, 1)
    assert net.accuracy(test_data) == evaluation_accuracy[-1]


def test_book_representations():
    training_data, validation_data, test_data = mnist_loader.load_data_wrapper()
    assert len(training_data) == 50000 and len(validation_data) == 10000 and len(test_data) == 10000
    x, y = training_data[0]
    assert x.shape == (784, 1) and y.shape == (10, 1) and int(np.argmax(y)) == 5
    x, label = validation_data[0]
    assert x.shape == (784, 1) and isinstance(label, int)
    tr, va, te = mnist_loader.load_data()
    assert tr[0].shape == (50000, 784) and te[1].shape == (10000,)
