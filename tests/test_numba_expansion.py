"""On-the-fly expansion on the compiled engine: each epoch trains on the
``Expander``'s distorted copy of the training images (``epoch_with``), with
their non-zero masks marked per epoch, and computes exactly what the
reference step computes on the expander's mini-batches."""

import numpy as np
import pytest

from nndl import engines
from nndl.checkpoint import Checkpoint, restore
from nndl.dropout import Dropout
from nndl.engines import Step, kernel
from nndl.expansion import Expander
from nndl.expansion.threads import LoadMeter
from nndl.network import Network
from nndl.optimizers import SGD, Momentum
from nndl.regularization import L2
from nndl.training import train

from test_fast import TOLERANCE, DecayEtaEveryBatch, relative_error, sparse_data
from conftest import assert_resumes_bit_for_bit

SIZES = [36, 20, 4]
SPECS = {"elastic": "elastic:alpha=8,sigma=2", "affine": "affine:rotate=15,shift=1"}


def expander(spec="elastic", seed=7):
    """A seeded expander on the 6x6 images of ``sparse_data``."""
    return Expander(SPECS[spec], seed=seed, chunk_size=64,
                    meter=LoadMeter(cores=2, load=lambda: 0.0))


def expanded_run(engine, *, spec="elastic", optimizer=lambda: SGD(0.3), dropout=None,
                 dtype="float64", epochs=2, callbacks=(), augment=True):
    """Train a seeded network with ``engine`` on an expanded (or, with
    ``augment=False``, plain) ``sparse_data``; return the network, optimiser."""
    net = Network(SIZES, dtype=dtype, seed=3)
    opt = optimizer()
    ex = expander(spec) if augment else None
    state = train(net, sparse_data(n=400, d=SIZES[0], classes=SIZES[-1]), epochs, 10, opt,
                  regularization=L2(1.0), dropout=dropout() if dropout else None,
                  augment=ex, rng=np.random.default_rng(1), engine=engine,
                  callbacks=[cb() for cb in callbacks])
    if ex is not None:
        ex.close()
    assert state.engine == engine, state.engine_reason
    return net, opt


CONFIGS = {
    "sgd": {},
    "momentum": dict(optimizer=lambda: Momentum(0.3, 0.9)),
    "dropout": dict(dropout=lambda: Dropout(0.5, 0.2)),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("config", CONFIGS)
def test_expanded_run_matches_the_reference(config, spec, dtype):
    kw = dict(CONFIGS[config], spec=spec, dtype=dtype)
    fast, fast_opt = expanded_run("numba", **kw)
    ref, ref_opt = expanded_run("reference", **kw)
    assert relative_error(fast, ref) < TOLERANCE[dtype]
    if isinstance(ref_opt, Momentum):
        for v, w in zip(fast_opt.velocities, ref_opt.velocities):
            assert float(np.max(np.abs(v - w)) / np.max(np.abs(w))) < TOLERANCE[dtype]
    plain, _ = expanded_run("numba", **kw, augment=False)
    assert relative_error(fast, plain) > 1e-2          # the distorted images were trained on


def test_expanded_run_with_eta_decayed_after_every_batch():
    """One kernel call per mini-batch, all on the same epoch's images and masks."""
    kw = dict(optimizer=lambda: Momentum(0.3, 0.9, nesterov=True), callbacks=[DecayEtaEveryBatch])
    fast, _ = expanded_run("numba", **kw)
    ref, _ = expanded_run("reference", **kw)
    assert relative_error(fast, ref) < TOLERANCE["float64"]


def test_each_epoch_has_the_masks_of_its_own_distorted_images():
    x = sparse_data(n=300, d=36).images
    ex = expander()
    for epoch in range(3):                     # 0 in the caller, 1 and 2 prepared in the background
        images, masks = ex.epoch_with(x, epoch, kernel.nonzero_masks)
        fresh = Expander(SPECS["elastic"], seed=7, chunk_size=64, prefetch=False)
        np.testing.assert_array_equal(images, fresh.epoch_images(x, epoch))
        np.testing.assert_array_equal(masks, kernel.nonzero_masks(images))
        assert not np.array_equal(masks, kernel.nonzero_masks(x))
    ex.close()


def test_nonzero_masks_mark_exactly_the_nonzero_pixels():
    x = np.zeros((3, 130))
    x[0, [0, 63, 64, 129]] = 1.0
    x[1, 70] = -2.0
    x[2] = 1.0
    masks = kernel.nonzero_masks(x)
    bits = np.array([[(int(m[i >> 6]) >> (i & 63)) & 1 for i in range(130)] for m in masks])
    np.testing.assert_array_equal(bits, x != 0)
    assert masks.shape == (3, 3) and not (int(masks[2, 2]) >> 2)    # no bits past the row


def _checkpointed(directory, epochs, stop_after=None, resume=False):
    """A numba run with momentum, dropout and elastic expansion, checkpointed each epoch."""
    net, opt = Network(SIZES, seed=5), Momentum(0.3, 0.9, nesterov=True)
    callbacks, start, history = [], 0, []
    if resume:
        r = restore(directory, net, opt, callbacks)
        start, history = r.epoch, r.history
    callbacks.append(Checkpoint(directory))
    ex = expander()
    state = train(net, sparse_data(n=400, d=SIZES[0], classes=SIZES[-1]), stop_after or epochs,
                  10, opt, regularization=L2(5.0), dropout=Dropout(0.5), augment=ex,
                  callbacks=callbacks, start_epoch=start, history=history, engine="numba")
    ex.close()
    assert state.engine == "numba"
    return net, opt


def test_checkpointed_expanded_run_resumes_bit_for_bit(tmp_path):
    assert_resumes_bit_for_bit(_checkpointed, tmp_path, 4)


def test_auto_picks_numba_for_an_expanded_run_at_small_batches():
    step = Step(Momentum(0.1, 0.9), L2(1.0), 10, 400, dropout=Dropout(0.5), augment=expander())
    chosen = engines.select(Network(SIZES, seed=1), step)
    assert (chosen.name, chosen.reason) == ("numba", "compiled kernel, sparse inputs")
    assert engines.select(Network(SIZES, seed=1), Step(SGD(1), L2(1.0), 100, 400,
                                                       augment=expander())).name == "blas"


def test_the_engine_leaves_the_other_cores_to_the_distortion():
    """The kernel trains on one thread: on 4 free cores the distortion gets 3."""
    ex = Expander(SPECS["elastic"], seed=1, meter=LoadMeter(cores=4, load=lambda: 0.0))
    assert ex.thread_plan()[1] == 1                      # as for a BLAS engine
    data = sparse_data(n=40)
    engines.engine_class("numba")(Network(SIZES, seed=1), Step(SGD(1), L2(1.0), 10, 40, augment=ex),
                                  data.images, np.zeros((40, 4)))
    assert ex.trainer_threads == 1 and ex.thread_plan()[1] == 3
