"""The nndl command: training runs, metrics, and one-line errors with exit 2."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from nndl.cli import main
from reliability_helpers import make_idx_dir


@pytest.fixture
def idx_dir(tmp_path):
    """A tiny MNIST-format dataset: 300 training and 60 test 'images' of 8x8
    where the label is which quarter of the image is bright."""
    return make_idx_dir(tmp_path / "idx")


def run_cli(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_train_on_idx_dataset_writes_model_and_metrics(idx_dir, tmp_path, capsys):
    model, metrics = tmp_path / "m.json", tmp_path / "metrics.json"
    code, out, err = run_cli(["train", "--dataset", f"idx:{idx_dir}", "--validation-size", "50", "--sizes", "64,10,4",
                              "--epochs", "5", "--eta", "1.0", "--lmbda", "0.1", "--seed", "3",
                              "--evaluate-on", "test", "--save", str(model),
                              "--metrics-out", str(metrics),
                              "--monitor", "training-cost,training-accuracy,evaluation-accuracy"],
                             capsys)
    assert code == 0, err
    # the first run in a process without Numba's cache also announces the compilation
    lines = [line for line in out.splitlines() if not line.startswith("compiling the ")]
    assert lines[0] == "each epoch: cost+L2 and accuracy on the train(ing) and test data"
    assert lines[2].startswith("epoch 1/5  train ") and "%  test " in lines[2]
    assert lines[7] == "weights: epoch 5, the last"
    assert lines[8].startswith("test accuracy: ")
    doc = json.loads(metrics.read_text())
    assert set(doc) == {"config", "engine", "epochs", "test_accuracy", "stop_reason",
                        "best_epoch", "best_evaluation_accuracy", "weights_epoch",
                        "weights_restored"}
    assert doc["weights_epoch"] == 5 and doc["weights_restored"] is False
    assert doc["stop_reason"] is None and doc["best_epoch"] is None   # evaluated on test
    assert doc["engine"]["name"] == "numba" and "engine: numba (compiled kernel, sparse inputs)" in lines
    assert doc["config"]["seed"] == 3 and doc["config"]["sizes"] == [64, 10, 4]
    assert doc["config"]["numpy_version"] == np.__version__
    assert [e["epoch"] for e in doc["epochs"]] == [0, 1, 2, 3, 4]
    for e in doc["epochs"]:
        assert set(e) == {"epoch", "train_seconds", "wall_seconds", "eta", "training_cost",
                          "training_accuracy", "evaluation_accuracy"}
        assert e["eta"] == 1.0
        assert 0 <= e["evaluation_accuracy"] <= 1
    assert doc["test_accuracy"] > 0.9
    code, out, err = run_cli(["evaluate", str(model), "--dataset", f"idx:{idx_dir}",
                              "--validation-size", "50"], capsys)
    assert code == 0
    assert f"test accuracy: {doc['test_accuracy']:.2%}" in out


def test_same_seed_same_metrics(idx_dir, tmp_path, capsys):
    results = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.json"
        assert main(["train", "--dataset", f"idx:{idx_dir}", "--validation-size", "50", "--sizes", "64,5,4", "--epochs", "2",
                     "--seed", "9", "--evaluate-on", "test", "--save", str(path)]) == 0
        results.append(json.loads(path.read_text())["weights"])
    assert results[0] == results[1]


def test_predict_prints_digit_and_probabilities(tmp_path, capsys):
    from nndl import Network
    from nndl.persistence import save
    model = tmp_path / "m.json"
    save(Network([784, 10, 10], seed=0), model)
    img = np.full((50, 40), 255, np.uint8)
    img[10:40, 18:22] = 0                        # a dark '1' on white paper
    Image.fromarray(img).save(tmp_path / "one.png")
    code, out, err = run_cli(["predict", str(model), str(tmp_path / "one.png")], capsys)
    assert code == 0, err
    line = out.strip()
    assert line.startswith(f"{tmp_path / 'one.png'}: ")
    probs = [float(p.split(":")[1]) for p in line.split("(")[1].rstrip(")").split()]
    assert len(probs) == 10 and sum(probs) == pytest.approx(1, abs=0.02)


@pytest.mark.parametrize("args, message", [
    (["train", "--sizes", "784,x,10"], "layer sizes"),
    (["train", "--sizes", "784"], "at least 2"),
    (["train", "--eta", "-1"], "must be > 0"),
    (["train", "--eta", "nan"], "finite"),
    (["train", "--lmbda", "-0.5"], "must be >= 0"),
    (["train", "--batch-size", "0"], "must be >= 1"),
    (["train", "--cost", "hinge"], "invalid choice"),
    (["train", "--bogus"], "unrecognized arguments"),
    (["train", "--monitor", "speed"], "unknown quantity"),
    (["train", "--dataset", "/no/such/file.pkl.gz"], "file.pkl.gz"),
    (["train", "--dataset", "idx:/no/such/dir"], "/no/such/dir"),
    (["evaluate", "/no/such/model.json"], "cannot read model file"),
    (["predict", "/no/such/model.json", "x.png"], "cannot read model file"),
    ([], "required"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, capsys, monkeypatch):
    monkeypatch.setenv("NNDL_DATA", "/no/such/file.pkl.gz") if "--dataset" not in args else None
    code, out, err = run_cli(args, capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("nndl: error: ")
    assert message in err


def test_sizes_not_matching_data(idx_dir, capsys):
    code, out, err = run_cli(["train", "--dataset", f"idx:{idx_dir}", "--validation-size", "50", "--sizes", "784,10,4",
                              "--evaluate-on", "test"], capsys)
    assert code == 2 and "784 inputs but the images have 64 pixels" in err
    code, out, err = run_cli(["train", "--dataset", f"idx:{idx_dir}", "--validation-size", "50", "--sizes", "64,10,3",
                              "--evaluate-on", "test"], capsys)
    assert code == 2 and "labels have 4 classes" in err
    code, out, err = run_cli(["train", "--dataset", f"idx:{idx_dir}", "--validation-size", "50",
                              "--sizes", "64,10,30", "--evaluate-on", "test"], capsys)
    assert code == 2 and "ends with 30 outputs" in err


def test_corrupt_model_and_image(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"sizes": [784, 10], "weights": [], "biases": [], "cost": "CrossEntropyCost"}')
    code, out, err = run_cli(["evaluate", str(bad)], capsys)
    assert code == 2 and "'weights' must be a list of 1 arrays" in err
    from nndl import Network
    from nndl.persistence import save
    save(Network([784, 10], seed=0), tmp_path / "m.json")
    (tmp_path / "x.png").write_text("not an image")
    code, out, err = run_cli(["predict", str(tmp_path / "m.json"), str(tmp_path / "x.png")], capsys)
    assert code == 2 and err.count("\n") == 1


def test_console_script_exit_code_and_no_traceback(tmp_path):
    exe = [sys.executable, "-m", "nndl.cli"]
    r = subprocess.run(exe + ["train", "--epochs", "-3"], capture_output=True, text=True)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1
