"""Committees (nndl.committee): combining networks by the mean of their output
probabilities, `nndl evaluate`/`predict` with several models, and
`nndl train --members N --out DIR`, which trains the members one after
another and does not train a finished member again."""

import json

import numpy as np
import pytest
from PIL import Image

from nndl import committee as C
from nndl.cli import main
from nndl.data import Dataset
from nndl.errors import ConfigError
from nndl.network import Network
from nndl.optimizers import SGD
from nndl.persistence import save
from nndl.run import RunConfig, build
from nndl.training import train
from reliability_helpers import make_idx_dir


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def digits():
    """scikit-learn's 8x8 digits, scaled to [0, 1]: (training, held-out)."""
    from sklearn.datasets import load_digits
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    return Dataset(x[:1200], y[:1200]), Dataset(x[1200:], y[1200:])


@pytest.fixture(scope="module")
def trio(digits):
    """Three [64, 20, 10] softmax networks from seeds 0, 1, 2, one epoch each."""
    training, _ = digits
    nets = []
    for seed in range(3):
        net = Network([64, 20, 10], cost="log-likelihood", output="softmax", seed=seed)
        train(net, training, 1, 10, SGD(0.1), engine="reference")
        nets.append(net)
    return nets


# ---------------------------------------------------------------- combining
def test_combine_is_the_mean_of_the_probabilities_and_not_a_vote():
    outputs = [[[0.9, 0.1], [0.2, 0.8]],
               [[0.45, 0.55], [0.3, 0.7]],
               [[0.45, 0.55], [0.6, 0.4]]]
    mean = C.combine(outputs)
    np.testing.assert_allclose(mean, [[0.6, 0.4], [1.1 / 3, 1.9 / 3]], rtol=1e-15)
    # two of three members say class 1 for the first row, but the sure one wins
    assert list(mean.argmax(axis=1)) == [0, 1]


def test_a_committee_is_the_mean_of_its_members_outputs_and_its_argmax(trio, digits):
    _, held_out = digits
    committee = C.Committee(trio)
    x = held_out.images
    by_hand = sum(np.asarray(n.feedforward(x), dtype=np.float64) for n in trio) / 3
    np.testing.assert_allclose(committee.feedforward(x), by_hand, rtol=1e-12)
    assert np.array_equal(committee.predict(x), by_hand.argmax(axis=1))
    assert committee.accuracy(x, held_out.labels) == \
        int(np.sum(by_hand.argmax(axis=1) == held_out.labels))
    members, by_size = committee.accuracies(x, held_out.labels)
    assert members == [n.accuracy(x, held_out.labels) for n in trio]
    assert by_size[0] == members[0] and by_size[-1] == committee.accuracy(x, held_out.labels)
    pair = (np.asarray(trio[0].feedforward(x), np.float64)
            + np.asarray(trio[1].feedforward(x), np.float64)) / 2
    assert by_size[1] == int(np.sum(pair.argmax(axis=1) == held_out.labels))
    # the members do differ, so the test above is not of one network three times
    assert not np.array_equal(trio[0].feedforward(x), trio[1].feedforward(x))


def test_a_committee_of_copies_of_one_network_is_that_network(trio, digits):
    x = digits[1].images
    net = trio[0]
    committee = C.Committee([net, net, net])
    np.testing.assert_array_equal(committee.feedforward(x),
                                  np.asarray(net.feedforward(x), dtype=np.float64))
    assert np.array_equal(committee.predict(x), net.predict(x))


def test_sigmoid_outputs_are_averaged_as_activations():
    a, b = Network([4, 3, 2], seed=0), Network([4, 3, 2], seed=1)
    x = np.random.default_rng(0).random((5, 4)).astype(np.float32)
    np.testing.assert_allclose(C.Committee([a, b]).feedforward(x),
                               (a.feedforward(x).astype(np.float64)
                                + b.feedforward(x).astype(np.float64)) / 2, rtol=1e-12)


@pytest.mark.parametrize("other", [
    Network([65, 20, 10], cost="log-likelihood", output="softmax", seed=0),     # inputs
    Network([64, 20, 9], cost="log-likelihood", output="softmax", seed=0),      # classes
    Network([64, 20, 10], seed=0),                                              # sigmoid
])
def test_members_that_do_not_fit_together_are_refused(trio, other):
    with pytest.raises(ConfigError, match="same input size, output layer and classes"):
        C.Committee([trio[0], other])


def test_members_with_other_classes_are_refused():
    a, b = Network([4, 3, 2], seed=0), Network([4, 3, 2], seed=1)
    a.classes, b.classes = [3, 7], [1, 7]
    with pytest.raises(ConfigError, match="classes 1,7"):
        C.Committee([a, b])


# ---------------------------------------------------------- evaluate, predict
@pytest.fixture
def idx(tmp_path):
    return make_idx_dir(tmp_path / "idx")


def saved(tmp_path, nets):
    paths = []
    for k, net in enumerate(nets):
        paths.append(tmp_path / f"m{k}.json")
        save(net, paths[-1])
    return paths


def test_evaluate_several_models_prints_each_and_the_committee(tmp_path, idx, capsys):
    nets = [Network([64, 10, 4], seed=s) for s in range(3)]
    paths = saved(tmp_path, nets)
    code, out, err = run_cli(["evaluate", *paths, "--dataset", f"idx:{idx}",
                              "--validation-size", "50"], capsys)
    assert code == 0, err
    lines = out.splitlines()
    from nndl.data import load_dataset
    test = load_dataset(f"idx:{idx}", validation_size=50).test
    for path, net, line in zip(paths, nets, lines):
        n = net.accuracy(test.images, test.labels)
        assert line == f"{path}: test accuracy {n / len(test):.2%} ({n} / {len(test)})"
    n = C.Committee(nets).accuracy(test.images, test.labels)
    assert lines[3] == (f"committee of 3 (mean of output probabilities): test accuracy: "
                        f"{n / len(test):.2%} ({n} / {len(test)})")
    assert len(lines) == 4
    # one model: the one-model printout, unchanged
    code, out, err = run_cli(["evaluate", paths[0], "--dataset", f"idx:{idx}",
                              "--validation-size", "50"], capsys)
    assert code == 0 and out.startswith("test accuracy: ") and "test cost: " in out


def test_mismatched_models_are_one_line_and_exit_2_before_any_data(tmp_path, capsys):
    paths = saved(tmp_path, [Network([64, 10, 4], seed=0), Network([64, 10, 5], seed=0)])
    code, out, err = run_cli(["evaluate", *paths, "--dataset", tmp_path / "missing.pkl.gz"],
                             capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("nndl: error: ") and "same input size" in err
    image = tmp_path / "digit.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(image)
    code, out, err = run_cli(["predict", *paths, image], capsys)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "same input size" in err


def test_predict_with_several_models_prints_the_committees_probabilities(tmp_path, capsys):
    nets = [Network([784, 10, 10], cost="log-likelihood", output="softmax", seed=s)
            for s in range(2)]
    paths = saved(tmp_path, nets)
    image = tmp_path / "digit.png"
    pixels = np.zeros((28, 28), np.uint8)
    pixels[6:22, 12:16] = 255
    Image.fromarray(pixels).save(image)
    code, out, err = run_cli(["predict", *paths, image, "--show", tmp_path / "seen.png"],
                             capsys)
    assert code == 0, err
    from nndl.images import load_digit
    x = load_digit(str(image))[None, :]
    probs = C.Committee(nets).feedforward(x)[0]
    listing = " ".join(f"{d}:{p:.2f}" for d, p in enumerate(probs))
    assert out == f"{image}: {int(probs.argmax())}  ({listing})\n"


# --------------------------------------------------------- committee training
def committee_args(idx, out, *extra):
    return ["train", "--dataset", f"idx:{idx}", "--validation-size", "50", "--sizes", "64,10,4",
            "--epochs", "1", "--eta", "1.0", "--seed", "5", "--progress", "off",
            "--out", out, *extra]


def test_one_command_trains_a_committee_and_writes_its_metrics(tmp_path, idx, capsys):
    out_dir = tmp_path / "c"
    code, out, err = run_cli(committee_args(idx, out_dir, "--members", "3"), capsys)
    assert code == 0, err
    doc = json.loads((out_dir / "committee.json").read_text())
    assert {"test_accuracy", "total_seconds", "combine", "members",
            "validation_accuracy_by_size"} <= set(doc)
    assert doc["combine"] == "mean of output probabilities"
    assert doc["seeds"] == [5, 6, 7]
    assert len(doc["members"]) == 3
    for k, member in enumerate(doc["members"], 1):
        on_disk = json.loads((out_dir / f"member-{k}" / "metrics.json").read_text())
        assert member == on_disk
        assert member["config"]["seed"] == 4 + k
        assert member["committee_member"]["member"] == k
        assert (out_dir / f"member-{k}" / "model.json").is_file()
    assert doc["total_seconds"] == pytest.approx(
        sum(m["total_seconds"] for m in doc["members"]) + doc["evaluation_seconds"])
    # the committee's accuracies are those of the saved models, combined
    from nndl.data import load_dataset
    splits = load_dataset(f"idx:{idx}", validation_size=50)
    committee = C.load_committee([out_dir / f"member-{k}" / "model.json" for k in (1, 2, 3)])
    _, by_size = committee.accuracies(splits.validation.images, splits.validation.labels)
    assert doc["validation_accuracy_by_size"] == [n / len(splits.validation) for n in by_size]
    assert doc["test_accuracy"] == \
        committee.accuracy(splits.test.images, splits.test.labels) / len(splits.test)
    assert "committee validation accuracy by size: 1:" in out
    assert out.count("member ") >= 3 and "trained already" not in out


def test_running_it_again_trains_only_the_members_not_yet_finished(tmp_path, idx, capsys,
                                                                   monkeypatch):
    out_dir = tmp_path / "c"
    assert run_cli(committee_args(idx, out_dir, "--members", "2"), capsys)[0] == 0
    models = {k: (out_dir / f"member-{k}" / "model.json").read_bytes() for k in (1, 2)}
    trained = []
    real = C.train_member

    def spy(config, *args, **kwargs):
        trained.append(config.seed)
        return real(config, *args, **kwargs)
    monkeypatch.setattr(C, "train_member", spy)
    code, out, err = run_cli(committee_args(idx, out_dir, "--members", "3"), capsys)
    assert code == 0, err
    assert trained == [7]                              # member 3 only (seed 5 + 2)
    assert out.count("trained already") == 2
    assert {k: (out_dir / f"member-{k}" / "model.json").read_bytes() for k in (1, 2)} == models
    doc = json.loads((out_dir / "committee.json").read_text())
    assert len(doc["members"]) == 3 and len(doc["validation_accuracy_by_size"]) == 3
    trained.clear()
    assert run_cli(committee_args(idx, out_dir, "--members", "3"), capsys)[0] == 0
    assert trained == []


def test_without_a_seed_a_rerun_takes_the_first_members(tmp_path, idx, capsys, monkeypatch):
    out_dir = tmp_path / "c"
    args = [a for a in committee_args(idx, out_dir, "--members", "2") if a not in ("--seed", "5")]
    code, out, err = run_cli(args, capsys)
    assert code == 0 and "(drawn; --seed " in out
    monkeypatch.setattr(C, "train_member", lambda *a, **k: pytest.fail("trained again"))
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    assert "(the first member's; --seed " in out and out.count("trained already") == 2


def one_line_error(code, err, *words):
    assert code == 2 and err.startswith("nndl: error: ") and len(err.strip().splitlines()) == 1
    for word in words:
        assert word in err


def test_a_member_with_other_settings_or_unrelated_files_is_never_replaced(tmp_path, idx,
                                                                          capsys):
    out_dir = tmp_path / "c"
    assert run_cli(committee_args(idx, out_dir, "--members", "1"), capsys)[0] == 0
    before = (out_dir / "member-1" / "model.json").read_bytes()
    code, out, err = run_cli(committee_args(idx, out_dir, "--members", "1", "--eta", "0.5"),
                             capsys)
    one_line_error(code, err, "other settings", "--eta 1.0 (now 0.5)")
    assert (out_dir / "member-1" / "model.json").read_bytes() == before
    (out_dir / "member-2").mkdir()
    (out_dir / "member-2" / "model.json").write_text("mine")
    code, out, err = run_cli(committee_args(idx, out_dir, "--members", "2"), capsys)
    one_line_error(code, err, "without metrics.json")
    assert (out_dir / "member-2" / "model.json").read_text() == "mine"
    other = tmp_path / "other"
    other.mkdir()
    (other / "committee.json").write_text('{"mine": 1}')
    code, out, err = run_cli(committee_args(idx, other, "--members", "1"), capsys)
    one_line_error(code, err, "not a committee's metrics file")
    assert not (other / "member-1").exists()


@pytest.mark.parametrize("extra, words", [
    (["--members", "2", "--save", "m.json"], ["--save does not apply to a committee"]),
    (["--members", "101"], ["--members"]),
    (["--members", "0"], ["--members"]),
])
def test_bad_committee_options_are_one_line(tmp_path, idx, capsys, extra, words):
    code, out, err = run_cli(committee_args(idx, tmp_path / "c", *extra), capsys)
    one_line_error(code, err, *words)
    assert not (tmp_path / "c").exists()


def test_members_without_out_is_one_line(idx, capsys):
    code, out, err = run_cli(["train", "--dataset", f"idx:{idx}", "--members", "3"], capsys)
    one_line_error(code, err, "give --out DIR")


def test_a_single_run_refuses_committee_options():
    with pytest.raises(ConfigError, match="committee"):
        build(RunConfig(members=3, out="c"))


def test_the_committee_preset_is_the_best_network_five_times():
    from nndl.options import read_preset, settings_from
    config = RunConfig(**settings_from(read_preset("best-committee"), "preset"))
    best = RunConfig(**settings_from(read_preset("best"), "preset"))
    assert config.members == 5 and config.sizes == best.sizes and config.expand == best.expand
    assert config.members * config.time_limit < 60      # the committee's 60 minutes


def test_an_interrupted_committee_keeps_its_finished_members(tmp_path, idx, capsys,
                                                            monkeypatch):
    out_dir = tmp_path / "c"
    real = C.train_member

    def interrupted(config, *args, **kwargs):
        if config.seed == 6:                        # member 2
            raise KeyboardInterrupt
        return real(config, *args, **kwargs)
    monkeypatch.setattr(C, "train_member", interrupted)
    code, out, err = run_cli(committee_args(idx, out_dir, "--members", "3"), capsys)
    assert code == 130
    assert "member 2 was not finished; member 1 is saved in" in err
    assert "the same command trains the rest" in err
    assert (out_dir / "member-1" / "metrics.json").is_file()
    assert not (out_dir / "committee.json").exists()
    monkeypatch.setattr(C, "train_member", real)
    code, out, err = run_cli(committee_args(idx, out_dir, "--members", "3"), capsys)
    assert code == 0 and out.count("trained already") == 1
