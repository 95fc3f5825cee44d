"""Input validation at the API and command-line boundary: each bad value gets
a specific NNDLError that names it (one line and exit 2 from the CLI)."""

import math
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from nndl import ConfigError, DataError, Network
from nndl.cli import main
from nndl.data import Dataset
from nndl.optimizers import SGD
from nndl.persistence import save
from nndl.regularization import L1, L2, make_regularization
from nndl.training import train


@pytest.mark.parametrize("sizes, message", [
    ([784], "at least 2 layers"),
    ([784, 0], r"positive integers, got \[784, 0\]"),
    ([784, 2.5], r"got \[784, 2.5\]"),
    ([784, True], "positive integers"),
    (7, "list of layer sizes, got 7"),
    ([100_000, 100_000, 100_000], "more than the limit"),
])
def test_layer_sizes(sizes, message):
    with pytest.raises(ConfigError, match=message):
        Network(sizes)


@pytest.mark.parametrize("make, message", [
    (lambda: SGD(0), "eta must be a finite number > 0, got 0"),
    (lambda: SGD(-0.5), "got -0.5"),
    (lambda: SGD(math.nan), "got nan"),
    (lambda: SGD(math.inf), "got inf"),
    (lambda: SGD("0.5"), "got '0.5'"),
    (lambda: L2(-1), "lmbda must be a finite number >= 0, got -1"),
    (lambda: L1(math.nan), "got nan"),
    (lambda: make_regularization("l2", "5"), "got '5'"),
])
def test_hyper_parameters(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_training_arguments_and_data_shapes(tiny_data):
    net = Network([4, 5, 3], seed=0)
    with pytest.raises(ConfigError, match="mini-batch size must be an integer >= 1, got 0"):
        train(net, tiny_data, 1, 0, SGD(1.0))
    with pytest.raises(ConfigError, match="got 2.5"):
        train(net, tiny_data, 1, 2.5, SGD(1.0))
    with pytest.raises(ConfigError, match="epochs must be an integer >= 0, got -1"):
        train(net, tiny_data, -1, 10, SGD(1.0))
    with pytest.raises(ConfigError, match=r"start_epoch must be an integer in \[0, 2\], got 3"):
        train(net, tiny_data, 2, 10, SGD(1.0), start_epoch=3)
    with pytest.raises(DataError, match="have 4 values each, but the network's input layer has 5"):
        train(Network([5, 3]), tiny_data, 1, 10, SGD(1.0))
    with pytest.raises(DataError, match="labels run up to 2, but the network's output layer has only 2"):
        train(Network([4, 2]), tiny_data, 1, 10, SGD(1.0))
    with pytest.raises(DataError, match="3 images but 2 labels"):
        Dataset(np.zeros((3, 4)), np.zeros(2, dtype=int))


def test_evaluation_checks_labels_against_the_network(tiny_data):
    net = Network([4, 5, 3], seed=0)
    x = tiny_data.images
    with pytest.raises(DataError, match=r"60 inputs but labels of shape \(59,\)"):
        net.accuracy(x, tiny_data.labels[:59])
    with pytest.raises(DataError, match="label 7 is out of range for 3 output neurons"):
        net.total_cost(x[:2], np.array([0, 7]))
    with pytest.raises(DataError, match="label -1 is out of range"):
        net.accuracy(x[:2], np.array([-1, 0]))
    with pytest.raises(DataError, match="labels must be integers"):
        net.accuracy(x[:2], np.array([0.0, 1.0]))
    with pytest.raises(DataError, match=r"inputs have shape \(2, 3\), the network expects 4"):
        net.feedforward(x[:2, :3])


def test_cli_absurd_sizes(capsys):
    assert main(["train", "--sizes", "784,100000000,10"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "more than the limit" in err


def _png_claiming(path, width, height):
    """A small real PNG whose header is rewritten to claim width x height."""
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(path)
    data = bytearray(path.read_bytes())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))


def test_predict_reports_each_bad_image_on_one_line_and_goes_on(tmp_path, capsys):
    model = tmp_path / "m.json"
    save(Network([784, 10, 10], seed=0), model)
    good = np.full((40, 30), 255, np.uint8)
    good[5:35, 13:17] = 0
    Image.fromarray(good).save(tmp_path / "good.png")
    _png_claiming(tmp_path / "bomb.png", 100_000, 100_000)
    (tmp_path / "text.png").write_text("not an image")
    code = main(["predict", str(model), str(tmp_path / "bomb.png"), str(tmp_path / "good.png"),
                 str(tmp_path / "text.png"), str(tmp_path / "missing.png")])
    out, err = capsys.readouterr()
    assert code == 2
    assert out.startswith(f"{tmp_path / 'good.png'}: ") and out.count("\n") == 1
    lines = err.splitlines()
    assert len(lines) == 3 and all(line.startswith("nndl: error: ") for line in lines)
    assert "bomb.png: image" in lines[0] and "100000" in lines[0]
    assert "text.png: not an image file" in lines[1]
    assert "missing.png: cannot read image" in lines[2]


def test_predict_refuses_a_model_for_other_image_sizes(tmp_path, capsys):
    save(Network([64, 10], seed=0), tmp_path / "m.json")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "x.png")
    assert main(["predict", str(tmp_path / "m.json"), str(tmp_path / "x.png")]) == 2
    assert "expects 64 inputs, not 28x28 images" in capsys.readouterr().err
