"""``--average-from``: the run ends with the mean of the weights of its last
epochs (``callbacks.WeightAveraging``)."""

import json

import numpy as np
import pytest

from nndl.callbacks import WeightAveraging
from nndl.cli import main
from nndl.errors import ConfigError
from nndl.persistence import load
from nndl.run import RunConfig, build
from test_cli import idx_dir  # noqa: F401  (a fixture)


def flags(idx_dir, *more):
    return ["train", "--dataset", f"idx:{idx_dir}", "--validation-size", "50", "--sizes",
            "64,10,4", "--epochs", "6", "--eta", "0.5", "--seed", "3", "--momentum", "0.5",
            "--progress", "off", *more]


class Snapshots:
    """Copies of the weights and biases at the end of every epoch."""

    def __init__(self):
        self.params = []

    def on_epoch_end(self, state):
        self.params.append([p.astype(float) for p in
                            state.network.weights + state.network.biases])


def test_the_network_ends_with_the_mean_of_the_chosen_epochs_weights(idx_dir):
    config = RunConfig(dataset=f"idx:{idx_dir}", validation_size=50, sizes=(64, 10, 4),
                       epochs=6, eta=0.5, momentum=0.5, seed=3, progress="off",
                       average_from=4)
    run, snapshots = build(config), Snapshots()
    state = run.train([snapshots])
    layers = len(run.network.weights)
    expected = [np.mean([epoch[i] for epoch in snapshots.params[3:]], axis=0)
                for i in range(2 * layers)]
    got = run.network.weights + run.network.biases
    for e, g in zip(expected, got):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-7)
    # not simply the last epoch's weights
    assert not np.allclose(got[0], snapshots.params[-1][0])
    averaging = next(cb for cb in run.steering if isinstance(cb, WeightAveraging))
    data = run.evaluation
    from nndl.network import count_correct
    assert averaging.evaluation_accuracy == count_correct(run.network, data.images,
                                                          data.labels) / len(data)
    from nndl.run import run_summary
    assert run_summary(run, state)["weights_averaged"] == {
        "from_epoch": 4, "epochs": 3, "evaluation_accuracy": averaging.evaluation_accuracy}


def test_the_cli_saves_the_averaged_model_and_says_which_epochs(idx_dir, tmp_path, capsys):
    model, metrics = tmp_path / "m.json", tmp_path / "metrics.json"
    code = main(flags(idx_dir, "--average-from", "3", "--save", str(model),
                      "--metrics-out", str(metrics)))
    out = capsys.readouterr().out
    assert code == 0
    assert "weights: the mean of epochs 3-6 (validation accuracy" in out
    doc = json.loads(metrics.read_text())
    assert doc["weights_averaged"]["from_epoch"] == 3 and doc["weights_averaged"]["epochs"] == 4
    assert doc["config"]["average_from"] == 3
    # the saved model is the averaged one: its test accuracy is the one printed
    net = load(model)
    line = next(l for l in out.splitlines() if l.startswith("test accuracy"))
    assert f"{doc['test_accuracy']:.2%}" in line
    assert net.sizes == [64, 10, 4]


@pytest.mark.parametrize("more, message", [
    (["--average-from", "2", "--early-stopping", "3"], "both choose the final weights"),
    (["--average-from", "0"], "average"),
])
def test_bad_averaging_options_are_one_line_and_exit_2(idx_dir, capsys, more, message):
    code = main(flags(idx_dir, *more))
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_run_shorter_than_the_averaging_start_keeps_its_last_weights_and_says_so(
        idx_dir, tmp_path, capsys):
    # e.g. a preset's average-from with a smaller --epochs on the command line
    metrics = tmp_path / "metrics.json"
    code = main(flags(idx_dir, "--average-from", "9", "--metrics-out", str(metrics)))
    out = capsys.readouterr().out
    assert code == 0
    assert "weights: epoch 6, the last" in out
    assert "not averaged: the run ended before epoch 9 (--average-from)" in out
    assert json.loads(metrics.read_text())["weights_averaged"] == {
        "from_epoch": 9, "epochs": 0, "evaluation_accuracy": None}


def test_a_run_stopped_before_the_first_averaged_epoch_keeps_its_last_weights(idx_dir):
    config = RunConfig(dataset=f"idx:{idx_dir}", validation_size=50, sizes=(64, 10, 4),
                       epochs=6, eta=0.5, seed=3, progress="off", average_from=5)

    class StopAfterTwo:
        def on_epoch_end(self, state):
            if state.epoch == 1:
                state.stop = "test stop"

    run, snapshots = build(config), Snapshots()
    run.train([snapshots, StopAfterTwo()])
    assert len(snapshots.params) == 2
    np.testing.assert_array_equal(run.network.weights[0], snapshots.params[-1][0])


def test_averaging_resumes_bit_for_bit_from_a_checkpoint(idx_dir, tmp_path):
    def train(directory, epochs=6, resume=False):
        config = RunConfig(dataset=f"idx:{idx_dir}", validation_size=50, sizes=(64, 10, 4),
                           epochs=epochs, eta=0.5, momentum=0.5, seed=3, progress="off",
                           average_from=2, **({"resume": str(directory)} if resume
                                              else {"checkpoint": str(directory)}))
        run = build(config)
        run.train()
        return run.network

    whole = train(tmp_path / "whole")
    train(tmp_path / "ck", epochs=4)          # the first four epochs, then --epochs grows
    resumed = train(tmp_path / "ck", resume=True)
    for a, b in zip(whole.weights + whole.biases, resumed.weights + resumed.biases):
        np.testing.assert_array_equal(a, b)


def test_the_state_round_trips():
    a = WeightAveraging(3)
    a.count, a.means = 2, [np.arange(4.0)]
    b = WeightAveraging(1)
    b.load_state_dict(a.state_dict())
    assert (b.start, b.count) == (3, 2)
    np.testing.assert_array_equal(b.means[0], a.means[0])
    with pytest.raises(ConfigError):
        WeightAveraging(0)


def test_averaging_from_the_last_epoch_leaves_its_weights_exactly(idx_dir):
    # so `--average-from EPOCHS` repeats a run made before a preset averaged
    config = RunConfig(dataset=f"idx:{idx_dir}", validation_size=50, sizes=(64, 10, 4),
                       epochs=4, eta=0.5, momentum=0.5, seed=3, progress="off", average_from=4)
    run, snapshots = build(config), Snapshots()
    run.train([snapshots])
    plain = build(config.replace(average_from=None))
    plain.train()
    for a, b in zip(run.network.weights + run.network.biases,
                    plain.network.weights + plain.network.biases):
        np.testing.assert_array_equal(a, b)
