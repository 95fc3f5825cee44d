"""``--optimizer`` and its hyper-parameters as options: the command line, a
TOML file, a search space, ``network2.SGD`` and ``NetworkClassifier``;
full-batch runs through ``Run.train``; refusals before training; resuming
bit-exactly from a checkpoint."""

import json
from dataclasses import fields

import numpy as np
import pytest

import nndl.fullbatch as fullbatch
from nndl.errors import ConfigError
from nndl.optimizers import FULL_BATCH, NAMES, Adam
from nndl.run import default_options
from nndl.persistence import load
from nndl.run import RunConfig
from test_cli import idx_dir, run_cli  # noqa: F401  (a fixture)


def base(idx_dir, *flags):
    return ["train", "--dataset", f"idx:{idx_dir}", "--validation-size", "50", "--sizes",
            "64,10,4", "--seed", "3", "--progress", "off", *flags]


# ------------------------------------------------------------ bad input
@pytest.mark.parametrize("flags, message", [
    (["--optimizer", "adamw"], "argument --optimizer: invalid choice: 'adamw'"),
    (["--optimizer", "adam", "--beta1", "1"], "argument --beta1: must be in [0, 1), got 1"),
    (["--optimizer", "adam", "--epsilon", "0"], "argument --epsilon: must be > 0, got 0"),
    (["--optimizer", "lbfgs", "--lbfgs-memory", "0"], "argument --lbfgs-memory: must be >= 1"),
    (["--optimizer", "adam", "--momentum", "0.9"], "--momentum applies to --optimizer sgd, "
                                                   "not adam"),
    (["--beta2", "0.9"], "--beta2 applies to --optimizer adam, not sgd"),
    (["--optimizer", "rmsprop", "--lbfgs-memory", "5"], "--lbfgs-memory applies to "
                                                        "--optimizer lbfgs, not rmsprop"),
    (["--optimizer", "cg", "--eta", "0.1"], "--eta applies to --optimizer sgd, adam, rmsprop "
                                            "or adagrad, not cg"),
    (["--optimizer", "lbfgs", "--batch-size", "10"], "--batch-size does not apply to "
                                                     "--optimizer lbfgs"),
    (["--optimizer", "bfgs", "--dropout", "0.2"], "--dropout does not apply"),
    (["--optimizer", "cg", "--input-dropout", "0.2"], "--input-dropout does not apply"),
    (["--optimizer", "lbfgs", "--max-norm", "3"], "--max-norm does not apply"),
    (["--optimizer", "lbfgs", "--expand", "shift:pixels=1"], "--expand does not apply"),
    (["--optimizer", "lbfgs", "--lr-schedule", "step:2:0.5"], "--lr-schedule does not apply"),
    (["--optimizer", "lbfgs", "--monitor-every", "100"], "--monitor-every does not apply"),
    (["--optimizer", "lbfgs", "--engine", "blas"], "--engine does not apply"),
    (["--optimizer", "lbfgs", "--nesterov"], "--nesterov applies to --optimizer sgd"),
])
def test_bad_optimizer_options_are_one_line_before_training(idx_dir, tmp_path, capsys, flags,
                                                            message):
    metrics = tmp_path / "m.json"
    code, out, err = run_cli(base(idx_dir, "--metrics-out", str(metrics), *flags), capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert out == "" and not metrics.exists()


def test_newton_on_a_large_network_is_refused_before_any_data_is_read(tmp_path, capsys):
    missing = tmp_path / "no-such-data.pkl.gz"          # reading it would be another error
    code, out, err = run_cli(["train", "--optimizer", "newton", "--dataset", str(missing)],
                             capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "Newton's method needs the 23860 x 23860 Hessian" in err and "GiB" in err
    code, out, err = run_cli(["train", "--optimizer", "bfgs", "--sizes", "784,100,10",
                              "--dataset", str(missing)], capsys)
    assert code == 2 and "BFGS needs the 79510 x 79510" in err


def test_every_name_has_a_class_and_the_full_batch_names_are_the_library_methods():
    assert tuple(fullbatch.METHODS) == FULL_BATCH
    assert set(RunConfig.__dataclass_fields__["optimizer"].metadata["constraint"].choices) \
        == set(NAMES)
    for f in fields(RunConfig):                # each option's keyword exists on its classes
        for name, keyword in (f.metadata["applies"] or {}).items():
            assert keyword in default_options(name), (f.name, name)


# -------------------------------------------------------------- training
def test_full_batch_run_counts_iterations_and_writes_the_metrics_schema(idx_dir, tmp_path,
                                                                        capsys):
    metrics = tmp_path / "m.json"
    code, out, err = run_cli(base(idx_dir, "--optimizer", "lbfgs", "--epochs", "4",
                                  "--lmbda", "0.1", "--lbfgs-memory", "3",
                                  "--monitor", "training-cost,evaluation-accuracy",
                                  "--metrics-out", str(metrics)), capsys)
    assert code == 0, err
    assert out.startswith("each iteration: cost+L2 and accuracy")     # the legend, then
    lines = out.splitlines()[2:]
    assert [line.split()[1] for line in lines[:4]] == ["1/4", "2/4", "3/4", "4/4"]
    assert all(line.startswith("iteration ") for line in lines[:4])
    assert "engine: full-batch (lbfgs needs the whole training set)" in out
    doc = json.loads(metrics.read_text())
    assert len(doc["epochs"]) == 4 and doc["engine"]["name"] == "full-batch"
    costs = [e["training_cost"] for e in doc["epochs"]]
    assert costs == sorted(costs, reverse=True) and costs[-1] < costs[0]
    for e in doc["epochs"]:                          # the objective is the monitored cost
        assert e["f"] == pytest.approx(e["training_cost"], rel=1e-5)
    c = doc["config"]
    assert (c["optimizer"], c["lbfgs_memory"], c["gradient_tolerance"], c["batch_size"],
            c["eta"], c["beta1"]) == ("lbfgs", 3, 1e-6, None, None, None)


def test_a_failed_line_search_ends_the_run_with_its_reason_and_the_best_parameters(
        idx_dir, tmp_path, capsys, monkeypatch):
    two = tmp_path / "two.json"
    code, out, err = run_cli(base(idx_dir, "--optimizer", "cg", "--epochs", "2",
                                  "--save", str(two)), capsys)
    assert code == 0, err
    original, calls = fullbatch.FullBatchMethod.line_search, []

    def failing_after_two_iterations(self, objective, d):
        if self.iteration >= 2:
            calls.append(self.iteration)
            raise fullbatch.LineSearchFailed("the line search found no step meeting the "
                                             "Wolfe conditions in 20 trials")
        return original(self, objective, d)

    monkeypatch.setattr(fullbatch.FullBatchMethod, "line_search", failing_after_two_iterations)
    model, metrics = tmp_path / "m.json", tmp_path / "metrics.json"
    code, out, err = run_cli(base(idx_dir, "--optimizer", "cg", "--epochs", "10",
                                  "--save", str(model), "--metrics-out", str(metrics)), capsys)
    assert code == 0 and err == "" and calls == [2, 2]       # the direction, then -g
    assert "stopped: cg: the line search found no step meeting the Wolfe conditions" in out
    doc = json.loads(metrics.read_text())
    assert doc["stop_reason"].startswith("cg: the line search") and len(doc["epochs"]) == 3
    kept, best = load(model), load(two)
    for a, b in zip(kept.weights + kept.biases, best.weights + best.biases):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("flags", [["--optimizer", "adam", "--eta", "0.01", "--beta1", "0.8"],
                                   ["--optimizer", "lbfgs", "--lbfgs-memory", "4"]],
                         ids=["adam", "lbfgs"])
def test_two_epochs_and_a_resumed_two_are_the_four_epoch_run_bit_for_bit(idx_dir, tmp_path,
                                                                        capsys, flags):
    whole, resumed, ckpt = tmp_path / "whole.json", tmp_path / "resumed.json", tmp_path / "ck"
    m_whole, m_resumed = tmp_path / "w.json", tmp_path / "r.json"
    code, _, err = run_cli(base(idx_dir, *flags, "--epochs", "4", "--save", str(whole),
                                "--metrics-out", str(m_whole)), capsys)
    assert code == 0, err
    code, _, err = run_cli(base(idx_dir, *flags, "--epochs", "2", "--checkpoint", str(ckpt)),
                           capsys)
    assert code == 0, err
    manifest = json.loads((ckpt / "manifest.json").read_text())
    assert manifest["optimizer"]["class"] == {"adam": "Adam", "lbfgs": "LBFGS"}[flags[1]]
    code, out, err = run_cli(base(idx_dir, *flags, "--epochs", "4", "--resume", str(ckpt),
                                  "--save", str(resumed), "--metrics-out", str(m_resumed)),
                             capsys)
    assert code == 0, err
    assert f"resuming from {ckpt} after epoch 2" in out
    a, b = load(whole), load(resumed)
    for x, y in zip(a.weights + a.biases, b.weights + b.biases):
        np.testing.assert_array_equal(x, y)
    costs = [[e["evaluation_cost"] for e in json.loads(m.read_text())["epochs"]]
             for m in (m_whole, m_resumed)]
    assert costs[0] == costs[1]
    other = [w if w != flags[-1] else "0.7" if flags[1] == "adam" else "6" for w in flags]
    code, out, err = run_cli(base(idx_dir, *other, "--epochs", "4", "--resume", str(ckpt)),
                             capsys)
    assert code == 2 and f"--{flags[-2].lstrip('-')} {flags[-1]} (now" in err


def test_toml_file_and_search_space_take_the_optimizer_options(idx_dir, tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text(f'dataset = "idx:{idx_dir}"\nvalidation-size = 50\nsizes = [64, 6, 4]\n'
                      'epochs = 1\noptimizer = "adam"\nbeta1 = 0.8\nepsilon = 1e-7\n')
    metrics = tmp_path / "m.json"
    code, out, err = run_cli(["train", "--config", str(config), "--progress", "off",
                              "--metrics-out", str(metrics)], capsys)
    assert code == 0, err
    c = json.loads(metrics.read_text())["config"]
    assert (c["optimizer"], c["beta1"], c["beta2"], c["epsilon"], c["eta"], c["batch_size"]) \
        == ("adam", 0.8, 0.999, 1e-7, 0.001, 10)
    config.write_text('optimizer = "adam"\nbeta1 = 1.5\n')
    code, out, err = run_cli(["train", "--config", str(config)], capsys)
    assert code == 2 and f"{config}: beta1: must be in [0, 1), got 1.5" in err

    from nndl.search.space import Space
    space = Space.from_dict({"optimizer": {"type": "categorical", "choices": ["adam", "rmsprop"]},
                             "epsilon": {"type": "float", "low": 1e-8, "high": 1e-6,
                                         "log": True}})
    trial = space.config(space.settings({"optimizer": "rmsprop", "epsilon": 1e-7}), 64, 4)
    assert (trial.optimizer, trial.epsilon) == ("rmsprop", 1e-7)
    with pytest.raises(ConfigError, match="--beta1 applies to --optimizer adam, not rmsprop"):
        Space.from_dict({"optimizer": {"type": "categorical", "choices": ["adam", "rmsprop"]},
                         "beta1": 0.8})


def test_preset_general_trains(mnist_file, capsys):
    code, out, err = run_cli(["train", "--preset", "general", "--dataset", str(mnist_file),
                              "--epochs", "1", "--train-size", "500", "--progress", "off"],
                             capsys)
    assert code == 0, err
    assert out.splitlines()[2].startswith("epoch 1/1") and "test accuracy" in out


# ------------------------------------------------------- the Python APIs
def test_network2_sgd_takes_an_optimizer_and_its_options(tiny_data):
    import network2
    x, y = tiny_data.images.astype(np.float64), tiny_data.labels
    pairs = [(xi.reshape(-1, 1), np.eye(3)[yi].reshape(-1, 1)) for xi, yi in zip(x, y)]
    net = network2.Network([x.shape[1], 6, 3], seed=0)
    net.SGD(pairs, 3, 10, 0.01, optimizer="adam", beta1=0.8)
    assert net.last_run["etas"] == [0.01] * 3
    full = network2.Network([x.shape[1], 6, 3], seed=0)
    cost_before = full.total_cost(pairs, 0.0)
    full.SGD(pairs, 5, None, None, optimizer="lbfgs", lbfgs_memory=3)
    assert full.last_run["engine"] == "full-batch" and full.total_cost(pairs, 0.0) < cost_before
    with pytest.raises(TypeError, match="unexpected keyword arguments beta3"):
        net.SGD(pairs, 1, 10, 0.01, optimizer="adam", beta3=0.5)
    with pytest.raises(ConfigError, match="--batch-size does not apply to --optimizer lbfgs"):
        full.SGD(pairs, 1, 10, None, optimizer="lbfgs")


def test_network_classifier_takes_an_optimizer_and_follows_the_general_preset():
    from sklearn.datasets import load_digits
    from nndl.options import read_preset
    from nndl.sklearn import NetworkClassifier
    x, y = load_digits(return_X_y=True)
    x, y = x[:400] / 16.0, y[:400]
    from nndl.sklearn import OPTIMIZER_OPTIONS
    assert set(OPTIMIZER_OPTIONS) <= set(NetworkClassifier().get_params())
    assert "beta1" in OPTIMIZER_OPTIONS and "eta" not in OPTIMIZER_OPTIONS
    preset, clf = read_preset("general"), NetworkClassifier()
    assert (clf.activation, clf.output, clf.epochs, list(clf.hidden_layer_sizes)) == \
        (preset["activation"], preset["output"], preset["epochs"], preset["sizes"][1:-1])
    config = clf.fit(x[:50], y[:50])._config(64, 1)
    assert (config.eta, config.momentum, config.batch_size) == \
        (preset["eta"], preset["momentum"], preset["batch-size"])
    adam = NetworkClassifier(optimizer="adam", epochs=5, random_state=0).fit(x, y)
    assert isinstance(adam.optimizer_, Adam) and adam.optimizer_.eta == 0.001
    lbfgs = NetworkClassifier(optimizer="lbfgs", epochs=20, hidden_layer_sizes=(10,),
                              random_state=0).fit(x, y)
    assert lbfgs.n_iter_ <= 20 and lbfgs.score(x, y) > 0.9
    with pytest.raises(ConfigError, match="--momentum applies to --optimizer sgd"):
        NetworkClassifier(optimizer="lbfgs", momentum=0.9).fit(x, y)
