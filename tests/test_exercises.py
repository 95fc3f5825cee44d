"""Numerical checks of the worked exercises and problems in docs/exercises.md.

Each test names the section it checks.  They use generated data or
scikit-learn's 8x8 digits, and the library's own costs, activations,
networks and update rules where the answer is about them, so that a wrong
derivation -- or a library that disagrees with it -- fails here.
"""

import math

import numpy as np
import pytest

from nndl.activations import Sigmoid, Softmax, Tanh
from nndl.costs import CrossEntropyCost, LogLikelihoodCost, QuadraticCost
from nndl.errors import ConfigError
from nndl.network import Network, mean_cost, one_hot
from nndl.optimizers import SGD, Momentum
from nndl.regularization import L1, L2

RNG = np.random.default_rng(20151201)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def softmax_c(z, c=1.0):
    """Equation (83): softmax with exponent c z, computed stably."""
    e = np.exp(c * (z - z.max()))
    return e / e.sum()


def numerical_gradient(f, x, h=1e-6):
    """Central differences of the scalar function f at the array x."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        up = f()
        x[i] = old - h
        down = f()
        x[i] = old
        grad[i] = (up - down) / (2 * h)
    return grad


def network_gradient_check(cost, output, hidden="sigmoid", sizes=(5, 4, 3), rows=6):
    """Return (backprop gradients, finite-difference gradients) of the summed
    cost of a small float64 network over ``rows`` random examples."""
    net = Network(list(sizes), cost=cost, hidden=hidden, output=output, dtype="float64",
                  seed=1)
    x = RNG.normal(size=(rows, sizes[0]))
    labels = RNG.integers(0, sizes[-1], rows)
    y = one_hot(labels, sizes[-1], np.float64)
    nabla_b, nabla_w = net.backprop(x, y)

    def total():
        return rows * mean_cost(net, x, labels)

    numeric_w = [numerical_gradient(total, w) for w in net.weights]
    numeric_b = [numerical_gradient(total, b) for b in net.biases]
    return (nabla_w, nabla_b), (numeric_w, numeric_b), (net, x, y)


# ------------------------------------------------------------- cross-entropy
def test_sigmoid_derivative_is_sigma_times_one_minus_sigma():
    """Exercise: sigma'(z) = sigma(z)(1 - sigma(z))."""
    z = RNG.uniform(-8, 8, 200)
    h = 1e-6
    numeric = (sigmoid(z + h) - sigmoid(z - h)) / (2 * h)
    assert np.allclose(numeric, sigmoid(z) * (1 - sigmoid(z)), rtol=1e-6, atol=1e-10)
    assert np.allclose(Sigmoid.derivative(Sigmoid.fn(z.copy())), numeric, rtol=1e-6, atol=1e-10)


def test_swapped_cross_entropy_is_undefined_at_zero_one_targets():
    """Exercise: -[a ln y + (1-a) ln(1-y)] is infinite when y is 0 or 1;
    the right form -[y ln a + (1-y) ln(1-a)] stays finite for a in (0, 1)."""
    a = 0.3
    with np.errstate(divide="ignore"):
        for y in (0.0, 1.0):
            swapped = -(a * np.log(y) + (1 - a) * np.log(1 - y))
            right = -(y * np.log(a) + (1 - y) * np.log(1 - a))
            assert math.isinf(swapped) and math.isfinite(right)


def test_cross_entropy_is_minimised_at_sigma_z_equals_y_with_binary_entropy():
    """Exercise: for y in (0, 1) the cross-entropy of one neuron is smallest
    at a = y, where it equals the binary entropy (equation (64))."""
    a = np.linspace(1e-4, 1 - 1e-4, 200_001)
    for y in RNG.uniform(0.05, 0.95, 10):
        c = -(y * np.log(a) + (1 - y) * np.log(1 - a))
        assert a[np.argmin(c)] == pytest.approx(y, abs=1e-4)
        entropy = -(y * np.log(y) + (1 - y) * np.log(1 - y))
        assert c.min() == pytest.approx(entropy, abs=1e-8)
        z = np.array([[math.log(y / (1 - y))]])          # sigma(z) = y
        assert CrossEntropyCost.fn(sigmoid(z), np.array([[y]]), z=z) == pytest.approx(entropy)
        # Gibbs' inequality: any other output costs more, by the KL divergence
        other = RNG.uniform(0.01, 0.99)
        kl = y * math.log(y / other) + (1 - y) * math.log((1 - y) / (1 - other))
        cost_other = -(y * math.log(other) + (1 - y) * math.log(1 - other))
        assert cost_other - entropy == pytest.approx(kl) and kl > 0


def test_bias_derivative_of_one_neuron_is_sigma_minus_y():
    """In the text, equation (62): dC/db = (1/n) sum (sigma(z) - y), and
    (61): dC/dw_j = (1/n) sum x_j (sigma(z) - y)."""
    x = RNG.normal(size=(8, 3))
    y = RNG.uniform(0, 1, 8)
    w, b = RNG.normal(size=3), np.array([0.4])

    def cost():
        a = sigmoid(x @ w + b[0])
        return -np.mean(y * np.log(a) + (1 - y) * np.log(1 - a))

    a = sigmoid(x @ w + b[0])
    assert numerical_gradient(cost, b)[0] == pytest.approx(np.mean(a - y), rel=1e-7)
    assert np.allclose(numerical_gradient(cost, w), x.T @ (a - y) / len(y), rtol=1e-6)


def test_many_layer_cross_entropy_output_error_is_a_minus_y():
    """Problem (many-layer networks): delta^L = a^L - y for the cross-entropy
    (equation (66)), so dC/dw^L_jk = a^{L-1}_k (a^L_j - y_j) (67); backprop
    agrees with finite differences in every layer."""
    (nw, nb), (fw, fb), (net, x, y) = network_gradient_check(CrossEntropyCost, "sigmoid")
    for a, b in zip(nw + nb, fw + fb):
        assert np.allclose(a, b, rtol=1e-6, atol=1e-8)
    activations, _ = net.forward(x)
    assert np.allclose(nw[-1], (activations[-1] - y).T @ activations[-2], rtol=1e-12)


def test_many_layer_quadratic_output_gradient_has_sigma_prime():
    """Problem (many-layer networks): for the quadratic cost
    dC/dw^L_jk = a^{L-1}_k (a^L_j - y_j) sigma'(z^L_j) (equation (65))."""
    (nw, nb), (fw, fb), (net, x, y) = network_gradient_check(QuadraticCost, "sigmoid")
    for a, b in zip(nw + nb, fw + fb):
        assert np.allclose(a, b, rtol=1e-6, atol=1e-8)
    activations, _ = net.forward(x)
    a = activations[-1]
    assert np.allclose(nw[-1], ((a - y) * a * (1 - a)).T @ activations[-2], rtol=1e-12)


def test_linear_outputs_with_quadratic_cost_have_error_a_minus_y():
    """Problem (linear output neurons): delta^L = a^L - y (equation (68)),
    so the output weights' gradient has no sigma' factor (69)-(70)."""
    (nw, nb), (fw, fb), (net, x, y) = network_gradient_check(QuadraticCost, "linear")
    for a, b in zip(nw + nb, fw + fb):
        assert np.allclose(a, b, rtol=1e-6, atol=1e-8)
    activations, z = net.forward(x)
    assert np.array_equal(activations[-1], z)
    assert np.allclose(nb[-1].ravel(), (activations[-1] - y).sum(axis=0), rtol=1e-12)
    assert np.allclose(nw[-1], (activations[-1] - y).T @ activations[-2], rtol=1e-12)


@pytest.mark.parametrize("cost", [QuadraticCost, CrossEntropyCost])
def test_the_x_j_factor_survives_any_cost(cost):
    """Problem (the x_j term): for one neuron, whatever the cost,
    dC/dw_j = x_j dC/db -- the factor comes from z = w.x + b, not from C."""
    net = Network([4, 1], cost=cost, dtype="float64", seed=3)
    x = np.array([[0.0, 1e-3, 0.5, 2.0]])
    nabla_b, nabla_w = net.backprop(x, np.array([[1.0]]))
    assert np.allclose(nabla_w[0], nabla_b[0] * x, rtol=1e-12, atol=0)
    assert nabla_w[0][0, 0] == 0.0


def test_average_of_sigma_prime_over_sigma_is_one_sixth():
    """In the text (footnote on eta): the integral of s(1 - s) over [0, 1] is 1/6."""
    s = np.linspace(0, 1, 100_001)
    assert np.trapezoid(s * (1 - s), s) == pytest.approx(1 / 6, rel=1e-9)


# ------------------------------------------------------------------ softmax
def test_sigmoid_outputs_need_not_sum_to_one():
    """Exercise: three sigmoid outputs with z = 0 sum to 1.5, not 1; a
    trained-from-scratch network's outputs do not sum to 1 either."""
    assert Sigmoid.fn(np.zeros((1, 3))).sum() == pytest.approx(1.5)
    net = Network([4, 5, 3], seed=0, dtype="float64")
    sums = net.feedforward(RNG.normal(size=(20, 4))).sum(axis=1)
    assert np.all(np.abs(sums - 1.0) > 1e-3)


def test_softmax_jacobian_signs_monotonicity():
    """Exercise (monotonicity): da_j/dz_k = a_j (delta_jk - a_k): positive on
    the diagonal, negative off it."""
    for _ in range(20):
        z = RNG.normal(scale=3, size=5)
        a = softmax_c(z)
        jac = np.diag(a) - np.outer(a, a)
        h = 1e-6
        numeric = np.column_stack([(softmax_c(z + h * e) - softmax_c(z - h * e)) / (2 * h)
                                   for e in np.eye(5)])
        assert np.allclose(numeric, jac, atol=1e-9)
        assert np.all(np.diag(jac) > 0) and np.all(jac[~np.eye(5, dtype=bool)] < 0)


def test_softmax_is_non_local_but_shift_invariant():
    """Exercise (non-locality): changing z_k moves every a_j; only a shift of
    all the z together leaves the outputs unchanged."""
    z = RNG.normal(size=(1, 4))
    a = Softmax.fn(z.copy())
    bumped = z.copy()
    bumped[0, 3] += 0.5
    assert np.all(Softmax.fn(bumped)[0, :3] < a[0, :3])
    assert np.allclose(Softmax.fn(z + 7.0), a, rtol=1e-12)


def test_inverting_softmax_gives_log_a_plus_a_constant():
    """Problem (inverting the softmax layer): z_j = ln a_j + C with one C
    for every j, namely C = ln sum_k e^{z_k}."""
    for _ in range(10):
        z = RNG.normal(scale=2, size=6)
        c = z - np.log(softmax_c(z))
        assert np.allclose(c, c[0], atol=1e-12)
        assert c[0] == pytest.approx(np.log(np.exp(z).sum()))


def test_log_likelihood_gradients_equations_81_82_84():
    """Problems (derive (81)-(82); backpropagation with softmax): delta^L =
    a^L - y, dC/db^L_j = a_j - y_j, dC/dw^L_jk = a^{L-1}_k (a_j - y_j); the
    whole backprop agrees with finite differences."""
    (nw, nb), (fw, fb), (net, x, y) = network_gradient_check(LogLikelihoodCost, "softmax")
    for a, b in zip(nw + nb, fw + fb):
        assert np.allclose(a, b, rtol=1e-6, atol=1e-8)
    activations, z = net.forward(x)
    a = activations[-1]
    assert np.allclose(nb[-1].ravel(), (a - y).sum(axis=0), rtol=1e-12)
    assert np.allclose(nw[-1], (a - y).T @ activations[-2], rtol=1e-12)
    # delta = dC/dz directly, on one example
    z0 = z[0].copy()
    label = int(np.argmax(y[0]))
    numeric = numerical_gradient(lambda: -math.log(softmax_c(z0)[label]), z0)
    assert np.allclose(numeric, softmax_c(z0) - y[0], atol=1e-8)


def test_softmax_with_large_c_tends_to_the_maximum():
    """Problem (where "softmax" comes from): for every c > 0 the outputs form
    a distribution; as c grows they tend to 1 at the largest z (shared
    equally between ties) and 0 elsewhere."""
    z = np.array([0.3, 2.0, -1.0, 1.9])
    for c in (0.1, 1.0, 10.0):
        a = softmax_c(z, c)
        assert np.all(a > 0) and a.sum() == pytest.approx(1.0)
    assert np.allclose(softmax_c(z, 1e4), [0, 1, 0, 0], atol=1e-12)
    assert np.allclose(softmax_c(np.array([1.0, 3.0, 3.0]), 1e4), [0, 0.5, 0.5], atol=1e-12)
    errors = [1 - softmax_c(z, c)[1] for c in (1, 10, 100)]
    assert errors[0] > errors[1] > errors[2]


# ------------------------------------------------------------ regularisation
def test_large_rotations_turn_a_six_into_a_nine():
    """Exercise (large rotations): rotated by 180 degrees, the average 6 of
    scikit-learn's digits looks more like the average 9 than like a 6."""
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    mean = {d: digits.images[digits.target == d].mean(axis=0) for d in range(10)}
    turned = np.rot90(mean[6], 2)

    def similarity(a, b):
        return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])

    assert similarity(turned, mean[9]) > similarity(turned, mean[6])
    assert similarity(np.rot90(mean[6], 2), mean[9]) > 0.5


def test_weighted_input_sd_is_sqrt_three_halves():
    """Exercise (weight initialisation): 1000 inputs, 500 of them 1, weights
    N(0, 1/1000) and bias N(0, 1): Var z = 500/1000 + 1 = 3/2."""
    net = Network([1000, 20_000], seed=5, dtype="float64")
    x = np.zeros(1000)
    x[:500] = 1.0
    z = net.weights[0] @ x + net.biases[0].ravel()
    assert z.std() == pytest.approx(math.sqrt(1.5), rel=0.02)
    large = Network([1000, 20_000], seed=5, dtype="float64", init="large")
    z_large = large.weights[0] @ x + large.biases[0].ravel()
    assert z_large.std() == pytest.approx(math.sqrt(501), rel=0.02)


def test_l2_decay_per_epoch_is_exp_minus_eta_lambda_over_m():
    """Problem (regularisation and weight initialisation): with no data
    gradient, the library's L2 step shrinks a weight by (1 - eta lmbda / n)
    per step, hence by about exp(-eta lmbda / m) per epoch of n/m steps."""
    eta, lmbda, n, m = 0.1, 5.0, 50_000, 10
    w = RNG.normal(size=(30, 784))
    start = w.copy()
    sgd, l2 = SGD(eta), L2(lmbda)
    for _ in range(n // m):
        grad = l2.add_gradient(np.zeros_like(w), w, n)
        sgd.update_params([w], [grad])
    assert np.allclose(w, start * (1 - eta * lmbda / n) ** (n // m), rtol=1e-9)
    assert np.allclose(w / start, math.exp(-eta * lmbda / m), rtol=1e-5)


def test_decay_dominates_then_tails_off_on_digits():
    """Problem (regularisation and weight initialisation), on a real run:
    from N(0, 1) weights with eta 0.1, lmbda 20 and mini-batch 10 on the
    1,797 8x8 digits, the first epochs shrink the hidden weights' size by
    exp(-eta lmbda / m) each; the decay then tails off, with the weights'
    size near 1/sqrt(n_in) = 1/8."""
    datasets = pytest.importorskip("sklearn.datasets")
    from nndl.data import Dataset
    from nndl.training import train
    digits = datasets.load_digits()
    data = Dataset((digits.data / 16.0).astype(np.float32), digits.target)
    eta, lmbda, m = 0.1, 20.0, 10
    net = Network([64, 30, 10], init="large", seed=0)
    sizes = [float(np.sqrt(np.mean(net.weights[0] ** 2)))]
    for _ in range(20):
        train(net, data, 1, m, SGD(eta), regularization=L2(lmbda), engine="reference")
        sizes.append(float(np.sqrt(np.mean(net.weights[0] ** 2))))
    ratios = np.array(sizes[1:]) / np.array(sizes[:-1])
    assert ratios[:2] == pytest.approx(math.exp(-eta * lmbda / m), rel=0.02)
    assert ratios[-1] > 0.97
    assert 0.5 / 8 < sizes[-1] < 3 / 8


def test_l1_step_moves_every_weight_by_a_constant_towards_zero():
    """In the text, equation (97) with sgn(0) = 0, against L2's (98)."""
    eta, lmbda, n = 0.5, 2.0, 1000
    w = np.array([-2.0, -0.01, 0.0, 0.01, 2.0])
    l1 = w.copy()
    SGD(eta).update_params([l1], [L1(lmbda).add_gradient(np.zeros_like(w), w, n)])
    assert np.allclose(w - l1, eta * lmbda / n * np.sign(w), rtol=1e-12)
    assert l1[2] == 0.0
    l2 = w.copy()
    SGD(eta).update_params([l2], [L2(lmbda).add_gradient(np.zeros_like(w), w, n)])
    assert np.allclose(l2, (1 - eta * lmbda / n) * w, rtol=1e-12)


def test_naive_cross_entropy_cost_derivative_breaks_at_saturation():
    """Problem (cost_derivative for the cross-entropy): (a - y)/(a(1 - a))
    times sigma'(z) is 0 * inf = nan once sigma(z) rounds to 1; the library's
    CrossEntropyCost.delta returns a - y directly and stays finite."""
    z = np.array([[40.0]])
    a = Sigmoid.fn(z)
    y = np.zeros((1, 1))
    assert a[0, 0] == 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        naive = (a - y) / (a * (1 - a)) * Sigmoid.derivative(a)
    assert np.isnan(naive[0, 0])
    assert CrossEntropyCost.delta(z, a, y)[0, 0] == 1.0


# ----------------------------------------------------------- hyper-parameters
def test_gradient_descent_on_lambda_drives_it_to_zero():
    """Exercise (learning lambda and eta by gradient descent): the training
    cost's derivative in lambda is sum w^2 / 2n > 0 at every point, so
    descending it only ever lowers lambda; and the cost after one step
    falls as eta grows from 0 (derivative -|grad C|^2), so a greedy descent
    on eta only ever raises it."""
    net = Network([6, 4, 3], dtype="float64", seed=2)
    x = RNG.normal(size=(10, 6))
    labels = RNG.integers(0, 3, 10)
    h = 1e-6
    for lmbda in (0.5, 5.0):
        up = mean_cost(net, x, labels, L2(lmbda + h))
        down = mean_cost(net, x, labels, L2(lmbda - h))
        squares = sum(float(np.sum(w ** 2)) for w in net.weights)
        assert (up - down) / (2 * h) == pytest.approx(squares / (2 * len(x)), rel=1e-6)
    y = one_hot(labels, 3, np.float64)
    nabla_b, nabla_w = net.backprop(x, y)
    grads = [g / len(x) for g in nabla_w + nabla_b]
    params = net.weights + net.biases
    start = [p.copy() for p in params]

    def cost_after(eta):
        for p, s, g in zip(params, start, grads):
            p[...] = s - eta * g
        return mean_cost(net, x, labels)

    slope = (cost_after(h) - cost_after(-h)) / (2 * h)
    assert slope == pytest.approx(-sum(float(np.sum(g * g)) for g in grads), rel=1e-5)


def iteration_matrix(mu, eta, k):
    """The momentum update on C = k w^2 / 2 as a linear map of (v, w)."""
    return np.array([[mu, -eta * k], [mu, 1 - eta * k]])


def test_momentum_above_one_diverges_for_every_step_size():
    """Exercise (mu > 1): the update's determinant is mu, so for mu > 1 some
    eigenvalue exceeds 1 in size and (v, w) grows without bound, however
    small eta is; the library refuses such a mu."""
    for eta_k in (1e-4, 0.01, 0.5, 1.9):
        m = iteration_matrix(1.1, eta_k, 1.0)
        assert np.linalg.det(m) == pytest.approx(1.1)
        assert max(abs(np.linalg.eigvals(m))) > 1
        assert max(abs(np.linalg.eigvals(iteration_matrix(0.9, eta_k, 1.0)))) < 1
    with pytest.raises(ConfigError):
        Momentum(0.5, mu=1.1)


def test_negative_momentum_slows_descent_and_flips_the_velocity():
    """Exercise (mu < 0): on a constant slope the velocity settles at
    -eta g / (1 - mu), smaller than plain descent's step; near a minimum
    the velocity's sign flips back and forth."""
    eta, g = 0.1, 2.0
    for mu in (-0.5, 0.0, 0.5):
        v = 0.0
        for _ in range(200):
            v = mu * v - eta * g
        assert v == pytest.approx(-eta * g / (1 - mu))
    assert abs(-eta * g / 1.5) < eta * g
    eigen = np.linalg.eigvals(iteration_matrix(-0.5, 0.1, 1.0))
    assert min(eigen.real) < 0


def test_identity_111_sigmoid_from_tanh():
    """Exercise: sigma(z) = (1 + tanh(z/2)) / 2 (equation (111)), and the
    library's Sigmoid, computed that way, equals 1/(1 + e^-z)."""
    z = RNG.uniform(-30, 30, 1000)
    assert np.allclose((1 + np.tanh(z / 2)) / 2, sigmoid(z), rtol=1e-12, atol=1e-15)
    assert np.allclose(Sigmoid.fn(z.copy()), sigmoid(z), rtol=1e-12, atol=1e-15)
    assert np.allclose(Tanh.fn(z), 2 * sigmoid(2 * z) - 1, rtol=1e-12, atol=1e-15)


def test_tanh_output_layer_with_quadratic_cost_backpropagates():
    """In the text (tanh outputs): a tanh output layer trained with the
    quadratic cost has delta^L = (a - y)(1 - a^2), and its outputs can be
    negative, outside the range the cross-entropy needs."""
    (nw, nb), (fw, fb), (net, x, y) = network_gradient_check(QuadraticCost, "tanh")
    for a, b in zip(nw + nb, fw + fb):
        assert np.allclose(a, b, rtol=1e-6, atol=1e-8)
    with pytest.raises(ConfigError):
        Network([3, 2], cost=CrossEntropyCost, output="tanh")
    activations, _ = net.forward(3 * x)
    assert activations[-1].min() < 0 < activations[-1].max()
