"""Model files: round trips, the book's format, and precise errors."""

import json

import numpy as np
import pytest

import network2
from nndl import ModelFileError, Network
from nndl.persistence import load, save


def test_round_trip_keeps_everything(tmp_path):
    net = Network([6, 5, 4, 3], cost="log-likelihood", hidden=["tanh", "relu"], seed=1)
    path = tmp_path / "m.json"
    save(net, path)
    back = load(path)
    assert back.sizes == net.sizes and back.cost is net.cost
    assert [a.name for a in back.activations] == ["tanh", "relu", "softmax"]
    assert back.dtype == np.float32
    for a, b in zip(net.weights + net.biases, back.weights + back.biases):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(0).random((3, 6))
    np.testing.assert_array_equal(net.feedforward(x), back.feedforward(x))
    assert json.loads(path.read_text())["version"] == 1


def test_loads_file_written_by_the_books_network2_save(tmp_path):
    """The exact JSON network2.py's save writes: sizes, weights, biases, cost."""
    rng = np.random.default_rng(0)
    sizes = [4, 3, 2]
    weights = [rng.normal(size=(3, 4)), rng.normal(size=(2, 3))]
    biases = [rng.normal(size=(3, 1)), rng.normal(size=(2, 1))]
    path = tmp_path / "book.json"
    path.write_text(json.dumps({"sizes": sizes, "weights": [w.tolist() for w in weights],
                                "biases": [b.tolist() for b in biases],
                                "cost": "CrossEntropyCost"}))
    net = network2.load(str(path))
    assert isinstance(net, network2.Network) and net.dtype == np.float64
    assert net.cost is network2.CrossEntropyCost
    np.testing.assert_array_equal(net.weights[1], weights[1])
    x = rng.random((4, 1))
    a = x
    for w, b in zip(weights, biases):
        a = 1 / (1 + np.exp(-(w @ a + b)))
    np.testing.assert_allclose(net.feedforward(x), a, rtol=1e-12)


def test_network2_save_and_load(tmp_path):
    net = network2.Network([5, 4, 3], seed=0)
    net.save(str(tmp_path / "n.json"))
    back = network2.load(str(tmp_path / "n.json"))
    np.testing.assert_array_equal(back.weights[0], net.weights[0])


GOOD = {"sizes": [2, 1], "weights": [[[0.5, -0.5]]], "biases": [[[0.1]]], "cost": "QuadraticCost"}


@pytest.mark.parametrize("change, message", [
    ({"sizes": [2]}, "'sizes' must be"),
    ({"sizes": "2,1"}, "'sizes' must be"),
    ({"sizes": [2, -1]}, "'sizes' must be"),
    ({"sizes": [100000, 100000, 100000]}, "too many"),
    ({"cost": "HingeCost"}, "unknown cost"),
    ({"weights": [[[0.5, -0.5, 1.0]]]}, r"weights\[0\] has shape \(1, 3\), expected \(1, 2\)"),
    ({"weights": [[[0.5, "x"]]]}, r"weights\[0\] is not a rectangular array of numbers"),
    ({"weights": [[[0.5], [1.0, 2.0]]]}, r"weights\[0\] is not a rectangular"),
    ({"weights": [[[float("nan"), 1.0]]]}, "NaN or infinite"),
    ({"biases": []}, "'biases' must be a list of 1 arrays"),
    ({"activations": ["softmax"]}, "log-likelihood|cross-entropy|quadratic"),
    ({"activations": ["gelu"]}, "'activations' must list"),
    ({"format": "other", "version": 1}, "'format'"),
    ({"format": "nndl-network", "version": 99}, "unsupported format version 99"),
])
def test_malformed_model_files_name_the_problem(tmp_path, change, message):
    doc = dict(GOOD, **change)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match=message):
        load(path)


@pytest.mark.parametrize("text, message", [
    ("", "not a JSON model file"),
    ("[1, 2]", "expected a JSON object"),
    ('{"sizes": [2, 1]}', "missing key 'weights'"),
    ("{" * 100000, "not a JSON model file"),
])
def test_non_model_files(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ModelFileError, match=message):
        load(path)


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="cannot read model file"):
        load(tmp_path / "nope.json")


def test_save_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "m.json"
    net = Network([3, 2], seed=0)
    save(net, path)
    before = path.read_text()

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")
    import nndl.persistence as p
    monkeypatch.setattr(p.os, "fsync", broken_fsync)   # fails after the data is written
    with pytest.raises(OSError):
        save(Network([3, 2], seed=1), path)
    assert path.read_text() == before
    assert [f.name for f in tmp_path.iterdir()] == ["m.json"]
