"""Adam, RMSProp and AdaGrad against PyTorch's implementations; the exact
Hessian against finite differences; the full-batch methods (L-BFGS, BFGS,
conjugate gradient, Newton) on small problems; refusals and resumes."""

import math

import numpy as np
import pytest

from nndl.checkpoint import Checkpoint, restore
from nndl.data.dataset import Dataset
from nndl.errors import ConfigError
from nndl.fullbatch import (BFGS, LBFGS, MAX_DENSE_PARAMETERS, ConjugateGradient, Newton,
                            Objective, make_method, minimize)
from nndl.network import Network, one_hot
from nndl.optimizers import AdaGrad, Adam, RMSProp
from nndl.regularization import L1, L2
from nndl.training import Monitor, train


@pytest.fixture(scope="module")
def torch():
    """PyTorch, which these comparisons need (the 'test' extra installs it)."""
    try:
        import torch
    except ImportError:
        pytest.fail("the optimiser tests compare with PyTorch, which is missing: "
                    "pip install -e '.[test]'")
    return torch


def gradient_stream(shapes, steps, seed=0):
    """A repeatable sequence of gradients (one list of arrays per step)."""
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s) * 10.0 ** rng.uniform(-3, 1) for s in shapes]
            for _ in range(steps)]


CASES = [
    (lambda: Adam(0.01, 0.8, 0.99, 1e-6),
     lambda t, ps: t.optim.Adam(ps, lr=0.01, betas=(0.8, 0.99), eps=1e-6)),
    (lambda: RMSProp(0.01, 0.95, 1e-7),
     lambda t, ps: t.optim.RMSprop(ps, lr=0.01, alpha=0.95, eps=1e-7)),
    (lambda: AdaGrad(0.1, 1e-9, 0.2),
     lambda t, ps: t.optim.Adagrad(ps, lr=0.1, eps=1e-9, initial_accumulator_value=0.2)),
]


@pytest.mark.parametrize("ours, theirs", CASES, ids=["adam", "rmsprop", "adagrad"])
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-9), (np.float32, 2e-4)])
def test_adaptive_optimisers_match_pytorch(torch, ours, theirs, dtype, rtol):
    shapes = [(5, 3), (5, 1)]
    rng = np.random.default_rng(1)
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    tparams = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    opt, topt = ours(), theirs(torch, tparams)
    for grads in gradient_stream(shapes, 50):
        grads = [g.astype(dtype) for g in grads]
        for tp, g in zip(tparams, grads):
            tp.grad = torch.tensor(g.copy())
        topt.step()
        opt.update_params(params, [g.copy() for g in grads])
    for p, tp in zip(params, tparams):
        assert p.dtype == dtype
        np.testing.assert_allclose(p, tp.detach().numpy(), rtol=rtol, atol=rtol * 1e-2)


@pytest.mark.parametrize("make", [lambda: Adam(0.01), lambda: RMSProp(0.01),
                                  lambda: AdaGrad(0.1)], ids=["adam", "rmsprop", "adagrad"])
def test_adaptive_state_dict_resumes_bit_exactly(make):
    shapes = [(4, 3), (4, 1)]
    stream = gradient_stream(shapes, 20, seed=2)
    start = [np.ones(s) for s in shapes]
    whole, opt = [p.copy() for p in start], make()
    for g in stream:
        opt.update_params(whole, [x.copy() for x in g])
    first, opt = [p.copy() for p in start], make()
    for g in stream[:7]:
        opt.update_params(first, [x.copy() for x in g])
    saved = opt.state_dict()
    resumed = make()
    resumed.eta = 123.0                     # overwritten by the saved state
    resumed.load_state_dict(saved)
    for g in stream[7:]:
        resumed.update_params(first, [x.copy() for x in g])
    for a, b in zip(whole, first):
        assert np.array_equal(a, b)


def test_adam_eta_changed_between_steps_is_used():
    p, opt = [np.zeros(3)], Adam(0.1)
    opt.update_params(p, [np.ones(3)])
    opt.eta = 0.0001
    before = p[0].copy()
    opt.update_params(p, [np.ones(3)])
    np.testing.assert_allclose(before - p[0], 0.0001, rtol=1e-6)   # a unit step of eta


@pytest.mark.parametrize("make, message", [
    (lambda: Adam(0.001, beta1=1.0), "beta1 must be in \\[0, 1\\)"),
    (lambda: Adam(0.001, beta2=-0.1), "beta2"),
    (lambda: Adam(0.001, eps=0), "epsilon must be a finite number > 0"),
    (lambda: Adam(-1), "eta must be"),
    (lambda: RMSProp(0.01, rho=1.5), "rho"),
    (lambda: AdaGrad(0.01, initial_accumulator=-1), "initial accumulator"),
    (lambda: LBFGS(memory=0), "memory"),
    (lambda: Newton(damping=0), "damping"),
    (lambda: make_method("adamw"), "unknown full-batch optimiser 'adamw'"),
])
def test_bad_hyper_parameters_are_refused(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_adam_trains_a_small_network():
    from sklearn.datasets import load_digits
    digits = load_digits()
    data = Dataset((digits.data / 16.0).astype(np.float32), digits.target)
    net = Network([64, 30, 10], cost="log-likelihood", hidden="relu", seed=0)
    before = net.accuracy(data.images, data.labels)
    train(net, data, 3, 20, Adam(0.003))
    assert net.accuracy(data.images, data.labels) / len(data) > 0.9 > before / len(data)


# ------------------------------------------------------------ exact Hessian
def small_problem(cost="cross-entropy", hidden="sigmoid", output=None, n=20, seed=0,
                  sizes=(5, 4, 3, 3)):
    rng = np.random.default_rng(seed)
    net = Network(list(sizes), cost=cost, hidden=hidden, output=output, dtype="float64",
                  seed=seed)
    data = Dataset(rng.random((n, sizes[0])), rng.integers(0, sizes[-1], n))
    return net, data


@pytest.mark.parametrize("cost, hidden, output", [
    ("cross-entropy", "sigmoid", None), ("log-likelihood", "tanh", None),
    ("quadratic", "sigmoid", "linear"), ("quadratic", "tanh", "sigmoid"),
    ("log-likelihood", "relu", None)])
def test_hessian_matches_finite_differences_of_the_cost(cost, hidden, output):
    net, data = small_problem(cost, hidden, output)
    obj = Objective(net, data.images, one_hot(data.labels, 3, np.float64), L2(0.7))
    theta = obj.flatten()
    h = obj.hessian(theta, block=5)                  # several blocks of directions
    p, step = len(theta), 1e-4

    def f(t):
        return obj.value_and_grad(t)[0]

    fd = np.empty((p, p))
    for i in range(p):
        ei = np.zeros(p)
        ei[i] = step
        for j in range(i, p):
            ej = np.zeros(p)
            ej[j] = step
            fd[i, j] = fd[j, i] = (f(theta + ei + ej) - f(theta + ei - ej)
                                   - f(theta - ei + ej) + f(theta - ei - ej)) / (4 * step * step)
    assert np.abs(h - fd).max() <= 1e-5 * np.abs(fd).max()
    # and to the central differences of the analytic gradient, much closer
    fg = np.stack([(obj.value_and_grad(theta + e)[1] - obj.value_and_grad(theta - e)[1])
                   / 2e-5 for e in np.eye(p) * 1e-5], axis=1)
    assert np.abs(h - fg).max() <= 1e-8 * np.abs(fg).max()
    assert np.array_equal(h, h.T)


def test_gradient_matches_finite_differences_with_l1():
    net, data = small_problem()
    obj = Objective(net, data.images, one_hot(data.labels, 3, np.float64), L1(0.5))
    theta = obj.flatten()
    _, g = obj.value_and_grad(theta)
    fd = [(obj.value_and_grad(theta + e)[0] - obj.value_and_grad(theta - e)[0]) / 2e-6
          for e in np.eye(len(theta)) * 1e-6]
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


# ------------------------------------------------------ full-batch methods
@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits
    d = load_digits()
    x = (d.data / 16.0)
    return Dataset(x[:300], d.target[:300]), Dataset(x[300:600], d.target[300:600])


@pytest.mark.parametrize("make, iterations", [(LBFGS, 30), (BFGS, 30), (ConjugateGradient, 30),
                                              (Newton, 10)])
def test_full_batch_methods_lower_the_cost(digits, make, iterations):
    training, validation = digits
    sizes = {Newton: [64, 4, 10], BFGS: [64, 6, 10]}.get(make, [64, 20, 10])
    net = Network(sizes, dtype="float64", seed=0)
    reg = L2(1.0)
    start = net.total_cost(training.images, training.labels, reg)
    state = minimize(net, training, iterations, make(), regularization=reg,
                     evaluation=validation,
                     callbacks=[Monitor(training_cost=True, evaluation_accuracy=True)])
    costs = [r["training_cost"] for r in state.history]
    assert state.stop is None
    assert len(costs) == iterations
    assert all(b <= a + 1e-12 for a, b in zip(costs, costs[1:]))     # every step descends
    assert costs[-1] < 0.5 * start
    assert costs[-1] == pytest.approx(state.history[-1]["f"], rel=1e-12)
    assert state.history[-1]["evaluation_accuracy"] > 0.3     # chance: 0.1


def test_newton_takes_fewer_iterations_than_lbfgs(digits):
    training, _ = digits
    final = {}
    for make, its in ((Newton, 8), (LBFGS, 8)):
        net = Network([64, 4, 10], dtype="float64", seed=0)
        final[make] = minimize(net, training, its, make(), regularization=L2(1.0)).history[-1]["f"]
    assert final[Newton] < final[LBFGS]


def test_newton_refuses_a_large_network_naming_the_memory():
    net = Network([784, 30, 10], dtype="float64", seed=0)
    data = Dataset(np.zeros((5, 784)), np.arange(5))
    with pytest.raises(ConfigError) as e:
        minimize(net, data, 1, Newton())
    message = str(e.value)
    assert "\n" not in message
    assert "23860 x 23860 Hessian" in message and "4.24 GiB" in message
    assert str(MAX_DENSE_PARAMETERS) in message
    with pytest.raises(ConfigError, match="BFGS needs the 23860 x 23860"):
        minimize(net, data, 1, BFGS())


def test_failed_line_search_stops_with_the_reason_and_keeps_the_best(digits, monkeypatch):
    training, _ = digits
    net = Network([64, 10, 10], dtype="float64", seed=0)
    method = LBFGS()
    state = minimize(net, training, 5, method, regularization=L2(1.0))
    best = method.f
    import scipy.optimize
    monkeypatch.setattr(scipy.optimize, "line_search",
                        lambda *a, **k: (None, 1, 1, None, None, None))
    state = minimize(net, training, 10, method, regularization=L2(1.0), start_epoch=5,
                     history=state.history)
    assert state.stop.startswith("lbfgs: the line search found no step meeting the Wolfe")
    assert len(state.history) == 6
    assert net.total_cost(training.images, training.labels, L2(1.0)) == pytest.approx(best)


def test_converged_run_stops(digits):
    training, _ = digits
    net = Network([64, 3, 10], dtype="float64", seed=0)
    state = minimize(net, training, 50, LBFGS(gtol=1e-2), regularization=L2(1.0))
    assert state.stop.startswith("converged")


@pytest.mark.parametrize("make", [LBFGS, BFGS, ConjugateGradient, Newton])
def test_full_batch_checkpoint_resumes_bit_exactly(digits, tmp_path, make):
    training = digits[0].subset(100)
    sizes, its = [64, 3, 10], 6

    def fresh():
        return Network(sizes, dtype="float64", seed=3)

    whole = fresh()
    minimize(whole, training, its, make(), regularization=L2(1.0))
    net, method = fresh(), make()

    class Interrupt:
        def on_epoch_end(self, state):
            if state.epoch == 2:
                state.stop = "interrupted"

    minimize(net, training, its, method, regularization=L2(1.0),
             callbacks=[Interrupt(), Checkpoint(tmp_path / "ck")])
    net2, method2 = fresh(), make()
    r = restore(tmp_path / "ck", net2, method2)
    state = minimize(net2, training, its, method2, regularization=L2(1.0), start_epoch=r.epoch,
                     history=r.history)
    assert len(state.history) == its
    for a, b in zip(whole.weights + whole.biases, net2.weights + net2.biases):
        assert np.array_equal(a, b)


def test_full_batch_needs_a_full_batch_method(digits):
    training, _ = digits
    with pytest.raises(ConfigError, match="not a full-batch method"):
        minimize(Network([64, 5, 10]), training, 1, Adam())


def test_missing_scipy_is_named(monkeypatch):
    import builtins
    real = builtins.__import__

    def no_scipy(name, *a, **k):
        if name.startswith("scipy"):
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_scipy)
    with pytest.raises(ConfigError, match=r"need scipy: pip install 'nndl\[fullbatch\]'"):
        make_method("lbfgs")


def test_float32_network_trains_with_lbfgs(digits):
    training, validation = digits
    net = Network([64, 20, 10], seed=0)             # float32, the default
    state = minimize(net, training, 20, LBFGS(), regularization=L2(1.0))
    assert net.weights[0].dtype == np.float32
    assert math.isfinite(state.history[-1]["f"])
    assert net.accuracy(validation.images, validation.labels) / len(validation) > 0.7
