"""The fast engines compute the reference step, or are not used at all.

Each fast engine is trained side by side with the NumPy reference
(``training.sgd_step``) from the same seed on the same mini-batch order;
their weights must agree to float tolerance after several epochs.  Options
the engines do not know must make training fall back to the reference.
"""

from dataclasses import replace

import numpy as np
import pytest

import network2

from nndl import engines
from nndl.data import Dataset
from nndl.engines import Step, numba_engine
from nndl.errors import ConfigError
from nndl.network import Network
from nndl.optimizers import SGD
from nndl.regularization import L1, L2, MaxNorm, NoRegularization
from nndl.training import train

ENGINES = ["numba", "blas"]
TOLERANCE = {"float32": 2e-4, "float64": 1e-9}


def sparse_data(n=240, d=36, classes=4, seed=0):
    """A learnable problem whose inputs are ~70% exact zeros, like MNIST."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    centres = rng.random((classes, d))
    x = centres[labels] + 0.2 * rng.random((n, d))
    x[rng.random((n, d)) < 0.7] = 0.0
    return Dataset(x.astype(np.float64), labels)


def relative_error(ours, reference):
    """Largest relative difference over every weight and bias array."""
    return max(float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
               for a, b in zip(ours.weights + ours.biases, reference.weights + reference.biases))


def train_pair(engine, sizes, *, cost="cross-entropy", hidden="sigmoid", reg=None, eta=0.3,
               m=10, dtype="float64", epochs=3, data=None, callbacks_factory=list):
    """Train the same seeded network with ``engine`` and with the reference."""
    data = data or sparse_data(d=sizes[0], classes=sizes[-1])
    nets, states = [], []
    for name in (engine, "reference"):
        net = Network(sizes, cost=cost, hidden=hidden, dtype=dtype, seed=3)
        states.append(train(net, data, epochs, m, SGD(eta), regularization=reg,
                            engine=name, callbacks=callbacks_factory()))
        nets.append(net)
    assert states[0].engine == engine and states[1].engine == "reference"
    return nets, states


CONFIGS = [
    dict(sizes=[36, 20, 4]),
    dict(sizes=[36, 20, 4], reg=L2(5.0)),
    dict(sizes=[36, 20, 4], reg=L1(2.0)),
    dict(sizes=[36, 16, 12, 4], cost="quadratic", reg=L2(1.0), eta=1.0),
    dict(sizes=[36, 33, 4], cost="log-likelihood", hidden="relu", reg=L2(2.0), m=7),
    dict(sizes=[36, 10, 9, 4], hidden=["tanh", "linear"], reg=L1(1.0), eta=0.05),
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(
    f"{k}={getattr(v, 'name', v)}" for k, v in c.items()))
def test_fast_engine_matches_reference(engine, dtype, config):
    (fast_net, ref), _ = train_pair(engine, dtype=dtype, **config)
    assert fast_net.weights[0].dtype == np.dtype(dtype)
    assert relative_error(fast_net, ref) < TOLERANCE[dtype]


@pytest.mark.parametrize("engine", ENGINES)
def test_training_moved_the_weights(engine):
    """Guard for the equivalence tests: the runs compared really train."""
    (fast_net, _), _ = train_pair(engine, [36, 20, 4], reg=L2(5.0))
    start = Network([36, 20, 4], dtype="float64", seed=3)
    assert relative_error(fast_net, start) > 1e-2


@pytest.mark.mnist
@pytest.mark.parametrize("engine", ENGINES)
def test_fast_engine_matches_reference_on_mnist(engine, mnist):
    """The chapter's network, float32, one epoch on 2,000 real images."""
    (fast_net, ref), _ = train_pair(engine, [784, 30, 10], reg=L2(5.0), eta=0.5, dtype="float32",
                                    epochs=1, data=mnist.training.subset(2000))
    assert relative_error(fast_net, ref) < TOLERANCE["float32"]


class HalveEta:
    """A schedule: halve the optimiser's learning rate after every epoch."""

    def on_epoch_end(self, state):
        state.optimizer.eta /= 2


class CountBatches:
    """Count on_batch_end calls and check the weights are current at each."""

    def __init__(self):
        self.calls, self.norms = 0, []

    def on_batch_end(self, state):
        self.calls += 1
        self.norms.append(float(np.abs(state.network.weights[0]).sum()))


@pytest.mark.parametrize("engine", ENGINES)
def test_engine_reads_eta_every_epoch(engine):
    (fast_net, ref), _ = train_pair(engine, [36, 20, 4], reg=L2(5.0), eta=1.0,
                                    callbacks_factory=lambda: [HalveEta()])
    assert relative_error(fast_net, ref) < TOLERANCE["float64"]


class DecayEtaEveryBatch:
    """A per-batch schedule: eta *= 0.995 after every mini-batch."""

    def __init__(self):
        self.etas = []

    def on_batch_end(self, state):
        state.optimizer.eta *= 0.995
        self.etas.append(state.optimizer.eta)


@pytest.mark.parametrize("engine, m", [("numba", 10), ("blas", 32), ("blas", 100)])
def test_eta_changed_after_every_batch_is_used_from_the_next_batch(engine, m):
    """The optimiser's contract: eta may change between any two steps.  The
    chapter's network, float64, one epoch of 2,000 MNIST-like images, eta
    and the L2 decay (which depends on it) decayed after every mini-batch."""
    data = sparse_data(n=2000, d=784, classes=10)
    counters = []

    def factory():
        counters.append(DecayEtaEveryBatch())
        return [counters[-1]]

    (fast_net, ref), (state, _) = train_pair(engine, [784, 30, 10], reg=L2(5.0), eta=0.5, m=m,
                                             epochs=1, data=data, callbacks_factory=factory)
    assert state.engine == engine == engines.select(
        Network([784, 30, 10]), Step(SGD(0.5), L2(5.0), m, 2000)).name   # auto's pick
    assert counters[0].etas == counters[1].etas
    assert counters[0].etas[-1] < 0.5 * 0.995 ** (0.9 * 2000 / m)      # eta really moved
    assert relative_error(fast_net, ref) < TOLERANCE["float64"]


@pytest.mark.parametrize("engine", ENGINES)
def test_batch_callbacks_see_every_step(engine):
    counters = []

    def factory():
        counters.append(CountBatches())
        return [counters[-1]]

    (fast_net, ref), (state, _) = train_pair(engine, [36, 20, 4], reg=L2(5.0), m=7,
                                             callbacks_factory=factory)
    assert counters[0].calls == counters[1].calls == 3 * state.batches_per_epoch
    np.testing.assert_allclose(counters[0].norms, counters[1].norms, rtol=1e-9)
    assert relative_error(fast_net, ref) < TOLERANCE["float64"]


# ------------------------------------------------------------- fallbacks
class Momentum(SGD):
    """An optimiser the fast engines do not know (it has extra state)."""

    def __init__(self, eta, mu):
        super().__init__(eta)
        self.mu = mu


class OwnBackprop(Network):
    """A network whose gradient the fast engines cannot know."""

    def backprop(self, x, y):
        return super().backprop(x, y)


class Elastic:
    """A regulariser the fast engines do not know."""

    lmbda = 1.0

    def add_gradient(self, grad, w, n):
        grad += 0.1 * w
        return grad

    def penalty(self, weights, n):
        return 0.0


def fallback_state(net=None, optimizer=None, reg=None, engine="auto"):
    data = sparse_data()
    net = net or Network([36, 20, 4], seed=1)
    return train(net, data, 1, 10, optimizer or SGD(0.5), regularization=reg, engine=engine)


class SameNetwork(Network):
    """A subclass that changes nothing: the engines still do not guess."""


@pytest.mark.parametrize("make, words", [
    (lambda: dict(optimizer=Momentum(0.5, 0.9)), "optimizer Momentum runs on the reference"),
    (lambda: dict(reg=Elastic()), "regularization Elastic"),
    (lambda: dict(net=OwnBackprop([36, 20, 4], seed=1)), "OwnBackprop is not nndl's Network"),
    (lambda: dict(net=SameNetwork([36, 20, 4], seed=1)), "SameNetwork is not nndl's Network"),
    (lambda: dict(net=_with_attribute(Network([36, 20, 4], seed=1), "dropout", 0.5)), "dropout"),
    (lambda: dict(net=_with_attribute(Network([36, 20, 4], seed=1), "last_run", {})),
     "last_run"),
])
def test_unknown_options_fall_back_to_the_reference(make, words):
    state = fallback_state(**make())
    assert state.engine == "reference"
    assert words in state.engine_reason


def _with_attribute(net, name, value):
    setattr(net, name, value)
    return net


def test_naming_an_engine_that_cannot_run_is_an_error():
    with pytest.raises(ConfigError, match="Momentum"):
        fallback_state(optimizer=Momentum(0.5, 0.9), engine="numba")
    with pytest.raises(ConfigError, match="unknown engine"):
        fallback_state(engine="gpu")


def test_without_numba_auto_uses_blas_and_numba_is_refused(monkeypatch):
    monkeypatch.setattr(numba_engine, "numba_available", lambda: False)
    assert fallback_state().engine == "blas"
    with pytest.raises(ConfigError, match="numba cannot be imported"):
        fallback_state(engine="numba")


def test_auto_picks_numba_for_small_batches_else_blas():
    shallow, deep = Network([36, 20, 4], seed=1), Network([36, 20, 40, 40, 4], seed=1)
    for net in (shallow, deep):
        for m, name, reason in [(10, "numba", "compiled kernel, sparse inputs"),
                                (31, "numba", "compiled kernel, sparse inputs"),
                                (32, "blas", "buffered BLAS"), (100, "blas", "buffered BLAS")]:
            chosen = engines.select(net, Step(SGD(1), NoRegularization(), m, 100))
            assert (chosen.name, chosen.reason) == (name, reason)


@pytest.mark.parametrize("pieces, words", [
    (dict(dropout=object()), {"numba": "dropout object runs on the reference step",
                              "blas": "dropout object runs on the reference step"}),
    (dict(constraint=MaxNorm(3.0), augment=object()),
     {"numba": "expansion run on the reference step",
      "blas": "expansion run on the reference step"}),
])
def test_per_step_pieces_an_engine_lacks_are_refused(pieces, words):
    """``auto`` passes over an engine that lacks a piece (the reference's
    reason is the first refusal), and naming that engine is an error."""
    step = Step(SGD(1), NoRegularization(), 10, 100, **pieces)
    net = Network([36, 20, 4], seed=1)
    for name, reason in words.items():
        with pytest.raises(ConfigError, match=f"the {name} engine cannot train this: {reason}"):
            engines.select(net, step, name)
    for m in (10, 100):
        chosen = engines.select(net, replace(step, mini_batch_size=m))
        first = "numba" if m < numba_engine.NUMBA_BELOW_BATCH else "blas"
        if first in words:
            assert (chosen.name, chosen.reason) == ("reference", words[first])


def test_a_named_engine_overrides_the_mini_batch_preference():
    net = Network([36, 20, 4], seed=1)
    assert engines.select(net, Step(SGD(1), NoRegularization(), 100, 100), "numba").name == "numba"
    assert engines.select(net, Step(SGD(1), NoRegularization(), 5, 100), "blas").name == "blas"
    assert engines.select(net, Step(SGD(1), NoRegularization(), 5, 100),
                          "reference").reason == "reference engine requested"


def test_every_registered_engine_declares_the_protocol():
    for name in engines.ENGINES:
        cls = engines.engine_class(name)
        assert cls.name == name and issubclass(cls, engines.Engine)
        assert isinstance(cls.stops_on_divergence, bool) and cls.description
    with pytest.raises(TypeError, match="must declare stops_on_divergence"):
        type("Undeclared", (engines.Engine,), {"name": "x", "description": "y"})


def test_network2_trains_on_the_fast_engine_in_float64():
    """The book shim trains the nndl network it holds, so it may use the
    fast engine; test_book_exactness.py holds it to 1e-9 of the book."""
    net = network2.Network([36, 20, 4], seed=1)
    net.SGD(sparse_data(), 1, 10, 0.5)
    assert net.last_run["engine"] == "numba" and net.weights[0].dtype == np.float64


@pytest.mark.parametrize("engine", ["reference", "numba", "blas", "torch"])
def test_every_engine_stops_at_the_diverging_step(engine):
    """A fast engine runs without per-batch callbacks, yet stops at the first
    step that leaves an output bias non-finite, and the divergence check
    names the same epoch and batch as with the reference step."""
    from nndl.divergence import DivergenceCheck
    from nndl.errors import DivergenceError
    rng = np.random.default_rng(0)
    data = Dataset(rng.random((300, 20)), rng.integers(0, 4, 300))
    net = Network([20, 8, 4], cost="quadratic", hidden="relu", output="linear", seed=0,
                  dtype="float64")
    with np.errstate(all="ignore"), pytest.raises(DivergenceError,
                                                  match="diverged at epoch 1, batch 2:"):
        state = train(net, data, 3, 10, SGD(1e200), callbacks=[DivergenceCheck()],
                      engine=engine)


def test_lean_numba_start_skips_scipy_blas_and_the_kernel_still_trains():
    """The command line starts Numba without SciPy's BLAS (28 MB it never
    uses); the kernel must still load and train in such a process."""
    import subprocess
    import sys
    code = ("import sys, numpy as np\n"
            "from nndl.engines import numba_engine\n"
            "numba_engine.start_numba_without_scipy_blas()\n"
            "from nndl.network import Network\n"
            "from nndl.data import Dataset\n"
            "from nndl.optimizers import SGD\n"
            "from nndl.training import train\n"
            "x = np.eye(8, 6, dtype=np.float32)\n"
            "state = train(Network([6, 4, 2], seed=0), Dataset(x, np.arange(8) % 2), 1, 2,"
            " SGD(0.1), engine='numba')\n"
            "assert state.engine == 'numba'\n"
            "assert 'scipy.linalg' not in sys.modules, 'scipy.linalg was loaded'\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


class ScribblingSGD(SGD):
    """SGD that then fills its gradient arrays with NaN, as the optimiser
    contract allows (nndl.optimizers: the gradients are scratch)."""

    def update_params(self, params, grads):
        super().update_params(params, grads)
        for g in grads:
            g.fill(np.nan)


def test_the_reference_step_never_reads_gradients_after_the_optimiser():
    runs = []
    for optimizer in (SGD(0.5), ScribblingSGD(0.5)):
        net = Network([36, 20, 4], seed=1, dtype="float64")
        train(net, sparse_data(), 2, 7, optimizer, regularization=L2(1.0), engine="reference")
        runs.append(net.weights + net.biases)
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
