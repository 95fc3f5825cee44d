"""Checkpoints: a run killed with SIGKILL and resumed ends exactly like an
uninterrupted run; damaged or mismatched checkpoints are refused precisely."""

import json
import signal

import numpy as np
import pytest

from nndl import CheckpointError, ConfigError, Network
from nndl.checkpoint import Checkpoint, load_checkpoint, restore
from nndl.cli import main
from nndl.optimizers import SGD
from nndl.regularization import L2
from nndl.training import Monitor, train

from reliability_helpers import make_idx_dir, run_killed


# ------------------------------------------------------------ API, in process
class Momentumish:
    """A stand-in for a stateful optimiser: SGD plus a velocity per parameter,
    exposing its arrays through state_dict / load_state_dict."""

    def __init__(self, eta, mu=0.5):
        self.eta, self.mu, self.velocities = eta, mu, None

    def update_params(self, params, grads):
        if self.velocities is None:
            self.velocities = [np.zeros_like(p) for p in params]
        for p, g, v in zip(params, grads, self.velocities):
            v *= self.mu
            v -= self.eta * g
            p += v

    def state_dict(self):
        return {"eta": self.eta, "mu": self.mu, "velocities": self.velocities}

    def load_state_dict(self, state):
        self.eta, self.mu = state["eta"], state["mu"]
        self.velocities = None if state["velocities"] is None else [
            np.array(v) for v in state["velocities"]]


class Counter:
    """A stand-in for a stateful callback (a schedule, early stopping)."""

    def __init__(self):
        self.seen, self.best = 0, np.float64(np.inf)

    def on_epoch_end(self, state):
        self.seen += 1
        self.best = min(self.best, np.float64(state.history[-1]["training_cost"]))
        state.history[-1]["counter"] = self.seen

    def state_dict(self):
        return {"seen": self.seen, "best": self.best}

    def load_state_dict(self, state):
        self.seen, self.best = state["seen"], np.float64(state["best"])


def _run(tiny_data, epochs, directory=None, resume=False, stop_after=None):
    """Train a seeded net with a stateful optimiser and callback; optionally
    checkpoint, resume, or stop (as if killed) after ``stop_after`` epochs."""
    net = Network([4, 6, 3], seed=5)
    opt, counter = Momentumish(0.5), Counter()
    callbacks = [Monitor(training_cost=True), counter]
    start, history = 0, []
    if directory is not None:
        if resume:
            r = restore(directory, net, opt, callbacks)
            start, history = r.epoch, r.history
        callbacks.append(Checkpoint(directory))
    state = train(net, tiny_data, stop_after or epochs, 7, opt, regularization=L2(0.1),
                  callbacks=callbacks, start_epoch=start, history=history)
    return net, opt, counter, state


def test_restore_continues_exactly_with_optimizer_and_callback_state(tiny_data, tmp_path):
    whole = _run(tiny_data, 6)
    _run(tiny_data, 6, tmp_path / "ck", stop_after=4)
    assert json.loads((tmp_path / "ck" / "manifest.json").read_text())["epochs_done"] == 4
    resumed = _run(tiny_data, 6, tmp_path / "ck", resume=True)
    for a, b in zip(whole[0].weights + whole[0].biases, resumed[0].weights + resumed[0].biases):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(whole[1].velocities, resumed[1].velocities):
        np.testing.assert_array_equal(a, b)
    assert (whole[2].seen, whole[2].best) == (resumed[2].seen, resumed[2].best) == (6, whole[2].best)
    strip = [{k: v for k, v in r.items() if k != "train_seconds"} for r in whole[3].history]
    assert strip == [{k: v for k, v in r.items() if k != "train_seconds"}
                     for r in resumed[3].history]
    assert [p.name for p in sorted((tmp_path / "ck").iterdir())] == ["arrays-000006.npz",
                                                                     "manifest.json"]


def test_checkpoint_must_be_last(tiny_data, tmp_path):
    with pytest.raises(ConfigError, match="last callback"):
        train(Network([4, 3], seed=0), tiny_data, 1, 10, SGD(1.0),
              callbacks=[Checkpoint(tmp_path), Monitor(training_cost=True)])


@pytest.fixture
def checkpoint(tiny_data, tmp_path):
    _run(tiny_data, 2, tmp_path / "ck")
    return tmp_path / "ck"


def _edit_manifest(directory, change):
    path = directory / "manifest.json"
    m = json.loads(path.read_text())
    change(m)
    path.write_text(json.dumps(m))


@pytest.mark.parametrize("change, message", [
    (lambda m: m.update(version=2), "version 1 manifest"),
    (lambda m: m.update(epochs_done=-1), "'epochs_done' must be"),
    (lambda m: m["network"].update(sizes=[4, 10**5, 10**5]), "more than the limit"),
    (lambda m: m["arrays"].update(file="../../etc/passwd"), "'file' must be"),
    (lambda m: m["arrays"]["shapes"].update({"weights.0": [6, 5]}), r"weights.0 has shape \[6, 5\]"),
    (lambda m: m["arrays"]["shapes"].update({"x": [10**8, 10**8]}), "'shapes' must be"),
    (lambda m: m["arrays"].update(sha256="0" * 64), "SHA-256"),
    (lambda m: m.pop("rng"), "lacks 'rng'"),
    (lambda m: m.update(history=[{}] * 9), "'history' must be"),
])
def test_damaged_manifest_is_refused(checkpoint, change, message):
    _edit_manifest(checkpoint, change)
    with pytest.raises(CheckpointError, match=message) as e:
        load_checkpoint(checkpoint)
    assert str(checkpoint) in str(e.value)


def test_damaged_or_missing_arrays_are_refused(checkpoint, tmp_path):
    npz = next(checkpoint.glob("arrays-*.npz"))
    data = bytearray(npz.read_bytes())
    data[len(data) // 2] ^= 0xFF
    npz.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_checkpoint(checkpoint)
    npz.unlink()
    with pytest.raises(CheckpointError, match="cannot read arrays-000002.npz"):
        load_checkpoint(checkpoint)
    with pytest.raises(CheckpointError, match="no manifest.json"):
        load_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="not a checkpoint directory"):
        load_checkpoint(tmp_path / "absent")


def test_restore_refuses_a_different_run(checkpoint):
    with pytest.raises(CheckpointError, match=r"sizes \[4, 6, 3\], this one has \[4, 5, 3\]"):
        restore(checkpoint, Network([4, 5, 3]), Momentumish(0.5), [Counter()])
    with pytest.raises(CheckpointError, match="optimizer is Momentumish, this run's is SGD"):
        restore(checkpoint, Network([4, 6, 3]), SGD(0.5), [Counter()])
    with pytest.raises(CheckpointError, match=r"callbacks \['Counter'\], this run has \[\]"):
        restore(checkpoint, Network([4, 6, 3]), Momentumish(0.5), [])
    _edit_manifest(checkpoint, lambda m: m["rng"].update(bit_generator="MT19937"))
    with pytest.raises(CheckpointError, match="random generator"):
        restore(checkpoint, Network([4, 6, 3]), Momentumish(0.5), [Counter()])


# ------------------------------------------------------ the CLI, killed -9
@pytest.fixture(scope="module")
def idx(tmp_path_factory):
    return make_idx_dir(tmp_path_factory.mktemp("data") / "idx")


def _flags(idx, epochs=4, engine="reference"):
    # the reference engine steps through sgd_step, where killed_run.py's batch mode strikes
    return ["train", "--dataset", f"idx:{idx}", "--validation-size", "50", "--sizes", "64,10,4",
            "--epochs", str(epochs), "--batch-size", "10", "--eta", "1.0", "--lmbda", "0.1",
            "--seed", "11", "--monitor", "training-cost,evaluation-accuracy,evaluation-cost",
            "--engine", engine]


def _results(path_model, path_metrics):
    doc = json.loads(path_metrics.read_text())
    epochs = [{k: v for k, v in e.items() if k not in ("train_seconds", "wall_seconds")}
              for e in doc["epochs"]]
    return json.loads(path_model.read_text()), epochs, doc["test_accuracy"]


@pytest.fixture(scope="module")
def uninterrupted(idx, tmp_path_factory):
    d = tmp_path_factory.mktemp("whole")
    assert main(_flags(idx) + ["--save", str(d / "m.json"), "--metrics-out", str(d / "x.json")]) == 0
    return _results(d / "m.json", d / "x.json")


# 250 training images in mini-batches of 10: 25 steps an epoch.  Step 60 is in
# the middle of epoch 3 (two checkpoints written); manifest 3 is the end of
# epoch 3, killed after its arrays were written but before its manifest.
@pytest.mark.parametrize("mode, n, resumed_after", [("batch", 60, 2), ("manifest", 3, 2),
                                                    ("batch", 1, None)])
def test_killed_run_resumes_to_identical_weights_and_metrics(idx, tmp_path, capsys, uninterrupted,
                                                             mode, n, resumed_after):
    ck = tmp_path / "ck"
    killed = run_killed(mode, n, _flags(idx) + ["--checkpoint", ck])
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    if resumed_after is None:       # killed before the first checkpoint: nothing to resume
        assert main(_flags(idx) + ["--resume", str(ck)]) == 2
        assert "no manifest.json" in capsys.readouterr().err
        return
    assert json.loads((ck / "manifest.json").read_text())["epochs_done"] == resumed_after
    code = main(_flags(idx) + ["--resume", str(ck), "--save", str(tmp_path / "m.json"),
                               "--metrics-out", str(tmp_path / "x.json")])
    out = capsys.readouterr().out
    assert code == 0 and f"resuming from {ck} after epoch {resumed_after}" in out
    assert _results(tmp_path / "m.json", tmp_path / "x.json") == uninterrupted
    assert sorted(p.name for p in ck.iterdir()) == ["arrays-000004.npz", "manifest.json"]


def test_cli_refuses_to_overwrite_or_resume_a_different_run(idx, tmp_path, capsys):
    ck = tmp_path / "ck"
    assert main(_flags(idx, epochs=1) + ["--checkpoint", str(ck)]) == 0
    before = (ck / "manifest.json").read_bytes()
    capsys.readouterr()
    for args, message in [
        (_flags(idx) + ["--checkpoint", str(ck)], "already holds a checkpoint"),
        ([a if a != "64,10,4" else "64,12,4" for a in _flags(idx)] + ["--resume", str(ck)],
         "--sizes 64,10,4 (now 64,12,4)"),
        (_flags(idx) + ["--eta", "0.5", "--resume", str(ck)], "--eta 1.0 (now 0.5)"),
        (_flags(idx, epochs=0) + ["--resume", str(ck)], "1 epochs done, more than --epochs 0"),
    ]:
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("nndl: error: ") and message in err
    assert (ck / "manifest.json").read_bytes() == before


def _whole_and_resumed(flags, mode, n, tmp_path, capsys):
    """Train ``flags`` uninterrupted, then again killed by ``mode`` at ``n``
    (see killed_run.py) and resumed; return both runs' results and the
    uninterrupted run's metrics."""
    whole = tmp_path / "whole"
    whole.mkdir()
    assert main(flags + ["--save", str(whole / "m.json"), "--metrics-out",
                         str(whole / "x.json")]) == 0
    ck = tmp_path / "ck"
    killed = run_killed(mode, n, flags + ["--checkpoint", ck])
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    capsys.readouterr()
    assert main(flags + ["--resume", str(ck), "--save", str(tmp_path / "m.json"),
                         "--metrics-out", str(tmp_path / "x.json")]) == 0
    assert "resuming from" in capsys.readouterr().out
    return (_results(whole / "m.json", whole / "x.json"),
            _results(tmp_path / "m.json", tmp_path / "x.json"),
            json.loads((whole / "x.json").read_text()))


TECHNIQUES = ["--momentum", "0.9", "--nesterov", "--dropout", "0.2", "--max-norm", "3",
              "--lr-schedule", "halve:1", "--early-stopping", "3"]


def test_killed_run_with_momentum_dropout_schedule_and_early_stopping_resumes_exactly(
        idx, tmp_path, capsys):
    """The real stateful pieces (momentum velocities, the dropout generator, the
    halving schedule, early stopping's best weights) survive a SIGKILL."""
    whole, resumed, metrics = _whole_and_resumed(_flags(idx, epochs=6) + TECHNIQUES, "batch", 60,
                                                 tmp_path, capsys)
    assert resumed == whole
    etas = [e["eta"] for e in metrics["epochs"]]
    assert len(set(etas)) > 1          # the schedule really changed eta in this run


def test_killed_fast_engine_run_resumes_exactly(idx, tmp_path, capsys):
    """The compiled engine's runs resume exactly too (killed between an
    epoch's arrays and its manifest, which does not depend on the engine)."""
    whole, resumed, metrics = _whole_and_resumed(_flags(idx, engine="numba"), "manifest", 3,
                                                 tmp_path, capsys)
    assert resumed == whole
    assert metrics["engine"]["name"] == "numba"
