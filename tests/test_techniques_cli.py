"""The training techniques through the command line and the network2 shim."""

import json

import numpy as np
import pytest

from nndl.cli import main
from test_cli import idx_dir, run_cli  # noqa: F401  (idx_dir is a fixture)


def test_cli_techniques_record_eta_stop_reason_and_best_epoch(idx_dir, tmp_path, capsys):  # noqa: F811
    metrics = tmp_path / "metrics.json"
    code, out, err = run_cli(
        ["train", "--dataset", f"idx:{idx_dir}", "--validation-size", "50", "--sizes", "64,10,4",
         "--epochs", "40", "--eta", "1.0", "--seed", "3", "--momentum", "0.5", "--nesterov",
         "--dropout", "0.2", "--input-dropout", "0.1", "--max-norm", "3",
         "--lr-schedule", "halve:1", "--early-stopping", "30",
         "--monitor-every", "100", "--monitor-subset", "20",
         "--lmbda-per-example", "0.001", "--metrics-out", str(metrics), "--progress", "off"],
        capsys)
    assert code == 0, err
    doc = json.loads(metrics.read_text())
    etas = [e["eta"] for e in doc["epochs"]]
    assert etas[0] == 1.0 and etas[-1] >= 1.0 / 64
    assert all(b in (a, a / 2) for a, b in zip(etas, etas[1:]))
    assert doc["stop_reason"].startswith("learning-rate schedule: eta reached 0.0078125")
    accs = [e["evaluation_accuracy"] for e in doc["epochs"]]
    assert doc["best_epoch"] == int(np.argmax(accs))
    assert doc["best_evaluation_accuracy"] == max(accs)
    assert doc["config"]["lmbda"] == pytest.approx(0.001 * 250)
    pts = doc["monitor_points"]
    assert [p["images_seen"] for p in pts[:3]] == [100, 200, 300]
    assert all(p["accuracy"] * 20 == round(p["accuracy"] * 20) for p in pts)
    assert "stopped: learning-rate schedule" in out
    assert f"weights: epoch {doc['best_epoch'] + 1}, the best valid" in out   # early stopping's
    assert "eta 0.5" in out


def test_cli_early_stopping_keeps_the_best_epochs_network(idx_dir, tmp_path, capsys):  # noqa: F811
    metrics, model = tmp_path / "m.json", tmp_path / "net.json"
    code, out, err = run_cli(
        ["train", "--dataset", f"idx:{idx_dir}", "--validation-size", "50", "--sizes", "64,10,4",
         "--epochs", "30", "--eta", "3.0", "--seed", "1", "--early-stopping", "2",
         "--metrics-out", str(metrics), "--save", str(model)], capsys)
    assert code == 0, err
    doc = json.loads(metrics.read_text())
    accs = [e["evaluation_accuracy"] for e in doc["epochs"]]
    assert doc["stop_reason"] == "early stopping: no improvement in 2 epochs"
    assert len(accs) == doc["best_epoch"] + 3 and max(accs) == accs[doc["best_epoch"]]
    code, out, err = run_cli(["evaluate", str(model), "--dataset", f"idx:{idx_dir}",
                              "--validation-size", "50", "--on", "validation"], capsys)
    assert f"validation accuracy: {max(accs):.2%}" in out


def test_cli_digits_and_output_types(idx_dir, tmp_path, capsys):  # noqa: F811
    metrics = tmp_path / "m.json"
    code, out, err = run_cli(
        ["train", "--dataset", f"idx:{idx_dir}", "--validation-size", "50", "--digits", "3,1",
         "--sizes", "64,10,2", "--output", "softmax", "--activation", "relu", "--eta", "0.1",
         "--epochs", "3", "--seed", "0", "--metrics-out", str(metrics)], capsys)
    assert code == 0, err
    doc = json.loads(metrics.read_text())
    assert doc["config"]["cost"] == "log-likelihood" and doc["config"]["digits"] == [3, 1]
    assert doc["config"]["train_size"] < 250          # only the 1s and 3s
    assert doc["test_accuracy"] > 0.9
    code, out, err = run_cli(
        ["train", "--dataset", f"idx:{idx_dir}", "--validation-size", "50", "--sizes", "64,10,4",
         "--output", "linear", "--activation", "tanh", "--eta", "0.05", "--epochs", "2",
         "--metrics-out", str(metrics)], capsys)
    assert code == 0, err
    assert json.loads(metrics.read_text())["config"]["cost"] == "quadratic"


@pytest.mark.parametrize("args, message", [
    (["--momentum", "1"], "nothing damps"),
    (["--nesterov"], "needs a momentum"),
    (["--dropout", "1"], "must be in [0, 1)"),
    (["--input-dropout", "-0.1"], "must be in [0, 1)"),
    (["--max-norm", "0"], "must be > 0"),
    (["--lr-schedule", "quarter"], "expected halve"),
    (["--lr-schedule", "step:0:0.5"], "expected halve"),
    (["--early-stopping", "0"], "must be >= 1"),
    (["--early-stopping-gain", "5"], "WINDOW:GAIN"),
    (["--output", "linear", "--cost", "cross-entropy"], "cross-entropy needs sigmoid outputs"),
    (["--output", "sigmoid", "--cost", "log-likelihood"], "needs a softmax output"),
    (["--activation", "softmax"], "invalid choice"),
    (["--early-stopping", "3", "--evaluate-on", "test"], "leak the test set"),
    (["--lmbda", "1", "--lmbda-per-example", "0.1"], "not allowed with"),
    (["--digits", "1"], "at least 2"),
    (["--digits", "1,2", "--sizes", "64,10,4"], "chooses 2 classes"),
    (["--monitor-every", "0"], "must be >= 1"),
])
def test_bad_technique_flags_are_one_line_and_exit_2(idx_dir, args, message, capsys):  # noqa: F811
    code, out, err = run_cli(["train", "--dataset", f"idx:{idx_dir}", "--validation-size", "50",
                              "--epochs", "1"] + args, capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("nndl: error: ")
    assert message in err


def book_data(n, rng):
    """Book-style lists: (x column, one-hot y column) and (x column, label)."""
    labels = rng.integers(0, 3, n)
    xs = [(np.eye(3)[l] + 0.1 * rng.normal(size=3)).reshape(3, 1) for l in labels]
    return ([(x, np.eye(3)[l].reshape(3, 1)) for x, l in zip(xs, labels)],
            [(x, int(l)) for x, l in zip(xs, labels)])


def test_network2_sgd_takes_the_techniques_as_keywords(capsys):
    import network2
    rng = np.random.default_rng(0)
    training, _ = book_data(90, rng)
    _, validation = book_data(30, rng)
    net = network2.Network([3, 8, 3], cost=network2.CrossEntropyCost, seed=0, hidden="tanh")
    ev_cost, ev_acc, tr_cost, tr_acc = net.SGD(
        training, 60, 10, 0.5, lmbda=0.1, evaluation_data=validation,
        monitor_evaluation_accuracy=True, momentum=0.9, nesterov=True, dropout=0.3,
        max_norm=4.0, early_stopping_n=3, lr_schedule=2)
    assert len(ev_acc) == len(net.last_run["etas"]) < 60
    assert net.last_run["stop_reason"].startswith(("early stopping", "learning-rate"))
    assert max(ev_acc) == ev_acc[net.last_run["best_epoch"]] >= 27
    assert net.accuracy(validation) == max(ev_acc)       # best weights restored
    assert "Epoch 0 training complete" in capsys.readouterr().out
