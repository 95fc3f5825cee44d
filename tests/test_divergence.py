"""Divergence: NaN or inf stops training at once with 'diverged at epoch E,
batch B' (exit 3 from the command line) and leaves saved files untouched."""

import subprocess
import sys

import numpy as np
import pytest

import nndl.engines.reference
from nndl import DivergenceError, Network
from nndl.cli import main
from nndl.divergence import DivergenceCheck
from nndl.optimizers import SGD
from nndl.regularization import L2
from nndl.training import Monitor, train

from reliability_helpers import make_idx_dir


def test_huge_learning_rate_diverges_in_the_first_epoch(tiny_data):
    net = Network([4, 8, 3], seed=0)
    with np.errstate(all="ignore"), pytest.raises(DivergenceError,
                                                  match=r"diverged at epoch 1, batch \d+"):
        train(net, tiny_data, 5, 2, SGD(1e6), regularization=L2(50.0),
              callbacks=[DivergenceCheck()])


class Poison:
    """Put ``value`` into one first-layer weight after mini-batch ``at``."""

    def __init__(self, at, value):
        self.at, self.value = at, value

    def on_batch_end(self, state):
        if state.epoch * state.batches_per_epoch + state.batch == self.at:
            state.network.weights[0][0, 0] = self.value


def test_nan_anywhere_is_caught_at_the_next_step(tiny_data):
    # 60 examples in mini-batches of 10: 6 steps an epoch; step 8 is epoch 2, batch 2.
    net = Network([4, 8, 3], seed=0)
    with np.errstate(all="ignore"), pytest.raises(DivergenceError,
                                                  match="diverged at epoch 2, batch 3:"):
        train(net, tiny_data, 3, 10, SGD(0.1), callbacks=[Poison(8, np.nan), DivergenceCheck()])


def test_infinite_weight_is_caught_by_the_end_of_the_epoch(tiny_data):
    net = Network([4, 8, 3], seed=0)
    with np.errstate(all="ignore"), pytest.raises(DivergenceError, match="diverged at epoch 1"):
        train(net, tiny_data, 3, 10, SGD(0.1),
              callbacks=[Poison(2, np.inf), Monitor(training_cost=True), DivergenceCheck()])


def test_finite_run_is_not_stopped(tiny_data):
    state = train(Network([4, 8, 3], seed=0), tiny_data, 3, 10, SGD(0.5),
                  callbacks=[Monitor(training_cost=True), DivergenceCheck()])
    assert len(state.history) == 3


@pytest.fixture(scope="module")
def idx(tmp_path_factory):
    return make_idx_dir(tmp_path_factory.mktemp("data") / "idx")


def _flags(idx, *extra):
    return ["train", "--dataset", f"idx:{idx}", "--validation-size", "50", "--sizes", "64,10,4",
            "--eta", "1.0", "--lmbda", "0.1", "--seed", "4", *extra]


def test_cli_exits_3_and_keeps_checkpoint_model_and_metrics(idx, tmp_path, capsys, monkeypatch):
    ck, model, metrics = tmp_path / "ck", tmp_path / "m.json", tmp_path / "x.json"
    outputs = ["--save", str(model), "--metrics-out", str(metrics)]
    # the poisoned step below is the reference engine's
    assert main(_flags(idx, "--epochs", "2", "--engine", "reference", "--checkpoint", str(ck),
                       *outputs)) == 0
    before = {p: p.read_bytes() for p in [model, metrics, *ck.iterdir()]}
    capsys.readouterr()

    step, calls = nndl.engines.reference.sgd_step, [0]

    def poisoned_step(network, *args):   # NaN just before the 10th step after resuming
        calls[0] += 1
        if calls[0] == 10:
            network.weights[0][3, 3] = np.nan
        return step(network, *args)
    monkeypatch.setattr(nndl.engines.reference, "sgd_step", poisoned_step)
    code = main(_flags(idx, "--epochs", "4", "--engine", "reference", "--resume", str(ck),
                       *outputs))
    err = capsys.readouterr().err
    assert code == 3
    assert err.startswith("nndl: error: diverged at epoch 3, batch 10:") and err.count("\n") == 1
    assert {p: p.read_bytes() for p in [model, metrics, *ck.iterdir()]} == before


def test_cli_huge_eta_one_line_no_traceback(idx, tmp_path):
    model = tmp_path / "m.json"
    model.write_text("an earlier model")
    r = subprocess.run([sys.executable, "-m", "nndl.cli", *_flags(idx, "--epochs", "3"),
                        "--eta", "1e4", "--save", str(model)], capture_output=True, text=True)
    assert r.returncode == 3, r.stderr
    assert r.stderr.startswith("nndl: error: diverged at epoch ") and r.stderr.count("\n") == 1
    assert model.read_text() == "an earlier model"
