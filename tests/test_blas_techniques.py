"""The BLAS engine runs every per-step technique of the chapter exactly as
the reference step does: momentum and Nesterov, dropout (hidden and input,
both mask modes), max-norm, L1/L2, on-the-fly expansion, alone and
combined; velocities stay in the optimiser, and a checkpointed run resumes
bit for bit."""

import numpy as np
import pytest

from nndl import engines
from nndl.checkpoint import Checkpoint, restore
from nndl.dropout import Dropout
from nndl.engines import Step
from nndl.expansion import Expander
from nndl.expansion.threads import LoadMeter
from nndl.network import Network
from nndl.optimizers import SGD, Momentum
from nndl.regularization import L1, L2, MaxNorm, NoRegularization
from nndl.training import StepSchedule, train

from test_fast import TOLERANCE, DecayEtaEveryBatch, relative_error, sparse_data
from conftest import assert_resumes_bit_for_bit

SIZES = [36, 20, 12, 4]


def expander():
    """A seeded elastic expander on the 6x6 images of ``sparse_data``."""
    return Expander("elastic:alpha=8,sigma=2", seed=7, chunk_size=64,
                    meter=LoadMeter(cores=2, load=lambda: 0.0))


def technique_run(engine, *, optimizer, dtype="float64", reg=None, dropout=None,
                  constraint=None, augment=None, hidden="sigmoid", cost="cross-entropy",
                  m=40, epochs=3, callbacks=(), data=None):
    """Train a seeded network with ``engine``; return (network, optimiser, state).

    The factories (``optimizer``, ``dropout``, ``augment``, ``callbacks``)
    are called afresh so that each engine gets its own stateful pieces."""
    data = data or sparse_data(n=400, d=SIZES[0], classes=SIZES[-1])
    net = Network(SIZES, cost=cost, hidden=hidden, dtype=dtype, seed=3)
    opt = optimizer()
    state = train(net, data, epochs, m, opt, regularization=reg, engine=engine,
                  dropout=dropout() if dropout else None, constraint=constraint,
                  augment=augment() if augment else None, rng=np.random.default_rng(1),
                  callbacks=[cb() for cb in callbacks])
    assert state.engine == engine, state.engine_reason
    return net, opt, state


def assert_same_run(config, dtype):
    """The BLAS engine's weights, biases and velocities equal the reference's."""
    fast, fast_opt, _ = technique_run("blas", dtype=dtype, **config)
    ref, ref_opt, _ = technique_run("reference", dtype=dtype, **config)
    assert fast.weights[0].dtype == np.dtype(dtype)
    assert relative_error(fast, ref) < TOLERANCE[dtype]
    if isinstance(ref_opt, Momentum):
        for v, w in zip(fast_opt.velocities, ref_opt.velocities):
            assert float(np.max(np.abs(v - w)) / np.max(np.abs(w))) < TOLERANCE[dtype]
    return fast, ref


def momentum(nesterov=False, eta=0.3):
    return lambda: Momentum(eta, 0.9, nesterov)


CONFIGS = {
    "momentum": dict(optimizer=momentum()),
    "nesterov": dict(optimizer=momentum(True)),
    "momentum+l2": dict(optimizer=momentum(), reg=L2(5.0)),
    "nesterov+l1": dict(optimizer=momentum(True), reg=L1(2.0)),
    "nesterov+l2+quadratic": dict(optimizer=momentum(True, 1.0), reg=L2(1.0), cost="quadratic"),
    "dropout hidden": dict(optimizer=lambda: SGD(0.3), dropout=lambda: Dropout(0.5)),
    "dropout hidden+input, per example": dict(
        optimizer=lambda: SGD(0.3), dropout=lambda: Dropout(0.5, 0.2, per_example=True)),
    "dropout input only": dict(optimizer=lambda: SGD(0.3), dropout=lambda: Dropout(0.0, 0.3)),
    "max-norm+l2": dict(optimizer=lambda: SGD(0.3), reg=L2(5.0), constraint=MaxNorm(0.8)),
    "momentum+dropout+max-norm+l2": dict(optimizer=momentum(), reg=L2(5.0),
                                         dropout=lambda: Dropout(0.5, 0.2),
                                         constraint=MaxNorm(1.5)),
    "nesterov+dropout per example+l1, tanh": dict(
        optimizer=momentum(True, 0.05), reg=L1(1.0), hidden=["tanh", "linear"],
        dropout=lambda: Dropout(0.5, per_example=True)),
    "expansion": dict(optimizer=lambda: SGD(0.3), augment=expander),
    "best preset's pieces": dict(optimizer=momentum(eta=0.1), hidden="relu",
                                 cost="log-likelihood", m=100, augment=expander,
                                 callbacks=[lambda: StepSchedule(1, 0.99)]),
    "momentum+dropout, eta decayed every batch": dict(
        optimizer=momentum(), dropout=lambda: Dropout(0.5), reg=L2(5.0),
        callbacks=[DecayEtaEveryBatch]),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", CONFIGS)
def test_blas_engine_matches_the_reference(name, dtype):
    assert_same_run(CONFIGS[name], dtype)


def test_the_techniques_change_the_run():
    """Guards for the comparisons above: each technique really acts."""
    plain, _, _ = technique_run("blas", optimizer=lambda: SGD(0.3), reg=L2(5.0))
    for config in ("momentum+l2", "dropout hidden", "max-norm+l2", "expansion"):
        net, _, _ = technique_run("blas", **{"reg": L2(5.0), **CONFIGS[config]})
        assert relative_error(net, plain) > 1e-2, config
    nesterov, _, _ = technique_run("blas", **CONFIGS["nesterov"])
    classical, _, _ = technique_run("blas", **CONFIGS["momentum"])
    assert relative_error(nesterov, classical) > 1e-3
    capped, _, _ = technique_run("blas", **CONFIGS["max-norm+l2"])
    norms = np.concatenate([np.linalg.norm(w, axis=1) for w in capped.weights])
    assert norms.max() <= 0.8 + 1e-12 and np.isclose(norms, 0.8).any()


def test_velocities_are_current_at_every_per_batch_callback():
    class Velocities:
        def __init__(self):
            self.seen = []

        def on_batch_end(self, state):
            self.seen.append([v.copy() for v in state.optimizer.velocities])

    seen = {}
    for engine in ("blas", "reference"):
        _, _, state = technique_run(engine, optimizer=momentum(True), reg=L2(5.0),
                                    dropout=lambda: Dropout(0.5), callbacks=[Velocities],
                                    epochs=1)
        seen[engine] = state.callbacks[0].seen
    assert len(seen["blas"]) == len(seen["reference"]) == 10
    for fast, ref in zip(seen["blas"], seen["reference"]):
        for v, w in zip(fast, ref):
            np.testing.assert_allclose(v, w, rtol=1e-9, atol=1e-12)


def _checkpointed(directory, epochs, stop_after=None, resume=False):
    """A blas-engine run with momentum, dropout and L2, checkpointed each epoch."""
    net, opt = Network(SIZES, seed=5), Momentum(0.3, 0.9, nesterov=True)
    dropout, callbacks, start, history = Dropout(0.5), [], 0, []
    if resume:
        r = restore(directory, net, opt, callbacks)
        start, history = r.epoch, r.history
    callbacks.append(Checkpoint(directory))
    state = train(net, sparse_data(n=400, d=SIZES[0], classes=SIZES[-1]), stop_after or epochs,
                  40, opt, regularization=L2(5.0), dropout=dropout, callbacks=callbacks,
                  start_epoch=start, history=history, engine="blas")
    assert state.engine == "blas"
    return net, opt


def test_checkpointed_momentum_run_resumes_bit_for_bit(tmp_path):
    assert_resumes_bit_for_bit(_checkpointed, tmp_path, 5)


@pytest.mark.parametrize("pieces", [
    dict(optimizer=Momentum(0.5, 0.9, nesterov=True)), dict(dropout=Dropout(0.5, 0.2, True)),
    dict(constraint=MaxNorm(3.0)), dict(augment=expander()),
])
def test_auto_picks_blas_for_every_technique_at_large_batches(pieces):
    step = Step(pieces.pop("optimizer", SGD(1)), L2(1.0), 100, 400, **pieces)
    assert engines.select(Network(SIZES, seed=1), step).name == "blas"


class OwnDropout(Dropout):
    """A subclass may draw its masks differently: not run by the engine."""


class OwnMaxNorm(MaxNorm):
    """A subclass may constrain differently."""


@pytest.mark.parametrize("pieces, words", [
    (dict(dropout=OwnDropout(0.5)), "dropout OwnDropout runs on the reference step"),
    (dict(constraint=OwnMaxNorm(3.0)), "constraint OwnMaxNorm runs on the reference step"),
    (dict(augment=object()), "expansion run on the reference step"),
])
def test_unknown_pieces_are_refused(pieces, words):
    step = Step(SGD(1), NoRegularization(), 100, 400, **pieces)
    assert BlasEngineReason(step) == words


def test_velocities_of_another_shape_are_refused():
    opt = Momentum(0.5, 0.9)
    opt.velocities = [np.zeros((2, 2))]
    assert "velocities" in BlasEngineReason(Step(opt, NoRegularization(), 100, 400))


def BlasEngineReason(step):
    return engines.engine_class("blas").supports(Network(SIZES, seed=1), step)
