"""The torch engine computes the reference step, with every technique.

Each run is trained twice from the same seed on the same mini-batch order,
once on the torch engine and once on the NumPy reference
(``training.sgd_step``); their weights must agree to float tolerance
(float64 1e-9, float32 2e-4 relative) after several epochs.  Dropout masks
and expanded images come from the same NumPy generators on both, so the
runs are the same run.  These tests use PyTorch's CPU build (the ``test``
extra pins it); on a machine with a GPU the engine's default device is
CUDA and they test that instead.
"""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import assert_resumes_bit_for_bit
from nndl.checkpoint import Checkpoint, restore
from nndl.cli import main
from nndl.divergence import DivergenceCheck
from nndl.dropout import Dropout
from nndl.errors import ConfigError, DivergenceError
from nndl.expansion import Expander
from nndl import engines
from nndl.engines import Step, torch_engine
from nndl.network import Network
from nndl.optimizers import SGD, Momentum
from nndl.regularization import L1, L2, MaxNorm, NoRegularization
from nndl.training import train

from reliability_helpers import make_idx_dir
from test_fast import CONFIGS, CountBatches, relative_error, sparse_data

TOLERANCE = {"float32": 2e-4, "float64": 1e-9}


def run(engine, sizes, *, data=None, epochs=3, m=10, dtype="float64", seed=3,
        cost="cross-entropy", hidden="sigmoid", output=None, optimizer=lambda: SGD(0.3),
        reg=None, dropout=None, constraint=None, expand=None, callbacks=list):
    """Train a seeded network on ``engine``; return (network, state).  The
    technique arguments are factories, so each run gets fresh pieces."""
    data = data or sparse_data(d=sizes[0], classes=sizes[-1])
    net = Network(sizes, cost=cost, hidden=hidden, output=output, dtype=dtype, seed=seed)
    state = train(net, data, epochs, m, optimizer(), regularization=reg() if reg else None,
                  dropout=dropout() if dropout else None,
                  constraint=constraint() if constraint else None,
                  augment=Expander(expand, seed=5, chunk_size=60) if expand else None,
                  engine=engine, callbacks=callbacks())
    return net, state


def compare(sizes, **kw):
    """Train on torch and on the reference; return (torch net, reference net, torch state)."""
    ours, state = run("torch", sizes, **kw)
    ref, ref_state = run("reference", sizes, **kw)
    assert state.engine == "torch" and ref_state.engine == "reference"
    return ours, ref, state


TECHNIQUES = {
    "momentum": dict(optimizer=lambda: Momentum(0.3, 0.9)),
    "nesterov": dict(optimizer=lambda: Momentum(0.3, 0.9, nesterov=True)),
    "l2": dict(reg=lambda: L2(5.0)),
    "l1": dict(reg=lambda: L1(2.0)),
    "dropout-hidden": dict(dropout=lambda: Dropout(0.5)),
    "dropout-input": dict(dropout=lambda: Dropout(0.0, 0.2)),
    "dropout-per-example": dict(dropout=lambda: Dropout(0.5, 0.2, per_example=True)),
    "max-norm": dict(constraint=lambda: MaxNorm(0.8), optimizer=lambda: SGD(2.0)),
    "affine": dict(expand="affine:rotate=15,shift=1"),
    "elastic": dict(expand="elastic:alpha=6,sigma=1.5"),
    "all": dict(optimizer=lambda: Momentum(0.2, 0.8, nesterov=True), reg=lambda: L2(2.0),
                dropout=lambda: Dropout(0.5, 0.1, per_example=True),
                constraint=lambda: MaxNorm(1.5), expand="affine:rotate=10"),
    "momentum-l1-dropout": dict(optimizer=lambda: Momentum(0.3, 0.5), reg=lambda: L1(1.0),
                                dropout=lambda: Dropout(0.3)),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("technique", TECHNIQUES)
def test_every_technique_matches_the_reference(technique, dtype):
    ours, ref, _ = compare([36, 20, 12, 4], dtype=dtype, **TECHNIQUES[technique])
    assert ours.weights[0].dtype == np.dtype(dtype)
    assert relative_error(ours, ref) < TOLERANCE[dtype]
    assert relative_error(ours, Network([36, 20, 12, 4], dtype=dtype, seed=3)) > 1e-2


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(
    f"{k}={getattr(v, 'name', v)}" for k, v in c.items()))
def test_every_cost_and_activation_matches_the_reference(config, dtype):
    config = dict(config)
    reg, eta = config.pop("reg", None), config.pop("eta", 0.3)
    ours, ref, _ = compare(dtype=dtype, reg=reg and (lambda: reg),
                           optimizer=lambda: SGD(eta), **config)
    assert relative_error(ours, ref) < TOLERANCE[dtype]


def test_linear_outputs_with_the_quadratic_cost_match_the_reference():
    ours, ref, _ = compare([36, 15, 4], cost="quadratic", output="linear", hidden="tanh",
                           optimizer=lambda: SGD(0.02), reg=lambda: L2(1.0))
    assert relative_error(ours, ref) < TOLERANCE["float64"]


class DecayEveryBatch:
    """A per-batch schedule: eta *= 0.99 after every step."""

    def on_batch_end(self, state):
        state.optimizer.eta *= 0.99


def test_eta_changed_after_every_batch_is_used_from_the_next_batch():
    ours, ref, state = compare([36, 20, 4], optimizer=lambda: Momentum(0.5, 0.9),
                               callbacks=lambda: [DecayEveryBatch()])
    assert state.optimizer.eta == pytest.approx(0.5 * 0.99 ** (3 * state.batches_per_epoch))
    assert relative_error(ours, ref) < TOLERANCE["float64"]


def test_batch_callbacks_see_the_current_weights_after_every_step():
    counters = []

    def factory():
        counters.append(CountBatches())
        return [counters[-1]]

    ours, ref, state = compare([36, 20, 4], m=7, dropout=lambda: Dropout(0.5),
                               callbacks=factory)
    assert counters[0].calls == counters[1].calls == 3 * state.batches_per_epoch
    np.testing.assert_allclose(counters[0].norms, counters[1].norms, rtol=1e-9)


def test_divergence_is_reported_at_the_same_epoch_and_batch_as_the_reference():
    """The engine stops at the first non-finite output bias; the epoch-end
    check then names the same epoch and batch as the reference's per-batch one."""
    where = []
    for engine in ("torch", "reference"):
        with pytest.raises(DivergenceError) as e, np.errstate(all="ignore"):
            run(engine, [36, 20, 4], cost="quadratic", output="linear", hidden="linear",
                optimizer=lambda: SGD(5.0), callbacks=lambda: [DivergenceCheck()])
        where.append(str(e.value).split(":")[0])
    assert where[0] == where[1] == "diverged at epoch 1, batch 7"


def test_seeded_runs_repeat_bit_for_bit():
    kw = dict(dtype="float32", optimizer=lambda: Momentum(0.3, 0.9), dropout=lambda: Dropout(0.5),
              expand="affine:rotate=10")
    (a, _), (b, _) = run("torch", [36, 20, 4], **kw), run("torch", [36, 20, 4], **kw)
    for x, y in zip(a.weights + a.biases, b.weights + b.biases):
        np.testing.assert_array_equal(x, y)


def _checkpointed(tmp_path, epochs, stop_after=None, resume=False):
    """A torch run with momentum, dropout and L2, checkpointed each epoch;
    stopped after ``stop_after`` epochs, or resumed from the checkpoint."""
    data = sparse_data()
    net, opt, drop = Network([36, 20, 4], dtype="float32", seed=7), Momentum(0.3, 0.9), Dropout(0.5)
    start, history = 0, []
    if resume:
        r = restore(tmp_path, net, opt)
        start, history = r.epoch, r.history
    train(net, data, stop_after or epochs, 10, opt, regularization=L2(1.0), dropout=drop,
          callbacks=[Checkpoint(tmp_path)], start_epoch=start, history=history, engine="torch")
    return net, opt


def test_resume_from_a_checkpoint_is_bit_exact(tmp_path):
    assert_resumes_bit_for_bit(_checkpointed, tmp_path, 4)


# ------------------------------------------------------- on real MNIST
MNIST_RUNS = {
    "momentum": dict(optimizer=lambda: Momentum(0.1, 0.9), reg=lambda: L2(5.0)),
    "dropout": dict(optimizer=lambda: Momentum(0.1, 0.9), dropout=lambda: Dropout(0.5, 0.2)),
    "elastic": dict(optimizer=lambda: Momentum(0.1, 0.9), expand="elastic:alpha=34,sigma=4"),
}


@pytest.mark.mnist
@pytest.mark.parametrize("technique", MNIST_RUNS)
def test_784_100_10_matches_the_reference_on_mnist(technique, mnist):
    """[784,100,10], float32, two epochs on 300 real images."""
    ours, ref, _ = compare([784, 100, 10], data=mnist.training.subset(300), epochs=2,
                           dtype="float32", **MNIST_RUNS[technique])
    assert relative_error(ours, ref) < TOLERANCE["float32"]


# ------------------------------------------------------------ the CLI
@pytest.fixture(scope="module")
def idx(tmp_path_factory):
    return make_idx_dir(tmp_path_factory.mktemp("data") / "idx")


def _train_flags(idx, engine):
    return ["train", "--dataset", f"idx:{idx}", "--validation-size", "50", "--sizes", "64,30,4",
            "--epochs", "2", "--batch-size", "10", "--eta", "0.2", "--momentum", "0.9",
            "--dropout", "0.3", "--expand", "affine:rotate=10", "--seed", "4",
            "--engine", engine]


def test_cli_trains_on_torch_to_the_reference_weights(idx, tmp_path, capsys):
    models = {}
    for engine in ("torch", "reference"):
        out = tmp_path / engine
        assert main(_train_flags(idx, engine) + ["--save", f"{out}.json",
                                                 "--metrics-out", f"{out}-metrics.json"]) == 0
        models[engine] = json.loads((tmp_path / f"{engine}.json").read_text())
    printed = capsys.readouterr().out
    device = "cuda" if torch.cuda.is_available() else "cpu"
    assert (f"engine: torch (PyTorch tensor operations: version {torch.__version__} "
            f"on {device}") in printed
    metrics = json.loads((tmp_path / "torch-metrics.json").read_text())
    assert metrics["engine"]["name"] == "torch" and "float32" in metrics["engine"]["reason"]
    for key in ("weights", "biases"):
        for a, b in zip(models["torch"][key], models["reference"][key]):
            a, b = np.array(a), np.array(b)
            assert np.max(np.abs(a - b)) / np.max(np.abs(b)) < TOLERANCE["float32"]


def test_cli_refuses_a_missing_gpu_before_loading_data(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code = main(["train", "--dataset", "idx:/nonexistent", "--engine", "torch", "--device", "cuda"])
    err = capsys.readouterr().err
    assert code == 2
    assert err == (f"nndl: error: --device cuda: PyTorch {torch.__version__} sees no CUDA GPU "
                   "on this machine\n")


@pytest.mark.parametrize("flags, message", [
    (["--engine", "blas", "--device", "cuda"], "--device cuda needs --engine torch"),
    (["--engine", "torch", "--device", "tpu"], "unknown device 'tpu'"),
])
def test_device_misuse_is_a_one_line_error(idx, capsys, flags, message):
    code = main(["train", "--dataset", f"idx:{idx}", "--validation-size", "50",
                 "--sizes", "64,10,4", "--epochs", "1", *flags])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1


MISSING_TORCH = """
import sys
sys.modules["torch"] = None                  # as if PyTorch were not installed
import numpy as np
from nndl.cli import main
from nndl.data import Dataset
from nndl.errors import ConfigError
from nndl.network import Network
from nndl.optimizers import SGD
from nndl.training import train
data = Dataset(np.random.default_rng(0).random((200, 784)), np.arange(200) % 10)
try:
    train(Network([784, 30, 10], seed=0), data, 1, 10, SGD(0.5), engine="torch")
except ConfigError as e:
    print("api:", e)
big = Network([784, 1000, 1000, 10], seed=0)
print("auto:", train(big, data, 1, 100, SGD(0.1)).engine)
sys.exit(main(["train", "--dataset", "idx:/nonexistent", "--engine", "torch"]))
"""


def test_without_pytorch_naming_it_is_one_line_and_auto_does_without():
    done = subprocess.run([sys.executable, "-c", MISSING_TORCH], capture_output=True,
                          text=True, timeout=120)
    hint = "the torch engine needs PyTorch: pip install 'nndl[torch]'"
    assert done.returncode == 2, done.stderr
    assert done.stdout.splitlines() == [f"api: {hint}", "auto: blas"]
    assert done.stderr == f"nndl: error: {hint}\n"        # not the missing data: checked first


# ------------------------------------------------------- the auto rule
def test_auto_picks_torch_only_for_a_large_network_on_a_gpu(monkeypatch):
    big, small = Network([784, 1000, 1000, 10], seed=0), Network([784, 100, 10], seed=0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert not torch_engine.gpu_would_gain(big, 100)
    data = sparse_data(n=200, d=784, classes=10)
    assert train(big, data, 1, 100, SGD(0.1)).engine == "blas"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert torch_engine.gpu_would_gain(big, 100)
    assert not torch_engine.gpu_would_gain(big, torch_engine.GPU_MIN_BATCH - 1)
    assert not torch_engine.gpu_would_gain(small, 100)
    step = Step(SGD(0.1), NoRegularization(), 100, 200, dropout=Dropout(0.5))
    assert engines.select(big, step).name == "torch"
    assert engines.select(small, step).name == "blas"          # dropout runs there too


def test_naming_torch_for_pieces_it_does_not_know_is_an_error():
    class Adamish(SGD):
        def __init__(self, eta):
            super().__init__(eta)
            self.beta = 0.9

    with pytest.raises(ConfigError, match="the torch engine cannot train this: optimizer Adamish"):
        run("torch", [36, 20, 4], optimizer=lambda: Adamish(0.1))
