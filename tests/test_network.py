"""The network, costs and regularisers: gradients, stability, validation."""

import numpy as np
import pytest

from nndl import ConfigError, DataError, Network
from nndl.activations import Sigmoid, Softmax
from nndl.costs import CrossEntropyCost, LogLikelihoodCost, QuadraticCost
from nndl.network import one_hot
from nndl.optimizers import SGD
from nndl.regularization import L1, L2, make_regularization
from nndl.training import train


def numerical_gradient(net, x, y, param, eps=1e-6):
    """Central-difference gradient of the summed cost with respect to ``param``."""
    grad = np.zeros_like(param)
    for idx in np.ndindex(param.shape):
        old = param[idx]
        param[idx] = old + eps
        acts, z = net.forward(x)
        plus = net.cost.fn(acts[-1], y, z=z)
        param[idx] = old - eps
        acts, z = net.forward(x)
        minus = net.cost.fn(acts[-1], y, z=z)
        param[idx] = old
        grad[idx] = (plus - minus) / (2 * eps)
    return grad


@pytest.mark.parametrize("cost, hidden, output", [
    ("quadratic", "sigmoid", "sigmoid"),
    ("cross-entropy", "sigmoid", "sigmoid"),
    ("log-likelihood", "sigmoid", "softmax"),
    ("cross-entropy", "tanh", "sigmoid"),
    ("quadratic", "relu", "linear"),
])
def test_backprop_matches_numerical_gradient(cost, hidden, output):
    net = Network([5, 4, 3, 3], cost=cost, hidden=hidden, output=output, dtype="float64", seed=0)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 5))
    y = one_hot(rng.integers(0, 3, 6), 3, np.float64)
    nabla_b, nabla_w = net.backprop(x, y)
    for analytic, param in zip(nabla_w + nabla_b, net.weights + net.biases):
        np.testing.assert_allclose(analytic, numerical_gradient(net, x, y, param),
                                   rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("cost", [CrossEntropyCost, QuadraticCost])
def test_costs_finite_when_outputs_saturate(cost):
    z = np.array([[1000.0, -1000.0, 0.0, 40.0]])
    a = Sigmoid.fn(z)
    assert a[0, 0] == 1.0 and a[0, 1] == 0.0
    y = np.array([[0.0, 1.0, 1.0, 0.0]])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        c_z = cost.fn(a, y, z=z)
        c_a = cost.fn(a, y)
    assert np.isfinite(c_z) and np.isfinite(c_a)
    if cost is CrossEntropyCost:
        # exact from z: 1000 + 1000 + ln 2 + ln(1+e^40) = 2040 + ln 2 (to double precision)
        assert c_z == pytest.approx(2000 + np.log(2) + 40, rel=1e-12)
        # the book's case: a = y = 1 exactly costs nothing, not nan
        assert cost.fn(np.array([[1.0]]), np.array([[1.0]])) == pytest.approx(0, abs=1e-6)


def test_log_likelihood_stable_for_huge_z():
    z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]])
    a = Softmax.fn(z)
    assert np.all(np.isfinite(a))
    np.testing.assert_allclose(a.sum(axis=1), 1.0)
    y = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    c = LogLikelihoodCost.fn(a, y, z=z)
    assert c == pytest.approx(2001 + np.log1p(np.exp(-1.0)), rel=1e-12)


def test_seed_makes_runs_bit_for_bit_repeatable(tiny_data):
    runs = []
    for _ in range(2):
        net = Network([4, 6, 3], seed=123)
        train(net, tiny_data, 3, 7, SGD(0.5), regularization=L2(1.0))
        runs.append(net.weights + net.biases)
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
    other = Network([4, 6, 3], seed=124)
    assert not np.array_equal(other.weights[0], runs[0][0])


def test_float32_and_float64_agree(tiny_data):
    nets = {}
    for dtype in ("float32", "float64"):
        net = Network([4, 6, 3], dtype=dtype, seed=5)
        train(net, tiny_data, 2, 10, SGD(0.5))
        nets[dtype] = net
    assert nets["float32"].weights[0].dtype == np.float32
    np.testing.assert_allclose(nets["float32"].weights[0], nets["float64"].weights[0],
                               rtol=1e-4, atol=1e-5)


def test_default_init_scales_weights_by_fan_in():
    net = Network([400, 300, 10], seed=0, dtype="float64")
    assert np.std(net.weights[0]) == pytest.approx(1 / np.sqrt(400), rel=0.05)
    assert np.std(net.biases[0]) == pytest.approx(1, rel=0.2)
    net.large_weight_initializer()
    assert np.std(net.weights[0]) == pytest.approx(1, rel=0.05)


def test_l2_step_is_equation_93():
    """One SGD step with L2: w -> (1 - eta*lmbda/n) w - (eta/m) sum grad."""
    net = Network([3, 2], dtype="float64", seed=0)
    x = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
    y = one_hot([0, 1], 2, np.float64)
    w0, b0 = net.weights[0].copy(), net.biases[0].copy()
    nb, nw = net.backprop(x, y)
    from nndl.training import sgd_step
    sgd_step(net, x, y, SGD(0.5), L2(4.0), n=100)
    np.testing.assert_allclose(net.weights[0], (1 - 0.5 * 4.0 / 100) * w0 - 0.5 / 2 * nw[0],
                               rtol=1e-13)
    np.testing.assert_allclose(net.biases[0], b0 - 0.5 / 2 * nb[0], rtol=1e-13)


def test_l1_step_is_equation_97_with_sign_of_zero_zero():
    net = Network([3, 2], dtype="float64", seed=0)
    net.weights[0][0, 0] = 0.0
    x = np.zeros((1, 3))          # zero input: the cost gradient of every weight is 0
    y = one_hot([0], 2, np.float64)
    w0 = net.weights[0].copy()
    from nndl.training import sgd_step
    sgd_step(net, x, y, SGD(0.5), L1(4.0), n=100)
    np.testing.assert_allclose(net.weights[0], w0 - 0.5 * 4.0 / 100 * np.sign(w0))
    assert net.weights[0][0, 0] == 0.0


def test_regularization_penalties():
    w = [np.array([[1.0, -2.0]]), np.array([[3.0]])]
    assert L2(2.0).penalty(w, 10) == pytest.approx(0.5 * 0.2 * 14)
    assert L1(2.0).penalty(w, 10) == pytest.approx(0.2 * 6)
    assert make_regularization("l2", 0).penalty(w, 10) == 0


@pytest.mark.parametrize("kwargs, message", [
    (dict(sizes=[784]), "at least 2 layers"),
    (dict(sizes=[784, 0, 10]), "positive integers"),
    (dict(sizes=[784, 2.5, 10]), "positive integers"),
    (dict(sizes=[4, 3], cost="hinge"), "unknown cost"),
    (dict(sizes=[4, 3], output="softmax"), "cross-entropy needs sigmoid"),
    (dict(sizes=[4, 3], cost="log-likelihood", output="sigmoid"), "softmax output"),
    (dict(sizes=[4, 3], init="huge"), "unknown init"),
    (dict(sizes=[4, 3], dtype="float16"), "float32 or float64"),
])
def test_bad_network_arguments_are_refused(kwargs, message):
    sizes = kwargs.pop("sizes")
    with pytest.raises(ConfigError, match=message):
        Network(sizes, **kwargs)


def test_bad_training_arguments_are_refused(tiny_data):
    net = Network([4, 3, 3], seed=0)
    with pytest.raises(ConfigError, match="eta"):
        SGD(0)
    with pytest.raises(ConfigError, match="lmbda"):
        L2(-1)
    with pytest.raises(ConfigError, match="mini-batch"):
        train(net, tiny_data, 1, 0, SGD(0.1))
    with pytest.raises(DataError, match="input layer"):
        train(Network([5, 3], seed=0), tiny_data, 1, 10, SGD(0.1))
    with pytest.raises(DataError, match="output"):
        train(Network([4, 2], seed=0), tiny_data, 1, 10, SGD(0.1))


def test_training_learns_tiny_problem(tiny_data):
    net = Network([4, 8, 3], seed=0)
    before = net.accuracy(tiny_data.images, tiny_data.labels)
    train(net, tiny_data, 60, 5, SGD(1.0))
    after = net.accuracy(tiny_data.images, tiny_data.labels)
    assert after >= 54 and after > before
