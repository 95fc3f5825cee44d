"""nndl search, nndl train --config: spaces checked against the train parser,
small searches on SQLite that complete and survive SIGKILL, pruning of
diverging trials, and the best configuration as a config file."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import optuna
import pytest
from reliability_helpers import make_idx_dir

from nndl.cli import main
from nndl.errors import ConfigError, DivergenceError
from nndl.search.objective import Objective
from nndl.search.space import Space
from nndl.search.study import make_sampler, open_storage

optuna.logging.set_verbosity(optuna.logging.ERROR)


def make_idx_dataset(d):
    """300 training + 60 test 8x8 'images'; the label is the bright quarter."""
    return make_idx_dir(d)


@pytest.fixture
def idx_dir(tmp_path):
    return make_idx_dataset(tmp_path / "idx")


def space_file(tmp_path, idx_dir, extra=""):
    """A tiny search space over the IDX dataset (validation: last 100 images)."""
    path = tmp_path / "space.toml"
    path.write_text(f'dataset = "idx:{idx_dir}"\nvalidation-size = 100\nepochs = 3\n'
                    'eta = {type = "float", low = 0.1, high = 10, log = true}\n'
                    'hidden = {type = "categorical", choices = ["4", "8,8"]}\n' + extra)
    return path


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def trials_in(storage_url, study="nndl-search"):
    """The study's trials as seen by a separate reader."""
    storage = open_storage(storage_url)
    return optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)


# ----------------------------------------------------------- train --config
def test_train_config_file_sets_options_and_command_line_wins(idx_dir, tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text(f'dataset = "idx:{idx_dir}"\nvalidation-size = 100\nsizes = [64, 6, 4]\n'
                      'epochs = 2\neta = 0.7\nlmbda = 0.5\nseed = 3\n')
    metrics = tmp_path / "m.json"
    code, out, err = run_cli(["train", "--config", config, "--eta", "1.5",
                              "--metrics-out", metrics], capsys)
    assert code == 0, err
    import json
    c = json.loads(metrics.read_text())["config"]
    assert (c["sizes"], c["epochs"], c["lmbda"], c["seed"]) == ([64, 6, 4], 2, 0.5, 3)
    assert c["eta"] == 1.5                                  # the command line overrides the file


@pytest.mark.parametrize("text, message", [
    ("etaa = 0.5\n", "did you mean 'eta'"),
    ("eta = true\n", "takes a value"),
    ("eta = [\n", "not valid TOML"),
    ("eta = -1\n", "must be > 0"),
])
def test_train_config_errors_are_one_line(tmp_path, capsys, text, message):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    code, out, err = run_cli(["train", "--config", config], capsys)
    assert code == 2 and err.startswith("nndl: error:") and message in err
    assert len(err.strip().splitlines()) == 1


# -------------------------------------------------------------- the space
@pytest.mark.parametrize("extra, message", [
    ('momentumm = {type = "float", low = 0, high = 1}\n', "unknown option 'momentumm'"),
    ('evaluate-on = "test"\n', "objective is always validation accuracy"),
    ('lmbda = {type = "float", low = -1, high = 1}\n', "must be >= 0"),
    ('batch-size = {type = "uniform", low = 1, high = 2}\n', "type must be"),
    ('sizes = "64,4"\n', "'hidden' or 'sizes'"),
])
def test_bad_space_is_one_line_error_before_any_trial(tmp_path, idx_dir, capsys, extra, message):
    db = tmp_path / "s.db"
    code, out, err = run_cli(["search", "--space", space_file(tmp_path, idx_dir, extra),
                              "--storage", db], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not db.exists() or "trials" not in out


def test_grid_needs_finite_values_and_gp_names_what_is_missing(monkeypatch):
    space = Space.from_dict({"eta": {"type": "float", "low": 0.1, "high": 1.0}})
    with pytest.raises(ConfigError, match="step"):
        make_sampler("grid", space)
    stepped = Space.from_dict({"eta": {"type": "float", "low": 0.1, "high": 0.3, "step": 0.1},
                               "batch-size": {"type": "int", "low": 5, "high": 15, "step": 5}})
    assert stepped.grid() == {"eta": [0.1, 0.2, 0.3], "batch-size": [5, 10, 15]}
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))
    with pytest.raises(ConfigError, match="gp needs torch"):
        make_sampler("gp", space)


# ------------------------------------------------------------ divergence
def test_a_trial_that_diverges_is_stopped_by_the_runs_own_divergence_check(tmp_path, idx_dir):
    """No guard of its own: the trial's run stops at the diverging batch
    (DivergenceCheck) and the trial is pruned with that reason."""
    space = Space.from_dict({"dataset": f"idx:{idx_dir}", "validation-size": 100, "epochs": 3,
                             "cost": "quadratic", "output": "linear", "activation": "relu",
                             "sizes": "64,8,4",
                             "eta": {"type": "categorical", "choices": [1e200]}})
    study = optuna.create_study(direction="maximize")
    with np.errstate(all="ignore"):
        study.optimize(Objective(space), n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert trial.user_attrs["reason"].startswith("diverged at epoch 1, batch")


def test_a_diverging_trial_is_pruned_with_its_reason(tmp_path, idx_dir, monkeypatch):
    space = Space.from_toml(space_file(tmp_path, idx_dir))
    objective = Objective(space)

    def explode(config, splits, callbacks=()):
        raise DivergenceError("diverged at epoch 2, batch 3: the output biases became NaN")
    monkeypatch.setattr(objective, "train", explode)
    study = optuna.create_study(direction="maximize")
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert trial.user_attrs["reason"].startswith("diverged")


# --------------------------------------------------------- whole searches
def test_small_sqlite_search_completes_and_its_best_config_reruns(tmp_path, idx_dir, capsys):
    db, out_dir = tmp_path / "s.db", tmp_path / "out"
    code, out, err = run_cli(["search", "--space", space_file(tmp_path, idx_dir), "--trials", 6,
                              "--storage", db, "--out", out_dir, "--seed", 1], capsys)
    assert code == 0, err
    trials = trials_in(str(db))
    states = [t.state.name for t in trials]
    assert len(trials) == 6 and set(states) <= {"COMPLETE", "PRUNED"}
    best = max((t for t in trials if t.state.name == "COMPLETE"), key=lambda t: t.value)
    assert f"best: trial #{best.number}, validation accuracy {best.value:.2%}" in out
    assert "nndl train " in out and "test accuracy of the best configuration" in out
    for name in ("best.toml", "best-model.json", "history.png", "importance.png", "slice.png"):
        assert (out_dir / name).stat().st_size > 0
    # the config file is the best trial: same options, same seed, same validation accuracy
    code, out, err = run_cli(["train", "--config", out_dir / "best.toml", "--progress", "off"],
                             capsys)
    assert code == 0, err
    last_epoch_line = [line for line in out.splitlines() if line.startswith("epoch")][-1]
    assert f" {best.value:.2%}  " in last_epoch_line     # 'valid COST ACCURACY  TIME'
    # a later report reuses the test accuracy measured once, and adds no trial
    code, again, err = run_cli(["search", "--storage", db, "--out", out_dir], capsys)
    assert code == 0 and len(trials_in(str(db))) == 6


def test_grid_search_visits_every_point(tmp_path, idx_dir, capsys):
    space = tmp_path / "grid.toml"
    space.write_text(f'dataset = "idx:{idx_dir}"\nvalidation-size = 100\nepochs = 1\n'
                     'sizes = "64,4,4"\n'
                     'eta = {type = "categorical", choices = [0.5, 2.0]}\n'
                     'batch-size = {type = "int", low = 10, high = 30, step = 10}\n')
    code, out, err = run_cli(["search", "--space", space, "--sampler", "grid", "--pruner",
                              "none", "--trials", 50, "--storage", tmp_path / "g.db",
                              "--out", tmp_path / "o"], capsys)
    assert code == 0, err
    points = {(t.params["eta"], t.params["batch-size"]) for t in trials_in(str(tmp_path / "g.db"))}
    assert points == {(e, b) for e in (0.5, 2.0) for b in (10, 20, 30)}


def nndl_process(args, log):
    """Start ``nndl ARGS`` as a separate process writing to ``log``."""
    return subprocess.Popen([sys.executable, "-m", "nndl.cli", *map(str, args)],
                            stdout=log, stderr=subprocess.STDOUT)


def wait_for(condition, timeout, what):
    """Poll ``condition()`` until true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_search_killed_with_sigkill_resumes_and_keeps_every_finished_trial(tmp_path, idx_dir):
    space = space_file(tmp_path, idx_dir).read_text().replace("epochs = 3", "epochs = 60")
    (tmp_path / "slow.toml").write_text(space)
    db = tmp_path / "s.db"
    args = ["search", "--space", tmp_path / "slow.toml", "--trials", 5, "--pruner", "none",
            "--storage", db, "--out", tmp_path / "out"]
    with open(tmp_path / "log1", "w") as log:
        proc = nndl_process(args, log)

        def two_done_one_running():
            if not db.exists() or proc.poll() is not None:
                return proc.poll() is not None
            try:
                states = [t.state.name for t in trials_in(str(db))]
            except Exception:                    # the study is still being created
                return False
            return states.count("COMPLETE") >= 2 and "RUNNING" in states
        wait_for(two_done_one_running, 60, "two finished trials")
        assert proc.poll() is None, (tmp_path / "log1").read_text()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    before = {t.number: (t.params, t.value) for t in trials_in(str(db))
              if t.state.name == "COMPLETE"}
    assert len(before) >= 2
    with open(tmp_path / "log2", "w") as log:
        assert nndl_process(args, log).wait(timeout=120) == 0, (tmp_path / "log2").read_text()
    after = trials_in(str(db))
    finished = [t for t in after if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == 5                           # the target, counting the first run's
    kept = {t.number: (t.params, t.value) for t in finished if t.number in before}
    assert kept == before                                # nothing finished was lost or changed


def test_a_trial_stored_with_only_its_command_line_words_still_gives_its_config():
    """Studies stored before trials recorded their config keep working."""
    from types import SimpleNamespace

    from nndl.search.report import best_config
    old = SimpleNamespace(number=3, user_attrs={"argv": [
        "--dataset=idx:d", "--validation-size=100", "--sizes=64,4,4", "--eta=0.68", "--seed=0",
        "--momentum=0.9", "--nesterov", "--no-test", "--expand=shift:pixels=1"]})
    config = best_config(old)
    assert (config.sizes, config.eta, config.nesterov, config.test, config.expand) == \
        ((64, 4, 4), 0.68, True, False, ("shift:pixels=1",))
