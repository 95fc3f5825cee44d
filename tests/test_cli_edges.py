"""The edges a user hits on the command line: outputs checked before any
work and never lost, odd values as one line, models trained on some digits,
honest epoch numbers and costs, Ctrl-C, completion."""

import errno
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from nndl.cli import main
from nndl.persistence import load, save
from reliability_helpers import make_idx_dir

FLAGS = ["--validation-size", "50", "--sizes", "64,10,4", "--eta", "1.0", "--lmbda", "0.1",
         "--progress", "off"]


@pytest.fixture
def idx(tmp_path):
    return f"idx:{make_idx_dir(tmp_path / 'idx')}"


def run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def train(idx, *extra):
    return ["train", "--dataset", idx, *FLAGS, *extra]


def one_error_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nndl: error: "), err
    return lines[0]


# ------------------------------------------------ 1. outputs, before any work
@pytest.mark.parametrize("outputs, message", [
    (["--save", "{d}/m.json", "--metrics-out", "{d}/m.json"],
     "--save {d}/m.json and --metrics-out {d}/m.json are the same file"),
    (["--save", "{d}/nodir/m.json", "--metrics-out", "{d}/good.json"],
     "--save {d}/nodir/m.json: the folder {d}/nodir does not exist"),
    (["--metrics-out", "/dev/null"], "--metrics-out /dev/null: not a regular file"),
    (["--checkpoint", "{d}/file.txt"], "--checkpoint {d}/file.txt: is not a folder"),
    (["--save", "{d}/ck", "--checkpoint", "{d}/ck"], "are the same file"),
])
def test_train_refuses_an_output_it_could_not_write_before_training(idx, tmp_path, capsys,
                                                                   outputs, message):
    (tmp_path / "file.txt").write_text("mine")
    d = str(tmp_path)
    code, out, err = run(train(idx, "--epochs", "1", *[o.format(d=d) for o in outputs]), capsys)
    assert code == 2 and "epoch" not in out          # refused before a single epoch
    assert message.format(d=d) in one_error_line(err) and ".tmp" not in err
    assert (tmp_path / "file.txt").read_text() == "mine" and not (tmp_path / "good.json").exists()


def test_a_full_disk_at_the_end_keeps_the_network_and_says_where(idx, tmp_path, capsys,
                                                                 monkeypatch):
    import nndl.persistence as persistence
    monkeypatch.setenv("NNDL_CACHE_DIR", str(tmp_path / "cache"))

    def full(net, path):
        if "rescued" in str(path):
            return save(net, path)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(persistence, "save", full)
    code, out, err = run(train(idx, "--epochs", "2", "--seed", "1", "--save", tmp_path / "m.json",
                               "--metrics-out", tmp_path / "metrics.json"), capsys)
    line = one_error_line(err)
    assert code == 2 and "epoch 2/2" in out
    assert f"--save {tmp_path / 'm.json'}: No space left on device" in line
    rescued = line.split("the trained network is kept in ")[1]
    assert rescued.startswith(str(tmp_path / "cache" / "rescued"))
    assert load(rescued).sizes == [64, 10, 4]
    assert json.loads((tmp_path / "metrics.json").read_text())["config"]["seed"] == 1


def test_every_command_checks_its_outputs_first(idx, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    d = tmp_path
    cases = [
        (["expand", "--dataset", idx, "--validation-size", "50", "--transform", "shift:pixels=1",
          "--out", d / "no" / "x.npz"], "--out"),
        (["expand", "--dataset", idx, "--validation-size", "50", "--transform", "shift:pixels=1",
          "--out", d / "x.npz", "--preview", d / "no" / "p.png"], "--preview"),
        (["reproduce", "slowdown", "--quick", "--out", d / "file"], "--out"),
        (["plot", d / "m.json", "--out", d / "no" / "c.png"], "--out"),
        (["playground", "--out", d / "no" / "p.html"], "--out"),
        (["predict", d / "m.json", d / "i.png", "--show", d / "no" / "s.png"], "--show"),
        (["search", "--space", d / "s.toml", "--out", d / "file"], "--out"),
    ]
    for args, flag in cases:
        code, out, err = run(args, capsys)
        assert code == 2 and out == "", (args, out)
        assert one_error_line(err).startswith(f"nndl: error: {flag} "), (args, err)
    assert sorted(p.name for p in d.iterdir()) == ["file", "idx"]


# ------------------------------------------------------- 2. no tracebacks
def test_negative_seeds_and_non_utf8_files_are_one_line(idx, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    space = tmp_path / "space.toml"
    space.write_text(f'dataset = "{idx}"\nvalidation-size = 50\nepochs = 1\n'
                     'eta = {type = "float", low = 0.1, high = 1}\n')
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b'eta = 0.5\n# caf\xe9\n')
    negative = tmp_path / "neg.toml"
    negative.write_text(space.read_text() + "seed = {type = 'int', low = -5, high = 3}\n")
    for args, message in [
            (train(idx, "--seed", "-1"), "argument --seed: must be >= 0, got -1"),
            (["lr-find", "--seed", "-1"], "argument --seed: must be >= 0, got -1"),
            (["search", "--space", space, "--seed", "-1"], "argument --seed: must be in [0, "),
            (["search", "--space", space, "--seed", str(2**32)], "4294967295]"),
            (["search", "--space", negative], "seed: must be >= 0, got -5"),
            (["train", "--config", bad], f"{bad}: not UTF-8 text"),
            (["search", "--space", bad], f"{bad}: not UTF-8 text")]:
        code, out, err = run(args, capsys)
        assert code == 2 and message in one_error_line(err), (args, err)
    assert not list(tmp_path.glob("*.db"))          # no search left a database behind


def test_search_without_matplotlib_is_refused_before_it_starts(idx, tmp_path):
    space = tmp_path / "space.toml"
    space.write_text(f'dataset = "{idx}"\nvalidation-size = 50\nepochs = 1\n'
                     'eta = {type = "float", low = 0.1, high = 1}\n')
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "from nndl.cli import main\n"
            f"sys.exit(main(['search', '--space', {str(space)!r}, '--trials', '1']))")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert "matplotlib, which is not installed" in one_error_line(done.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx", "space.toml"]


# ------------------------------------------------- 3. give up or mislead
def test_lr_find_records_a_diverging_eta_and_goes_on(idx, capsys):
    code, out, err = run(["lr-find", "--dataset", idx, "--validation-size", "50",
                          "--sizes", "64,10,4", "--activation", "tanh", "--output", "linear",
                          "--start", "1000", "--epochs", "2"], capsys)
    assert code == 0, err
    assert "eta 1000     training cost" in out and "-> inf  does not decrease (diverged)" in out
    assert "recommended: --eta" in out


def test_a_digits_model_records_its_classes_for_evaluate_and_predict(idx, tmp_path, capsys):
    model = tmp_path / "d13.json"
    code, out, err = run(["train", "--dataset", idx, "--validation-size", "50", "--digits", "1,3",
                          "--sizes", "64,10,2", "--epochs", "3", "--eta", "1", "--seed", "0", "--save", model], capsys)
    assert code == 0, err
    assert json.loads(model.read_text())["classes"] == [1, 3] and load(model).classes == [1, 3]
    code, out, err = run(["evaluate", model, "--dataset", idx, "--validation-size", "50"], capsys)
    assert code == 0, err
    assert out.startswith("classes: 1,3 (") and "test accuracy: " in out

    from PIL import Image
    from nndl.network import Network
    net = Network([784, 5, 2], seed=0)
    net.biases[-1][:] = np.array([[-5.0], [5.0]])       # always the second class
    net.classes = [3, 7]
    save(net, tmp_path / "n37.json")
    image = np.zeros((28, 28), np.uint8)
    image[8:20, 12:16] = 255
    Image.fromarray(image).save(tmp_path / "i.png")
    code, out, err = run(["predict", tmp_path / "n37.json", tmp_path / "i.png"], capsys)
    assert code == 0, err
    assert out.startswith(f"{tmp_path / 'i.png'}: 7  (3:0.") and " 7:0.99)" in out


def test_a_model_file_without_classes_still_loads(tmp_path):
    from nndl.network import Network
    save(Network([4, 3, 2], seed=0), tmp_path / "m.json")
    doc = json.loads((tmp_path / "m.json").read_text())
    assert "classes" not in doc and load(tmp_path / "m.json").classes is None
    doc["classes"] = [1, 1]
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    from nndl.errors import ModelFileError
    with pytest.raises(ModelFileError, match="'classes' must list 2 distinct labels"):
        load(tmp_path / "bad.json")


def test_which_epochs_weights_were_kept_counted_from_one(idx, tmp_path, capsys):
    metrics = tmp_path / "m.json"
    code, out, err = run(train(idx, "--epochs", "4", "--seed", "2", "--metrics-out", metrics),
                         capsys)
    doc = json.loads(metrics.read_text())
    assert code == 0 and doc["weights_epoch"] == 4 and not doc["weights_restored"]
    assert "weights: epoch 4, the last" in out
    code, out, err = run(train(idx, "--epochs", "30", "--eta", "30", "--seed", "2",
                               "--early-stopping", "2", "--metrics-out", metrics), capsys)
    doc = json.loads(metrics.read_text())
    assert code == 0 and doc["weights_restored"]
    assert doc["weights_epoch"] == doc["best_epoch"] + 1          # best_epoch counts from 0
    assert f"weights: epoch {doc['weights_epoch']}, the best valid" in out


def test_a_run_without_seed_draws_one_prints_it_and_repeats_with_it(idx, tmp_path, capsys):
    code, out, err = run(train(idx, "--epochs", "1", "--save", tmp_path / "a.json",
                               "--metrics-out", tmp_path / "a-m.json"), capsys)
    seed = json.loads((tmp_path / "a-m.json").read_text())["config"]["seed"]
    assert code == 0 and isinstance(seed, int)
    assert out.startswith(f"seed: {seed} (drawn; --seed {seed} repeats this run)")
    code, out, err = run(train(idx, "--epochs", "1", "--seed", seed, "--save",
                               tmp_path / "b.json"), capsys)
    assert code == 0 and not out.startswith("seed:")
    assert load(tmp_path / "a.json").weights[0].tolist() == \
        load(tmp_path / "b.json").weights[0].tolist()


def test_ctrl_c_starts_its_own_line_and_says_how_to_resume(idx, tmp_path, capsys, monkeypatch):
    from nndl.callbacks import EpochPrinter

    def interrupt(self, state):
        raise KeyboardInterrupt
    monkeypatch.setattr(EpochPrinter, "on_epoch_end", interrupt)
    code, out, err = run(train(idx, "--epochs", "3", "--progress", "on",
                               "--checkpoint", tmp_path / "ck"), capsys)
    assert code == 130
    before, message = err.rsplit("nndl: interrupted", 1)
    assert before == "" or before.endswith(("\r", "\n"))        # not after a progress bar
    assert message.strip() == (f"; the last finished epoch is checkpointed in {tmp_path / 'ck'}; "
                               f"continue with the same options and --resume {tmp_path / 'ck'}")


def test_an_interrupted_search_says_that_rerunning_resumes(idx, tmp_path, capsys, monkeypatch):
    import nndl.search.study as study
    monkeypatch.chdir(tmp_path)
    space = tmp_path / "space.toml"
    space.write_text(f'dataset = "{idx}"\nvalidation-size = 50\nepochs = 1\n'
                     'eta = {type = "float", low = 0.1, high = 1}\n')

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(study, "run_trials", interrupted)
    code, out, err = run(["search", "--space", space, "--storage", tmp_path / "s.db"], capsys)
    assert code == 130
    assert err.strip() == (f"nndl: interrupted; the finished trials are stored in {tmp_path}/s.db;"
                           " rerun the same command to resume the search")


def test_validation_size_is_refused_for_data_with_its_own_split(mnist_file, capsys):
    code, out, err = run(["train", "--dataset", mnist_file, "--validation-size", "5000"], capsys)
    assert code == 2
    assert (f"--validation-size 5000: {mnist_file} comes with its own 10000 validation images"
            in one_error_line(err))


def test_epoch_lines_fit_80_columns_with_everything_monitored(idx, capsys):
    code, out, err = run(train(idx, "--epochs", "2", "--lr-schedule", "step:1:0.3",
                               "--monitor", "training-cost,training-accuracy,evaluation-cost,"
                               "evaluation-accuracy"), capsys)
    assert code == 0, err
    lines = out.splitlines()
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert len(epochs) == 2 and all(len(line) <= 80 for line in lines), lines
    assert "cost+L2" in lines[1] and " train " in epochs[0] and " valid " in epochs[0]


def test_evaluate_names_its_cost_as_without_the_regularisation_term(idx, tmp_path, capsys):
    run(train(idx, "--epochs", "1", "--seed", "0", "--save", tmp_path / "m.json"), capsys)
    code, out, err = run(["evaluate", tmp_path / "m.json", "--dataset", idx, "--validation-size",
                          "50", "--on", "validation"], capsys)
    assert code == 0 and "validation cost: " in out and "without the regularisation term" in out


# ------------------------------------------------------- 5. smaller points
def test_bash_completion_completes_commands_flags_and_choices(tmp_path, capsys):
    assert main(["completion", "bash"]) == 0
    script = tmp_path / "c.sh"
    script.write_text(capsys.readouterr().out)
    probe = (f"source {script}\n"
             "for words in 'nndl rep' 'nndl train --activ' 'nndl train --activation t' "
             "'nndl lr-find --outp' 'nndl search --samp'; do\n"
             "  COMP_WORDS=($words); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _nndl\n"
             "  echo \"${COMPREPLY[*]}\"; done\n")
    done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=30)
    assert done.stdout.splitlines() == ["reproduce report", "--activation", "tanh", "--output",
                                        "--sampler"], done.stderr
    assert main(["completion", "zsh"]) == 0
    assert "bashcompinit" in capsys.readouterr().out


def test_report_help_has_a_description(capsys):
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    assert "report.html and OUT/report.md" in capsys.readouterr().out


def test_network_classifier_warns_on_raw_pixels_and_refuses_zero_epochs():
    from sklearn.datasets import load_digits
    from nndl.sklearn import InputScaleWarning, NetworkClassifier
    X, y = load_digits(return_X_y=True)
    X, y = X[:300], y[:300]
    with pytest.warns(InputScaleWarning, match="X reaches 256: scale the inputs"):
        NetworkClassifier(epochs=1, random_state=0).fit(X * 16, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputScaleWarning)
        NetworkClassifier(epochs=1, random_state=0).fit(X / 16, y)
    with pytest.raises(ValueError, match="epochs must be an integer >= 1, got 0"):
        NetworkClassifier(epochs=0).fit(X / 16, y)


def test_a_run_without_seed_resumes_with_the_checkpoints_seed(idx, tmp_path, capsys):
    ck = tmp_path / "ck"
    code, out, err = run(train(idx, "--epochs", "1", "--checkpoint", ck), capsys)
    assert code == 0, err
    seed = int(out.split()[1])
    code, out, err = run(train(idx, "--epochs", "2", "--resume", ck, "--metrics-out",
                               tmp_path / "m.json"), capsys)
    assert code == 0, err
    assert f"resuming from {ck} after epoch 1" in out and not out.startswith("seed:")
    assert json.loads((tmp_path / "m.json").read_text())["config"]["seed"] == seed


def test_search_checks_its_storage_folder_before_it_starts(idx, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    space = tmp_path / "space.toml"
    space.write_text(f'dataset = "{idx}"\nvalidation-size = 50\nepochs = 1\n'
                     'eta = {type = "float", low = 0.1, high = 1}\n')
    code, out, err = run(["search", "--space", space, "--storage", tmp_path / "no" / "s.db"],
                         capsys)
    assert code == 2 and out == ""
    assert f"--storage {tmp_path / 'no' / 's.db'}: the folder" in one_error_line(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx", "space.toml"]


def test_a_weight_decay_factor_at_or_below_zero_trains_on_the_reference_engine(idx, capsys):
    # eta * lmbda / n = 10 * 2 / 20 = 1: the fast engines' lazy decay would divide by zero
    code, out, err = run(train(idx, "--epochs", "1", "--eta", "10", "--lmbda", "2",
                               "--train-size", "20", "--seed", "0"), capsys)
    assert code == 0, err
    assert "engine: reference (eta*lmbda/n = 1 >= 1 makes the L2 decay factor" in out
    code, out, err = run(train(idx, "--epochs", "1", "--eta", "10", "--lmbda", "2",
                               "--train-size", "20", "--seed", "0", "--engine", "blas"), capsys)
    assert code == 2 and "the blas engine cannot train this: eta*lmbda/n = 1" in err
