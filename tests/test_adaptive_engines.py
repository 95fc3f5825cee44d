"""Adam, RMSProp and AdaGrad on the fast engines compute the reference step.

Each adaptive optimiser is trained on the BLAS engine (mini-batches of 32 or
more) and on the compiled kernel (smaller ones) and on the reference
(``reference.sgd_step``) from the same seed over the same mini-batch order,
alone and with L2, L1, dropout and max-norm; the weights, biases and the
optimiser's own state (moments, accumulators, step count) must agree to
1e-9 relative in float64 and 2e-4 in float32.  A learning rate changed after
every mini-batch is used from the next one, a checkpointed run resumes bit
for bit, and ``auto`` picks the fast engines for these optimisers.  (The
optimisers themselves are checked against PyTorch's in test_optimizers.py.)
"""

import numpy as np
import pytest

from nndl import engines
from nndl.checkpoint import Checkpoint, restore
from nndl.dropout import Dropout
from nndl.engines import Step
from nndl.engines.base import STATE_ARRAYS
from nndl.network import Network
from nndl.optimizers import SGD, AdaGrad, Adam, RMSProp
from nndl.regularization import L1, L2, MaxNorm, NoRegularization

from test_blas_techniques import SIZES, expander, technique_run
from test_fast import TOLERANCE, DecayEtaEveryBatch, relative_error, sparse_data
from test_optimizers import torch  # noqa: F401  (a fixture: PyTorch, which the last test needs)

OPTIMIZERS = {
    "adam": lambda: Adam(0.01, 0.8, 0.99, 1e-6),
    "rmsprop": lambda: RMSProp(0.003, 0.9, 1e-7),
    "adagrad": lambda: AdaGrad(0.05, 1e-9, 0.1),
}
#: The mini-batch size each fast engine is chosen for.
ENGINE_BATCH = {"blas": 40, "numba": 10}
PIECES = {
    "alone": {},
    "l2": dict(reg=L2(5.0)),
    "l1": dict(reg=L1(2.0)),
    "dropout": dict(dropout=lambda: Dropout(0.5, 0.2)),
    "dropout per example": dict(dropout=lambda: Dropout(0.5, per_example=True)),
    "max-norm+l2": dict(reg=L2(5.0), constraint=MaxNorm(1.0)),
    "all, relu/softmax": dict(reg=L2(5.0), dropout=lambda: Dropout(0.5, 0.2),
                              constraint=MaxNorm(1.5), hidden="relu", cost="log-likelihood"),
}


def state_arrays(optimizer):
    """Every per-parameter state array of the optimiser, in one list."""
    return [a for name in STATE_ARRAYS[type(optimizer)] for a in getattr(optimizer, name)]


def assert_same_run(engine, config, dtype):
    """``engine``'s weights, biases and optimiser state equal the reference's."""
    config = {"m": ENGINE_BATCH[engine], **config}
    fast, fast_opt, _ = technique_run(engine, dtype=dtype, **config)
    ref, ref_opt, _ = technique_run("reference", dtype=dtype, **config)
    assert fast.weights[0].dtype == np.dtype(dtype)
    assert relative_error(fast, ref) < TOLERANCE[dtype]
    assert fast_opt.t == ref_opt.t > 0
    for a, b in zip(state_arrays(fast_opt), state_arrays(ref_opt)):
        assert a.dtype == b.dtype == np.dtype(dtype)
        assert float(np.max(np.abs(a - b)) / np.max(np.abs(b))) < TOLERANCE[dtype]
    return fast, ref


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("pieces", PIECES)
@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("engine", ["blas", "numba"])
def test_adaptive_optimisers_match_the_reference(engine, name, pieces, dtype):
    assert_same_run(engine, dict(optimizer=OPTIMIZERS[name], **PIECES[pieces]), dtype)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_blas_runs_them_with_expansion(name):
    assert_same_run("blas", dict(optimizer=OPTIMIZERS[name], augment=expander, reg=L2(1.0)),
                    "float64")


@pytest.mark.parametrize("engine", ["blas", "numba"])
def test_the_comparisons_see_the_optimiser_and_the_penalty(engine):
    """Guards for the comparisons above: Adam's run is not SGD's, and the L2
    term changes it (so it is not silently dropped)."""
    m = ENGINE_BATCH[engine]
    adam, _, _ = technique_run(engine, optimizer=OPTIMIZERS["adam"], m=m)
    sgd, _, _ = technique_run(engine, optimizer=lambda: SGD(0.3), m=m)
    decayed, _, _ = technique_run(engine, optimizer=OPTIMIZERS["adam"], reg=L2(5.0), m=m)
    assert relative_error(adam, sgd) > 1e-2
    assert relative_error(decayed, adam) > 1e-3


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("engine", ["blas", "numba"])
def test_eta_changed_after_every_batch_is_used_from_the_next_batch(engine, name):
    fast, ref = assert_same_run(engine, dict(optimizer=OPTIMIZERS[name], reg=L2(5.0),
                                             callbacks=[DecayEtaEveryBatch]), "float64")
    undecayed, _, _ = technique_run(engine, optimizer=OPTIMIZERS[name], reg=L2(5.0),
                                    m=ENGINE_BATCH[engine])
    assert relative_error(fast, undecayed) > 1e-3          # the decay really acted


def _checkpointed(directory, engine, make, epochs, stop_after=None, resume=False):
    """A run of ``make()`` with dropout and L2, checkpointed every epoch."""
    from nndl.training import train
    net, opt = Network(SIZES, seed=5), make()
    callbacks, start, history = [], 0, []
    if resume:
        r = restore(directory, net, opt, callbacks)
        start, history = r.epoch, r.history
    callbacks.append(Checkpoint(directory))
    state = train(net, sparse_data(n=400, d=SIZES[0], classes=SIZES[-1]), stop_after or epochs,
                  ENGINE_BATCH[engine], opt, regularization=L2(5.0), dropout=Dropout(0.5),
                  callbacks=callbacks, start_epoch=start, history=history, engine=engine)
    assert state.engine == engine
    return net, opt


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("engine", ["blas", "numba"])
def test_checkpointed_run_resumes_bit_for_bit(tmp_path, engine, name):
    make = OPTIMIZERS[name]
    whole_net, whole_opt = _checkpointed(tmp_path / "whole", engine, make, 4)
    _checkpointed(tmp_path / "ck", engine, make, 4, stop_after=2)
    net, opt = _checkpointed(tmp_path / "ck", engine, make, 4, resume=True)
    assert opt.t == whole_opt.t == 4 * 400 // ENGINE_BATCH[engine]
    for a, b in zip(whole_net.weights + whole_net.biases + state_arrays(whole_opt),
                    net.weights + net.biases + state_arrays(opt)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("engine", ["blas", "numba"])
def test_auto_picks_the_fast_engine(engine, name):
    step = Step(OPTIMIZERS[name](), L2(1.0), ENGINE_BATCH[engine], 400,
                dropout=Dropout(0.5), constraint=MaxNorm(3.0))
    chosen = engines.select(Network(SIZES, seed=1), step)
    assert chosen.name == engine


@pytest.mark.parametrize("engine", ["blas", "numba"])
def test_the_run_names_the_engine(engine):
    from nndl.training import train
    state = train(Network(SIZES, seed=1), sparse_data(n=400, d=SIZES[0], classes=SIZES[-1]),
                  1, ENGINE_BATCH[engine], Adam(0.01), regularization=L2(1.0))
    assert state.engine == engine


@pytest.mark.parametrize("engine", ["blas", "numba"])
def test_state_of_another_shape_is_refused(engine):
    opt = Adam(0.01)
    opt.m = opt.v = [np.zeros((2, 2))]
    reason = engines.engine_class(engine).supports(
        Network(SIZES, seed=1), Step(opt, NoRegularization(), ENGINE_BATCH[engine], 400))
    assert reason == "Adam's m that do not match the parameters run on the reference step"


@pytest.mark.parametrize("engine", ["blas", "numba"])
def test_a_subclass_runs_on_the_reference(engine):
    class OwnAdam(Adam):
        """A subclass may step differently."""

    reason = engines.engine_class(engine).supports(
        Network(SIZES, seed=1), Step(OwnAdam(), NoRegularization(), ENGINE_BATCH[engine], 400))
    assert reason == "optimizer OwnAdam runs on the reference step"


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("engine", ["blas", "numba"])
def test_nndl_train_names_the_fast_engine_in_its_metrics(tmp_path, capsys, engine, optimizer):
    import json

    from nndl.cli import main
    from reliability_helpers import make_idx_dir
    metrics = tmp_path / "metrics.json"
    code = main(["train", "--dataset", f"idx:{make_idx_dir(tmp_path / 'idx')}",
                 "--validation-size", "50", "--sizes", "64,10,4", "--epochs", "1",
                 "--optimizer", optimizer, "--eta", "0.01", "--lmbda", "0.1",
                 "--batch-size", str(ENGINE_BATCH[engine]), "--progress", "off",
                 "--metrics-out", str(metrics)])
    capsys.readouterr()
    assert code == 0
    doc = json.loads(metrics.read_text())
    assert doc["engine"]["name"] == engine, doc["engine"]
    assert doc["config"]["optimizer"] == optimizer


TORCH_OPTIMIZERS = {   # PyTorch's optimisers with the hyper-parameters of OPTIMIZERS
    "adam": lambda t, groups: t.optim.Adam(groups, lr=0.01, betas=(0.8, 0.99), eps=1e-6),
    "rmsprop": lambda t, groups: t.optim.RMSprop(groups, lr=0.003, alpha=0.9, eps=1e-7),
    "adagrad": lambda t, groups: t.optim.Adagrad(groups, lr=0.05, eps=1e-9,
                                                 initial_accumulator_value=0.1),
}


def torch_run(torch, name, net, data, m, epochs, lmbda, seed):
    """Train a copy of ``net`` (sigmoid layers, cross-entropy) with PyTorch's
    autograd and optimiser ``name`` over the mini-batch order ``train`` draws
    from ``default_rng(seed)``; L2 is the optimiser's ``weight_decay``
    lmbda/n on the weights only (it adds (lmbda/n) w to their gradient, as
    ``L2.add_gradient`` does).  Return the weights and biases as arrays."""
    ws = [torch.tensor(w.copy(), requires_grad=True) for w in net.weights]
    bs = [torch.tensor(b[:, 0].copy(), requires_grad=True) for b in net.biases]
    opt = TORCH_OPTIMIZERS[name](torch, [{"params": ws, "weight_decay": lmbda / len(data)},
                                         {"params": bs, "weight_decay": 0.0}])
    x = torch.tensor(data.images)
    y = torch.nn.functional.one_hot(torch.tensor(data.labels), net.sizes[-1]).double()
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = torch.tensor(rng.permutation(len(data)))
        for k in range(0, len(data), m):
            idx = order[k:k + m]
            a = x[idx]
            for w, b in zip(ws[:-1], bs[:-1]):
                a = torch.sigmoid(a @ w.T + b)
            z = a @ ws[-1].T + bs[-1]
            opt.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                z, y[idx], reduction="sum") / len(idx)
            loss.backward()
            opt.step()
    return [w.detach().numpy() for w in ws], [b.detach().numpy()[:, None] for b in bs]


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("engine", ["blas", "numba"])
def test_fast_engines_match_pytorch_end_to_end(torch, engine, name):
    """The same network, mini-batches and L2 trained by PyTorch's autograd
    and its Adam / RMSprop / Adagrad: the fast engine's weights agree."""
    m, data = ENGINE_BATCH[engine], sparse_data(n=400, d=SIZES[0], classes=SIZES[-1])
    fast, _, _ = technique_run(engine, optimizer=OPTIMIZERS[name], reg=L2(5.0), m=m, data=data)
    theirs = torch_run(torch, name, Network(SIZES, dtype="float64", seed=3), data, m, 3, 5.0, seed=1)
    for ours, ref in zip(fast.weights + fast.biases, theirs[0] + theirs[1]):
        assert float(np.max(np.abs(ours - ref)) / np.max(np.abs(ref))) < TOLERANCE["float64"]
