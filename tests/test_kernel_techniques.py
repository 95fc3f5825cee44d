"""Every per-step technique on the compiled engine computes the reference step.

Momentum and Nesterov (equations (107)-(108)), dropout of hidden and input
units with both mask modes, max-norm and L1/L2 ((97), (93)) are trained on
the numba engine and on the reference (``training.sgd_step``) from the same
seed over the same mini-batch order, alone and combined; the weights must
agree to 1e-9 relative in float64 and 2e-4 in float32.
"""

import json
import signal

import numba
import numpy as np
import pytest

from nndl.dropout import Dropout
from nndl.engines import Step, numba_engine, select
from nndl.network import Network
from nndl.optimizers import SGD, Momentum
from nndl.regularization import L1, L2, MaxNorm, NoRegularization
from nndl.training import train

from reliability_helpers import KILLED_RUN
from test_checkpoint import _flags, _results, idx  # noqa: F401  (idx: a fixture)
from test_fast import TOLERANCE, DecayEtaEveryBatch, relative_error, sparse_data


def run(engine, sizes, *, optimizer, reg=None, dropout=None, constraint=None, dtype="float64",
        cost="cross-entropy", hidden="sigmoid", m=10, epochs=3, data=None, callbacks=()):
    """Train a seeded network on ``engine``; return it, the state and the optimiser."""
    data = data or sparse_data(d=sizes[0], classes=sizes[-1])
    net = Network(sizes, cost=cost, hidden=hidden, dtype=dtype, seed=3)
    opt = optimizer()
    state = train(net, data, epochs, m, opt, regularization=reg() if reg else None,
                  dropout=dropout() if dropout else None,
                  constraint=constraint() if constraint else None, engine=engine,
                  callbacks=[cb() for cb in callbacks])
    assert state.engine == engine
    return net, state, opt


def momentum(mu=0.9, nesterov=False, eta=0.3):
    return lambda: Momentum(eta, mu, nesterov)


CASES = {
    "momentum": dict(optimizer=momentum()),
    "nesterov": dict(optimizer=momentum(nesterov=True)),
    "momentum-l2": dict(optimizer=momentum(0.5), reg=lambda: L2(5.0)),
    "nesterov-l1": dict(optimizer=momentum(0.7, True), reg=lambda: L1(0.1)),
    "nesterov-strong-l1": dict(optimizer=momentum(0.7, True), reg=lambda: L1(2.0)),
    "dropout": dict(optimizer=lambda: SGD(0.3), dropout=lambda: Dropout(0.5)),
    "dropout-input-per-example": dict(optimizer=lambda: SGD(0.3),
                                      dropout=lambda: Dropout(0.3, 0.2, per_example=True)),
    "dropout-input-only": dict(optimizer=lambda: SGD(0.3), dropout=lambda: Dropout(0.0, 0.2)),
    "max-norm": dict(optimizer=lambda: SGD(2.0), constraint=lambda: MaxNorm(1.0)),
    "max-norm-l2": dict(optimizer=lambda: SGD(2.0), reg=lambda: L2(5.0),
                        constraint=lambda: MaxNorm(1.0)),
    "momentum-dropout-max-norm-l2": dict(optimizer=momentum(), reg=lambda: L2(5.0),
                                         dropout=lambda: Dropout(0.5, 0.1),
                                         constraint=lambda: MaxNorm(1.5)),
    "nesterov-per-example-l1-deep": dict(sizes=[36, 20, 12, 4], optimizer=momentum(0.8, True),
                                         reg=lambda: L1(0.1), hidden=["tanh", "relu"],
                                         dropout=lambda: Dropout(0.4, 0.2, per_example=True),
                                         constraint=lambda: MaxNorm(2.0)),
    "momentum-softmax-relu-odd-batch": dict(optimizer=momentum(0.6), cost="log-likelihood",
                                            hidden="relu", m=7, reg=lambda: L2(1.0),
                                            dropout=lambda: Dropout(0.5, per_example=True)),
    "two-layers-momentum-input-dropout-max-norm": dict(
        sizes=[36, 4], optimizer=momentum(0.9), reg=lambda: L2(1.0),
        dropout=lambda: Dropout(0.5, 0.3, per_example=True), constraint=lambda: MaxNorm(1.0)),
    "nesterov-quadratic-linear": dict(sizes=[36, 16, 12, 4], optimizer=momentum(0.5, True, 0.5),
                                      cost="quadratic", hidden=["sigmoid", "linear"],
                                      dropout=lambda: Dropout(0.2),
                                      constraint=lambda: MaxNorm(1.0)),
}


# L1's sgn(w) jumps by 2 eta lmbda / n where a weight crosses 0, so in float32 a
# rounding difference at a weight near 0 can move it by that much, and momentum
# carries weights across 0 often: with L1 float32 is compared at lmbda small
# enough for that jump to stay below its tolerance, a strong L1 in float64 only.
FLOAT64_ONLY = {"nesterov-strong-l1"}


@pytest.mark.parametrize("case, dtype", [(c, d) for c in CASES for d in ("float64", "float32")
                                         if d == "float64" or c not in FLOAT64_ONLY])
def test_technique_matches_reference(case, dtype):
    kw = dict(CASES[case])
    sizes = kw.pop("sizes", [36, 20, 4])
    fast, _, fast_opt = run("numba", sizes, dtype=dtype, **kw)
    ref, _, ref_opt = run("reference", sizes, dtype=dtype, **kw)
    assert relative_error(fast, ref) < TOLERANCE[dtype]
    assert relative_error(fast, Network(sizes, dtype=dtype, seed=3)) > 1e-2  # it trained
    if "constraint" in kw:              # the bound changed the result, so it was applied
        free = run("reference", sizes, dtype=dtype, **{**kw, "constraint": None})[0]
        assert relative_error(free, ref) > 1e-2
    if isinstance(ref_opt, Momentum):
        for v, w in zip(fast_opt.velocities, ref_opt.velocities):
            assert v.shape == w.shape and v.dtype == w.dtype
            np.testing.assert_allclose(v, w, rtol=0, atol=TOLERANCE[dtype] * np.abs(w).max())


@pytest.mark.parametrize("case", ["momentum-dropout-max-norm-l2", "nesterov-l1",
                                  "dropout-input-per-example"])
def test_technique_with_eta_decayed_after_every_batch(case):
    """A per-batch schedule: one kernel call per mini-batch, each reading
    eta (and drawing that mini-batch's masks) afresh."""
    kw = dict(CASES[case])
    nets = [run(engine, [36, 20, 4], callbacks=[DecayEtaEveryBatch], **kw)[0]
            for engine in ("numba", "reference")]
    assert relative_error(*nets) < TOLERANCE["float64"]


@pytest.mark.parametrize("per_example", [False, True])
def test_drawn_masks_are_exactly_those_of_dropout_masks(per_example):
    sizes, counts = [50, 20, 12, 4], [10] * 7 + [3]
    ours = numba_engine.draw_masks(Dropout(0.4, 0.25, per_example, np.random.default_rng(1)),
                                   sizes, counts)
    reference = Dropout(0.4, 0.25, per_example, np.random.default_rng(1))
    theirs = [reference.masks(sizes, c, np.float64) for c in counts]
    for l in range(3):
        np.testing.assert_array_equal(ours[l], np.concatenate([t[l] for t in theirs]) > 0)
    assert len(ours[0]) == (sum(counts) if per_example else len(counts))


def test_every_technique_is_picked_by_auto_for_small_batches():
    step = Step(Momentum(0.1, 0.9, True), L1(1.0), 10, 100, dropout=Dropout(0.5, 0.2, True),
                constraint=MaxNorm(3.0))
    chosen = select(Network([36, 20, 4]), step)
    assert (chosen.name, chosen.reason) == ("numba", "compiled kernel, sparse inputs")


class StickyDropout(Dropout):
    """A Dropout whose masks the kernel cannot know."""


@pytest.mark.parametrize("pieces, words", [
    (dict(dropout=StickyDropout(0.5)), "dropout StickyDropout runs on the reference step"),
    (dict(constraint=object()), "constraint object runs on the reference step"),
    (dict(optimizer=type("Adamish", (Momentum,), {})(0.1)),
     "optimizer Adamish runs on the reference step"),
])
def test_unknown_pieces_still_fall_back(pieces, words):
    step = Step(pieces.pop("optimizer", SGD(0.1)), NoRegularization(), 10, 100, **pieces)
    chosen = select(Network([36, 20, 4]), step)
    assert (chosen.name, chosen.reason) == ("reference", words)


def test_killed_numba_run_with_momentum_dropout_and_max_norm_resumes_exactly(idx, tmp_path):
    """The velocities live in the optimiser, so a checkpoint holds them:
    killed between an epoch's arrays and its manifest, the compiled run
    resumes to exactly the uninterrupted run's weights and metrics.

    Every run is a fresh ``nndl`` process that loads the kernel from the
    same Numba cache (a first process fills it if it is stale): with momentum, float32 code
    compiled in a process and the same code loaded from the cache have been
    seen to differ in the last bits (docs/benchmarks.md), which is not what
    this test is about."""
    import os
    import subprocess
    import sys
    flags = _flags(idx, engine="numba") + ["--momentum", "0.9", "--nesterov", "--dropout", "0.2",
                                           "--max-norm", "3"]
    env = dict(os.environ)

    def nndl(*more):
        out = subprocess.run([sys.executable, "-m", "nndl.cli", *flags, *map(str, more)],
                             env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        return out.stdout

    nndl("--epochs", "1")                                   # fills the cache
    nndl("--save", tmp_path / "w.json", "--metrics-out", tmp_path / "wx.json")
    ck = tmp_path / "ck"
    killed = subprocess.run([sys.executable, str(KILLED_RUN), "manifest", "3", *flags,
                             "--checkpoint", str(ck)], env=env, capture_output=True, text=True,
                            timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert "resuming from" in nndl("--resume", ck, "--save", tmp_path / "r.json",
                                   "--metrics-out", tmp_path / "rx.json")
    whole, resumed = (_results(tmp_path / f"{n}.json", tmp_path / f"{n}x.json") for n in "wr")
    assert resumed == whole
    assert json.loads((tmp_path / "wx.json").read_text())["engine"]["name"] == "numba"


# ------------------------------------------------- compilation in the open
NOWHERE = '''class Nowhere:
    """A Numba cache locator that finds no writable directory."""

    @classmethod
    def from_function(cls, py_func, source_path):
        return None
'''


def _nndl_train(idx, env, metrics):
    """Run ``nndl train`` on the small IDX data with the numba engine in a
    fresh process; return its stdout lines and its epochs' train_seconds."""
    import json
    import subprocess
    import sys
    flags = _flags(idx, epochs=2, engine="numba") + ["--metrics-out", str(metrics)]
    out = subprocess.run([sys.executable, "-m", "nndl.cli", *flags], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    doc = json.loads(metrics.read_text())
    return out.stdout.splitlines(), [e["train_seconds"] for e in doc["epochs"]]


def test_compilation_is_announced_once_cached_and_never_timed(idx, tmp_path):
    """A fresh Numba cache: the first process compiles and says so on its own
    line, before epoch 1 and outside its train_seconds; the next process
    loads the cache and says nothing."""
    import os
    import re
    line = re.compile(r"compiling the training kernel, once: (\d+\.\d) s")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    for announced in (True, False):
        lines, seconds = _nndl_train(idx, env, tmp_path / "metrics.json")
        found = [line.fullmatch(text) for text in lines if line.fullmatch(text)]
        assert len(found) == (1 if announced else 0), lines
        if announced:
            assert lines.index(found[0].group(0)) < next(
                i for i, text in enumerate(lines) if text.startswith("epoch 1/"))
            assert max(seconds) < float(found[0].group(1)) / 2, (seconds, found[0].group(0))
    assert any((tmp_path / "cache").rglob("*.nbi"))


def test_without_a_writable_cache_directory_the_kernel_compiles_uncached(tmp_path, monkeypatch):
    """Numba refuses cache=True where it finds no writable directory; the
    kernel's functions are then compiled without a cache, silently."""
    from numba.core import config
    from nndl.engines import kernel
    (tmp_path / "nowhere.py").write_text(NOWHERE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(config, "CACHE_LOCATOR_CLASSES", "nowhere.Nowhere")

    def double(a):
        return 2 * a

    with pytest.raises(RuntimeError, match="no locator available"):
        numba.njit(cache=True)(double)
    uncached = kernel.compiled()(double)
    assert uncached(21) == 42 and not uncached.stats.cache_path
