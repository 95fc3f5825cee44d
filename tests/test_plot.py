"""``nndl plot`` and ``nndl.plot``: learning curves of metrics files."""

import json
import sys

import pytest

from nndl.cli import main
from nndl.errors import ConfigError
from nndl.plot import check_plot_path, load_run, plot_runs, run_curves

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def metrics(test=0.9649, best=2, evaluate_on="validation", training=True, n=4):
    """A metrics document in the schema of nndl train --metrics-out."""
    epochs = []
    for k in range(n):
        e = {"epoch": k, "train_seconds": 1.5, "eta": 0.5,
             "evaluation_accuracy": 0.90 + 0.02 * k - (0.03 if k == n - 1 else 0),
             "evaluation_cost": 0.8 - 0.1 * k}
        if training:
            e.update(training_accuracy=0.91 + 0.025 * k, training_cost=0.7 - 0.12 * k)
        epochs.append(e)
    return {"config": {"evaluate_on": evaluate_on, "sizes": [784, 30, 10]}, "epochs": epochs,
            "test_accuracy": test, "best_epoch": best, "stop_reason": None}


def write(path, doc):
    path.write_text(json.dumps(doc))
    return path


def test_curves_count_epochs_from_one_and_mark_the_best():
    run = run_curves(metrics(best=2))
    assert run["curves"]["evaluation_accuracy"][0] == [1, 0.90]
    assert run["best_epoch"] == 3 and run["test_accuracy"] == 0.9649
    assert set(run["curves"]) == {"training_accuracy", "evaluation_accuracy",
                                  "training_cost", "evaluation_cost"}
    assert run_curves(metrics(evaluate_on="test"))["evaluated_on"] == "test"
    only_eval = run_curves(metrics(training=False, best=None, test=None))
    assert set(only_eval["curves"]) == {"evaluation_accuracy", "evaluation_cost"}
    assert only_eval["best_epoch"] is None and only_eval["test_accuracy"] is None


def test_plot_runs_overlays_runs_with_labels_and_test_accuracy(tmp_path):
    a = write(tmp_path / "a.json", metrics(test=0.9649))
    out = plot_runs([a, metrics(test=0.9712, training=False)], tmp_path / "runs.svg",
                    labels=["lmbda 5", "lmbda 0.1"])
    svg = out.read_text()
    assert "lmbda 5 (test 96.49%)" in svg and "lmbda 0.1 (test 97.12%)" in svg
    assert "validation" in svg and "training" in svg and "best epoch" in svg
    assert "accuracy per epoch" in svg and "cost per epoch" in svg
    assert "accuracy (%)" in svg and ">epoch<" in svg


def test_what_picks_the_panels(tmp_path):
    from PIL import Image
    both = plot_runs([metrics()], tmp_path / "both.png")
    one = plot_runs([metrics()], tmp_path / "one.png", what=("accuracy",))
    assert both.read_bytes()[:8] == PNG_MAGIC
    assert Image.open(one).size[0] * 2 == Image.open(both).size[0]
    assert "cost per epoch" not in plot_runs([metrics()], tmp_path / "a.svg", what="accuracy").read_text()
    with pytest.raises(ConfigError, match="none of the runs measured cost"):
        plot_runs([{"epochs": [{"epoch": 0, "evaluation_accuracy": 0.5}]}], tmp_path / "c.png",
                  what=("cost",))


def test_cli_writes_the_plot(tmp_path, capsys):
    a = write(tmp_path / "a.json", metrics())
    b = write(tmp_path / "b.json", metrics(test=None))
    out = tmp_path / "curves.png"
    assert main(["plot", str(a), str(b), "--out", str(out), "--what", "accuracy,cost"]) == 0
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert f"wrote {out}" in capsys.readouterr().out
    assert main(["plot", str(a), "--out", str(tmp_path / "l.svg"), "--labels", "my run"]) == 0
    assert "my run (test 96.49%)" in (tmp_path / "l.svg").read_text()


@pytest.mark.parametrize("content, why", [
    ("", "empty"),
    ("   \n", "empty"),
    ("{not json", "not JSON"),
    ("[1, 2]", "not an nndl metrics file"),
    ('{"config": {}}', "no 'epochs' list"),
    ('{"epochs": []}', "no epochs recorded"),
    ('{"epochs": [{"epoch": 0, "train_seconds": 1.0}]}', "no accuracy or cost was measured"),
    ('{"name": "slowdown", "claims": [], "series": {}}', "'nndl reproduce' result"),
])
def test_a_file_that_is_not_nndl_metrics_is_named_with_the_reason(tmp_path, capsys, content, why):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    out = tmp_path / "keep.png"
    out.write_bytes(b"old plot")
    assert main(["plot", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"nndl: error: {bad}: ") and why in err and err.count("\n") == 1, err
    assert out.read_bytes() == b"old plot"             # nothing replaced


def test_missing_and_folder_inputs(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "nope.json"), "--out", str(tmp_path / "p.png")]) == 2
    assert "nope.json: cannot read it" in capsys.readouterr().err
    assert main(["plot", str(tmp_path), "--out", str(tmp_path / "p.png")]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_the_output_path_is_checked_before_any_metrics_are_read(tmp_path, capsys):
    missing = str(tmp_path / "missing.json")
    (tmp_path / "dir.png").mkdir()
    for out, why in (("p.jpg", ".png or .svg"), (str(tmp_path / "no" / "p.png"), "does not exist"),
                     (str(tmp_path / "dir.png"), "not a regular file (a directory)")):
        assert main(["plot", missing, "--out", out]) == 2
        err = capsys.readouterr().err
        assert why in err and "missing.json" not in err, err
    assert main(["plot", missing, "--what", "speed"]) == 2
    assert "accuracy, cost" in capsys.readouterr().err


def test_check_plot_path_accepts_either_case_and_returns_a_path(tmp_path):
    assert check_plot_path(str(tmp_path / "P.SVG")) == tmp_path / "P.SVG"
    with pytest.raises(ConfigError, match=".png or .svg"):
        check_plot_path(tmp_path / "p")


def test_missing_matplotlib_is_one_line_naming_the_extra(tmp_path, monkeypatch, capsys):
    a = write(tmp_path / "a.json", metrics())
    monkeypatch.setitem(sys.modules, "matplotlib", None)     # import matplotlib -> ImportError
    assert main(["plot", str(a), "--out", str(tmp_path / "p.png")]) == 2
    err = capsys.readouterr().err
    assert "pip install 'nndl[plots]'" in err and err.count("\n") == 1


@pytest.mark.mnist
def test_load_run_reads_nndl_trains_own_file(tmp_path, mnist_file, capsys):
    """The file nndl train --metrics-out writes is accepted and drawn."""
    m = tmp_path / "run.json"
    assert main(["train", "--dataset", str(mnist_file), "--sizes", "784,10,10", "--epochs", "2",
                 "--train-size", "500", "--seed", "0", "--monitor",
                 "training-cost,evaluation-accuracy", "--metrics-out", str(m)]) == 0
    run = run_curves(load_run(m))
    assert len(run["curves"]["evaluation_accuracy"]) == 2 and "training_cost" in run["curves"]
    assert main(["plot", str(m), "--out", str(tmp_path / "run.png")]) == 0


def test_train_plot_draws_the_runs_curves_at_the_end(tmp_path, capsys):
    """``nndl train --plot`` draws the run's own learning curves, from the
    same document its metrics file holds."""
    from reliability_helpers import make_idx_dir

    from nndl.cli import main
    data = make_idx_dir(tmp_path / "idx")
    png, metrics = tmp_path / "curves.png", tmp_path / "m.json"
    code = main(["train", "--dataset", f"idx:{data}", "--validation-size", "50",
                 "--sizes", "64,10,4", "--epochs", "3", "--seed", "1", "--progress", "off",
                 "--monitor", "training-cost,evaluation-accuracy",
                 "--plot", str(png), "--metrics-out", str(metrics)])
    out = capsys.readouterr().out
    assert code == 0 and f"wrote {png}" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_train_plot_path_is_checked_before_training(tmp_path, capsys):
    from nndl.cli import main
    for bad, words in ((tmp_path / "curves.jpg", "must be a .png or .svg file"),
                       (tmp_path / "missing" / "c.png", "does not exist")):
        assert main(["train", "--dataset", str(tmp_path / "no-such-data.pkl.gz"),
                     "--plot", str(bad)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("nndl: error: ") and len(err.strip().splitlines()) == 1
        assert words in err and "--plot" in err or str(bad) in err, err
        assert "no-such-data" not in err, err           # refused before the data is read
