"""The chapter's training techniques beyond network2.py: neuron types,
momentum and Nesterov, L1 vs L2, max-norm, dropout, early stopping,
learning-rate schedules, fast monitoring, stripped-down problems and the
lmbda bookkeeping -- each tested on its defining behaviour."""

import itertools

import numpy as np
import pytest

from nndl import ConfigError, DataError, Network
from nndl.activations import Linear
from nndl.callbacks import (BestTracker, EarlyStopping, FastMonitor, GainRateStopping,
                            HalvingSchedule, StepSchedule)
from nndl.costs import QuadraticCost
from nndl.data import Dataset
from nndl.dropout import Dropout
from nndl.network import one_hot
from nndl.optimizers import SGD, Momentum, make_optimizer
from nndl.regularization import L1, L2, MaxNorm, lmbda_for, scale_lmbda
from nndl.training import train

from test_network import numerical_gradient


# ------------------------------------------------------------ neuron types
def test_linear_outputs_with_quadratic_cost_give_equations_68_to_70():
    net = Network([4, 5, 3], cost="quadratic", output="linear", dtype="float64", seed=0)
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(7, 4)), one_hot(rng.integers(0, 3, 7), 3, np.float64)
    acts, z = net.forward(x)
    a = acts[-1]
    np.testing.assert_array_equal(a, z)                                         # a^L = z^L
    np.testing.assert_array_equal(QuadraticCost.delta(z, a, y, Linear), a - y)  # (68)
    nabla_b, nabla_w = net.backprop(x, y)
    np.testing.assert_allclose(nabla_w[-1], (a - y).T @ acts[-2], rtol=1e-12)   # (69), summed
    np.testing.assert_allclose(nabla_b[-1][:, 0], (a - y).sum(axis=0), rtol=1e-12)  # (70)


def test_softmax_output_sums_to_one_and_stays_finite_for_huge_z():
    net = Network([2, 3], cost="log-likelihood", dtype="float64", seed=0)
    net.weights[0] = np.array([[1000.0, 0.0], [-1000.0, 0.0], [0.0, 1000.0]])
    net.biases[0] = np.zeros((3, 1))
    x = np.array([[1.0, 0.0], [-1.0, 1.0], [0.0, -1.0]])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        acts, z = net.forward(x)
        a = acts[-1]
        cost = net.cost.fn(a, np.eye(3), z=z)
    assert np.abs(z).max() == 1000
    assert np.all(np.isfinite(a)) and np.isfinite(cost)
    np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=1e-15)


@pytest.mark.parametrize("cost, output, why", [
    ("cross-entropy", "tanh", "only right for sigmoid"),
    ("cross-entropy", "linear", "only right for sigmoid"),
    ("cross-entropy", "softmax", "only right for sigmoid"),
    ("log-likelihood", "sigmoid", "distribution"),
    ("log-likelihood", "linear", "distribution"),
    ("quadratic", "softmax", "use log-likelihood"),
])
def test_invalid_cost_and_output_pairs_are_refused_with_a_reason(cost, output, why):
    with pytest.raises(ConfigError, match=why):
        Network([3, 4, 2], cost=cost, output=output)


def test_hidden_activation_per_layer():
    net = Network([3, 4, 4, 2], hidden=["relu", "tanh"], output="softmax",
                  cost="log-likelihood")
    assert [a.name for a in net.activations] == ["relu", "tanh", "softmax"]
    with pytest.raises(ConfigError, match="2 hidden layers"):
        Network([3, 4, 4, 2], hidden=["relu"])


# -------------------------------------------------------------- optimisers
def quadratic_descent(optimizer, h, p0, target, max_steps=5000):
    """Minimise f(p) = 1/2 sum h p^2 from p0; return the steps to f < target."""
    p = np.array(p0, dtype=np.float64)
    for step in range(max_steps):
        if 0.5 * np.sum(h * p * p) < target:
            return step
        optimizer.update_params([p], [h * p])
    return max_steps


def test_momentum_with_mu_zero_is_plain_sgd_exactly(tiny_data):
    runs = []
    for opt in (SGD(0.7), Momentum(0.7, mu=0.0)):
        net = Network([4, 6, 3], seed=5)
        train(net, tiny_data, 3, 7, opt, regularization=L2(0.3), engine="reference")
        runs.append(net.weights + net.biases)
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_momentum_and_nesterov_beat_sgd_on_an_ill_conditioned_quadratic():
    h = np.array([1.0, 100.0])               # condition number 100
    eta = 0.01                               # stable for all three (Nesterov needs < 0.0136)
    plain = quadratic_descent(SGD(eta), h, [1.0, 1.0], 1e-8)
    heavy = quadratic_descent(Momentum(eta, mu=0.9), h, [1.0, 1.0], 1e-8)
    nesterov = quadratic_descent(Momentum(eta, mu=0.9, nesterov=True), h, [1.0, 1.0], 1e-8)
    assert plain < 5000
    assert heavy < plain / 3 and nesterov < plain / 3


def test_nesterov_reformulation_equals_the_look_ahead_gradient_form():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 5))
    hess = a @ a.T + np.eye(5)
    grad = lambda p: hess @ p                # noqa: E731
    mu, eta = 0.9, 0.01
    theta, v = rng.normal(size=5), np.zeros(5)
    opt = Momentum(eta, mu, nesterov=True)
    p = theta.copy()                         # = theta + mu v, as v = 0
    for _ in range(50):
        v = mu * v - eta * grad(theta + mu * v)     # Sutskever et al. (2013)
        theta = theta + v
        opt.update_params([p], [grad(p)])
        np.testing.assert_allclose(p, theta + mu * v, rtol=1e-10, atol=1e-12)


def test_momentum_state_dict_resumes_exactly():
    h = np.array([1.0, 30.0, 5.0])
    whole, first = Momentum(0.02, 0.8), Momentum(0.02, 0.8)
    p_whole, p = np.ones(3), np.ones(3)
    for _ in range(20):
        whole.update_params([p_whole], [h * p_whole])
    for _ in range(8):
        first.update_params([p], [h * p])
    resumed = Momentum(1.0, 0.0)
    resumed.load_state_dict(first.state_dict())
    for _ in range(12):
        resumed.update_params([p], [h * p])
    np.testing.assert_array_equal(p, p_whole)
    assert resumed.mu == 0.8 and resumed.eta == 0.02


@pytest.mark.parametrize("make, message", [
    (lambda: Momentum(0.1, mu=1.0), "nothing damps"),
    (lambda: Momentum(0.1, mu=-0.1), r"\[0, 1\)"),
    (lambda: make_optimizer(0.1, 0.0, nesterov=True), "needs a momentum"),
    (lambda: SGD(0.0), "eta must be"),
])
def test_bad_optimizer_settings_are_refused(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


# ----------------------------------------------------------- regularisation
def test_l1_leaves_many_more_near_zero_weights_than_l2_at_equal_lambda():
    """Three informative features and 37 noise features: L1's constant pull
    (equation (97)) drives the useless weights to zero, L2's proportional
    pull (equation (93)) only shrinks them."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 200)
    x = rng.normal(size=(200, 40)) * 0.3
    x[:, :3] += 2 * np.eye(3)[labels]
    data = Dataset(x.astype(np.float32), labels)
    near_zero = {}
    for reg in (L1(2.0), L2(2.0)):
        net = Network([40, 3], seed=1)
        train(net, data, 30, 10, SGD(0.5), regularization=reg)
        assert net.accuracy(data.images, data.labels) == 200
        near_zero[reg.name] = np.mean(np.abs(net.weights[0]) < 1e-2)
    assert near_zero["l1"] > 0.8 and near_zero["l1"] > 4 * near_zero["l2"]


def test_lmbda_bookkeeping_keeps_weight_decay_across_training_set_sizes():
    assert scale_lmbda(0.1, 1000, 50000) == pytest.approx(5.0)     # the chapter's move
    eta = 0.5
    for n in (1000, 10000, 50000):
        assert eta * lmbda_for(1e-4, n) / n == pytest.approx(eta * 0.1 / 1000)
    with pytest.raises(ConfigError):
        lmbda_for(-1, 10)


def test_max_norm_rescales_long_rows_only():
    w = np.array([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]])
    MaxNorm(2.0).apply([w])
    np.testing.assert_allclose(w, [[1.2, 1.6], [0.3, 0.4], [0.0, 0.0]])
    with pytest.raises(ConfigError):
        MaxNorm(0)


def test_max_norm_bounds_every_neuron_during_training(tiny_data):
    net = Network([4, 8, 3], seed=0, init="large")
    train(net, tiny_data, 5, 5, SGD(5.0), constraint=MaxNorm(1.5))
    for w in net.weights:
        assert np.linalg.norm(w, axis=1).max() <= 1.5 * (1 + 1e-6)
    free = Network([4, 8, 3], seed=0, init="large")
    train(free, tiny_data, 5, 5, SGD(5.0))
    assert max(np.linalg.norm(w, axis=1).max() for w in free.weights) > 1.5


# ------------------------------------------------------------------ dropout
def all_masks(n, p, inverted):
    """Every 0/1 pattern over n units, scaled as inverted dropout does or not."""
    scale = 1 / (1 - p) if inverted else 1.0
    return [np.array([m], dtype=np.float64) * scale
            for m in itertools.product([0.0, 1.0], repeat=n)]


def test_dropout_test_time_output_is_the_average_over_masks():
    """With p = 1/2 every mask is equally likely; enumerate all 2^5 of them."""
    net = Network([3, 5, 2], dtype="float64", seed=0)
    x = np.random.default_rng(1).normal(size=(4, 3))
    _, z_full = net.forward(x)
    # inverted dropout (nndl): the unchanged network is the average
    z_avg = np.mean([net.forward(x, [None, m])[1] for m in all_masks(5, 0.5, True)], axis=0)
    np.testing.assert_allclose(z_avg, z_full, rtol=1e-12)
    # the chapter's scheme: masks of 0/1, then halve the outgoing weights at test time
    z_avg_book = np.mean([net.forward(x, [None, m])[1] for m in all_masks(5, 0.5, False)],
                         axis=0)
    halved = Network([3, 5, 2], dtype="float64", seed=0)
    halved.weights[1] = halved.weights[1] * 0.5
    np.testing.assert_allclose(z_avg_book, halved.forward(x)[1], rtol=1e-12)


def test_inverted_dropout_is_the_chapters_dropout_with_rescaled_weights():
    """For every mask, the chapter's thinned network with outgoing weights W
    equals nndl's thinned network with weights (1-p) W; and the chapter's
    test-time network (W halved) is nndl's unchanged network."""
    p = 0.5
    book = Network([3, 4, 2], dtype="float64", seed=2)
    ours = Network([3, 4, 2], dtype="float64", seed=2)
    ours.weights[1] = (1 - p) * book.weights[1]
    x = np.random.default_rng(3).normal(size=(5, 3))
    for m_book, m_ours in zip(all_masks(4, p, False), all_masks(4, p, True)):
        np.testing.assert_allclose(book.forward(x, [None, m_book])[1],
                                   ours.forward(x, [None, m_ours])[1], rtol=1e-12)
    book.weights[1] = book.weights[1] * (1 - p)              # test time, chapter
    np.testing.assert_allclose(book.feedforward(x), ours.feedforward(x), rtol=1e-12)


def test_dropout_backprop_is_the_gradient_of_the_thinned_network():
    net = Network([5, 4, 3, 3], dtype="float64", seed=0)
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(6, 5)), one_hot(rng.integers(0, 3, 6), 3, np.float64)
    masks = Dropout(0.5, 0.2, per_example=True, rng=rng).masks(net.sizes, 6, np.float64)
    assert masks[0].shape == (6, 5) and masks[1].shape == (6, 4)
    nabla_b, nabla_w = net.backprop(x, y, masks)

    class Thinned:                       # the same network, forward through the masks
        cost = net.cost

        def forward(self, x):
            return net.forward(x, masks)
    for analytic, param in zip(nabla_w + nabla_b, net.weights + net.biases):
        np.testing.assert_allclose(analytic, numerical_gradient(Thinned(), x, y, param),
                                   rtol=1e-5, atol=1e-7)
    # a dropped hidden unit gets no gradient on its incoming weights
    dropped = masks[1][0] == 0
    assert dropped.any()


def test_dropout_masks_drop_the_right_fraction_and_scale_the_rest():
    d = Dropout(0.5, 0.2, rng=np.random.default_rng(0))
    masks = d.masks([784, 100, 100, 10], 32)
    assert masks[0].shape == (1, 784) and masks[1].shape == (1, 100)   # one per mini-batch
    assert set(np.unique(masks[1])) <= {0.0, 2.0}
    assert set(np.unique(masks[0])) <= {0.0, np.float32(1 / 0.8)}
    assert abs((masks[0] == 0).mean() - 0.2) < 0.05
    many = Dropout(0.5, per_example=True, rng=np.random.default_rng(0)).masks([10, 1000, 2], 50)
    assert many[0] is None and abs((many[1] == 0).mean() - 0.5) < 0.01
    with pytest.raises(ConfigError, match="probability"):
        Dropout(1.0)


def test_dropout_training_is_repeatable_and_p_zero_changes_nothing(tiny_data):
    def run(dropout):
        net = Network([4, 10, 3], seed=4)
        train(net, tiny_data, 4, 10, SGD(1.0), dropout=dropout, engine="reference")
        return net.weights[0]
    plain = run(None)
    np.testing.assert_array_equal(run(Dropout(0.0)), plain)
    np.testing.assert_array_equal(run(Dropout(0.5)), run(Dropout(0.5)))
    assert not np.array_equal(run(Dropout(0.5)), plain)


# ---------------------------------------------------------- early stopping
class ScriptedAccuracy:
    """Pretend the validation accuracy of epoch e is ``seq[e]``, and keep a
    copy of the weights after every epoch."""

    def __init__(self, seq):
        self.seq, self.snapshots = seq, []

    def on_epoch_end(self, state):
        state.history[-1]["evaluation_accuracy"] = self.seq[state.epoch]
        self.snapshots.append([w.copy() for w in state.network.weights])


def run_scripted(tiny_data, seq, rule, eta=1.0):
    net = Network([4, 5, 3], seed=0)
    script = ScriptedAccuracy(seq)
    state = train(net, tiny_data, len(seq), 10, SGD(eta), evaluation=tiny_data,
                  callbacks=[script, rule])
    return net, script, state


def test_early_stopping_stops_at_the_right_epoch_and_restores_the_best_weights(tiny_data):
    seq = [0.5, 0.6, 0.7, 0.65, 0.7, 0.69, 0.68, 0.3, 0.9, 0.9]
    rule = EarlyStopping(patience=3)
    net, script, state = run_scripted(tiny_data, seq, rule)
    assert len(state.history) == 6           # epochs 3, 4 (a tie), 5 do not improve
    assert state.stop == "early stopping: no improvement in 3 epochs"
    assert rule.best_epoch == 2 and rule.best_accuracy == 0.7
    for w, best in zip(net.weights, script.snapshots[2]):
        np.testing.assert_array_equal(w, best)
    assert not np.array_equal(net.weights[0], script.snapshots[-1][0])


def test_gain_rate_rule_stops_when_progress_is_too_slow(tiny_data):
    seq = [0.5, 0.8, 0.9, 0.91, 0.912, 0.913, 0.914, 0.915, 0.99, 0.99]
    rule = GainRateStopping(window=3, min_gain=0.01)
    net, script, state = run_scripted(tiny_data, seq, rule)
    # best after each epoch: .5 .8 .9 .91 .912 .913 ...; gain over the last 3
    # epochs: (.91-.5) (.912-.8) (.913-.9 = .013) (.914-.91 = .004 < .01) -> stop
    assert len(state.history) == 7 and "gained less than 0.01 in 3 epochs" in state.stop
    assert rule.best_epoch == 6
    np.testing.assert_array_equal(net.weights[0], script.snapshots[6][0])


def test_early_stopping_needs_validation_data(tiny_data):
    with pytest.raises(ConfigError, match="validation"):
        train(Network([4, 3, 3]), tiny_data, 2, 10, SGD(1.0), callbacks=[EarlyStopping(2)])


def test_early_stopping_measures_accuracy_itself_and_state_round_trips(tiny_data):
    rule = EarlyStopping(patience=50)
    net = Network([4, 5, 3], seed=0)
    state = train(net, tiny_data, 3, 10, SGD(1.0), evaluation=tiny_data, callbacks=[rule])
    accs = [r["evaluation_accuracy"] for r in state.history]
    assert rule.best_accuracy == max(accs) and rule.best_epoch == int(np.argmax(accs))
    copy = EarlyStopping(patience=1, restore_best=False)
    copy.load_state_dict(rule.state_dict())
    assert copy.patience == 50 and copy.restore_best and copy.best_epoch == rule.best_epoch
    assert copy.tracker.epochs_since_improvement == rule.tracker.epochs_since_improvement
    np.testing.assert_array_equal(copy.tracker.best_params[0][0], rule.tracker.best_params[0][0])


# -------------------------------------------------------- learning rates
def test_halving_schedule_stops_exactly_when_eta_reaches_eta0_over_128(tiny_data):
    eta0 = 0.8
    schedule = HalvingSchedule(patience=2)
    net, _, state = run_scripted(tiny_data, [0.5] * 40, schedule, eta=eta0)
    etas = [r["eta"] for r in state.history]
    # a cut after every 2 epochs without improvement: epochs 2, 4, ..., 14
    assert schedule.cuts == 7 and len(state.history) == 15
    assert state.optimizer.eta == eta0 / 128
    assert etas == [eta0] * 3 + [eta0 / 2 ** k for k in range(1, 7) for _ in (0, 1)]
    assert "1/128" in state.stop
    restored = HalvingSchedule()
    restored.load_state_dict(schedule.state_dict())
    assert (restored.eta0, restored.cuts, restored.patience) == (eta0, 7, 2)


def test_halving_waits_while_accuracy_improves(tiny_data):
    seq = [0.1, 0.2, 0.3, 0.4, 0.5, 0.5, 0.5, 0.6]
    schedule = HalvingSchedule(patience=2)
    _, _, state = run_scripted(tiny_data, seq, schedule, eta=1.0)
    assert [r["eta"] for r in state.history] == [1.0] * 7 + [0.5]
    assert state.stop is None and schedule.best_epoch == 7


def test_step_schedule(tiny_data):
    schedule = StepSchedule(every=2, factor=0.1)
    state = train(Network([4, 3, 3], seed=0), tiny_data, 5, 10, SGD(1.0), callbacks=[schedule])
    assert [r["eta"] for r in state.history] == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.01])


# ------------------------------------------------------- fast monitoring
def test_fast_monitor_measures_every_k_images_on_a_subset(tiny_data):
    monitor = FastMonitor(every=20, subset=7)
    net = Network([4, 5, 3], seed=0)
    train(net, tiny_data, 2, 10, SGD(1.0), evaluation=tiny_data, callbacks=[monitor])
    pts = monitor.points
    assert [p["images_seen"] for p in pts] == [20, 40, 60, 80, 100, 120]
    assert [p["epoch"] for p in pts] == [0, 0, 0, 1, 1, 1]
    assert all(b["seconds"] >= a["seconds"] for a, b in zip(pts, pts[1:]))
    assert pts[-1]["accuracy"] == net.accuracy(tiny_data.images[:7], tiny_data.labels[:7]) / 7
    again = FastMonitor()
    again.load_state_dict(monitor.state_dict())
    assert again.points == pts and again.next_at == 140


# ------------------------------------------------ strip the problem down
def test_only_classes_keeps_and_relabels_the_chosen_digits():
    d = Dataset(np.arange(12, dtype=np.float32).reshape(6, 2), np.array([0, 3, 7, 3, 1, 7]))
    s = d.only_classes([7, 3])
    np.testing.assert_array_equal(s.labels, [1, 0, 1, 0])
    np.testing.assert_array_equal(s.images[:, 0], [2, 4, 6, 10])
    with pytest.raises(DataError):
        d.only_classes([3, 3])


def test_best_tracker_counts_ties_as_no_improvement():
    t = BestTracker()
    net = Network([2, 2])
    assert t.update(0.5, 0, net) and not t.update(0.5, 1, net)
    assert t.best_epoch == 0 and t.epochs_since_improvement == 1
