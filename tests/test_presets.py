"""Presets (``nndl train --preset NAME``) and the wall-clock record of a run."""

import json
from types import SimpleNamespace

import pytest

from nndl.callbacks import WallClock
from nndl.cli import build_parser
from nndl.options import preset_names, read_preset, settings_from, to_argv
from nndl.run import RunConfig
from test_cli import run_cli


def test_every_shipped_preset_is_a_valid_train_configuration_and_command_line():
    names = preset_names()
    assert "best" in names
    train = build_parser().subcommands["train"]
    for name in names:
        config = RunConfig(**settings_from(read_preset(name), f"preset {name}"))
        assert config.epochs >= 1
        parsed = train.parse_args(to_argv(config))      # the command line it prints parses
        given = {k: v for k, v in vars(parsed).items() if k in RunConfig.__dataclass_fields__}
        assert RunConfig(**given) == config


def test_a_list_for_a_repeatable_flag_becomes_one_flag_per_item():
    train = build_parser().subcommands["train"]
    config = RunConfig(**settings_from(
        {"expand": ["elastic:alpha=34,sigma=4", "affine:rotate=5"]}, "t"))
    argv = to_argv(config)
    assert argv == ["--expand=elastic:alpha=34,sigma=4", "--expand=affine:rotate=5"]
    assert train.parse_args(argv).expand == ["elastic:alpha=34,sigma=4", "affine:rotate=5"]


def test_preset_best_trains_and_the_command_line_wins(mnist_file, tmp_path, capsys):
    metrics = tmp_path / "m.json"
    code, out, err = run_cli(["train", "--preset", "best", "--dataset", str(mnist_file),
                              "--train-size", "200", "--epochs", "2", "--progress", "off",
                              "--metrics-out", str(metrics)], capsys)
    assert code == 0, err
    doc = json.loads(metrics.read_text())
    preset = read_preset("best")
    config = doc["config"]
    assert config["preset"] == "best" and config["epochs"] == 2      # the flag won
    assert config["sizes"] == preset["sizes"] and config["expand"] == preset["expand"]
    assert config["momentum"] == preset["momentum"]
    walls = [e["wall_seconds"] for e in doc["epochs"]]
    assert len(walls) == 2 and 0 < walls[0] < walls[1]
    assert "time: since the start" in out                 # the epoch lines show elapsed time


def test_an_unknown_preset_is_a_one_line_usage_error(capsys):
    code, out, err = run_cli(["train", "--preset", "fastest-ever"], capsys)
    assert code == 2 and "fastest-ever" in err and len(err.strip().splitlines()) == 1


def test_wall_clock_continues_a_resumed_runs_count():
    clock = WallClock(start=0.0)
    state = SimpleNamespace(history=[{"epoch": 0, "wall_seconds": 100.0}])
    clock.on_train_begin(state)
    state.history.append({"epoch": 1})
    clock.on_epoch_end(state)
    assert state.history[-1]["wall_seconds"] > 100.0
    fresh = WallClock()
    fresh_state = SimpleNamespace(history=[])
    fresh.on_train_begin(fresh_state)
    fresh_state.history.append({"epoch": 0})
    fresh.on_epoch_end(fresh_state)
    assert 0 <= fresh_state.history[-1]["wall_seconds"] < 60


def test_run_summary_reads_accuracy_against_time(tmp_path):
    import subprocess
    import sys
    from pathlib import Path
    epochs = [{"epoch": k, "wall_seconds": 50.0 * (k + 1), "evaluation_accuracy": 0.9 + k / 100}
              for k in range(8)]                       # an epoch every 50 s, for 400 s
    metrics = tmp_path / "m.json"
    metrics.write_text(json.dumps({"epochs": epochs, "test_accuracy": 0.955,
                                   "config": {"preset": "best"},
                                   "weights_averaged": {"from_epoch": 5, "epochs": 4,
                                                        "evaluation_accuracy": 0.9712}}))
    script = Path(__file__).parent.parent / "scripts" / "run_summary.py"
    out = subprocess.run([sys.executable, str(script), str(metrics), "--minutes", "0.5", "1", "5",
                          "--reach", "92", "99", "--plot", str(tmp_path / "p.png")],
                         capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert "no epoch finished yet" in lines[0]                 # 30 s: none
    assert "epoch   1: validation accuracy 90.00%" in lines[1]  # 60 s: the first (at 50 s)
    assert "epoch   6: validation accuracy 95.00%" in lines[2]  # 300 s: the sixth, exactly
    assert "test accuracy (measured once, at the end): 95.50%" in out
    assert "92.0% validation accuracy: epoch 3, 2.5 min" in out    # 0.92 at 150 s
    assert "99.0% validation accuracy: not reached" in out
    assert "weights: the mean of epochs 5-8, validation accuracy 97.12%" in out
    assert (tmp_path / "p.png").stat().st_size > 1000


def test_time_limit_stops_before_an_epoch_that_would_overrun(monkeypatch):
    from nndl import callbacks
    clock = iter([0.0, 10.0, 20.0, 25.0, 41.0])     # train begins; epochs end at 10, 20, 25, 41 s
    monkeypatch.setattr(callbacks.time, "perf_counter", lambda: next(clock))
    limit = callbacks.TimeLimit(45)
    state = SimpleNamespace(epoch=0, epochs=100, stop=None)
    limit.on_train_begin(state)
    for epoch, stops in ((0, False), (1, False), (2, False), (3, True)):
        state.epoch = epoch
        limit.on_epoch_end(state)
        # after epoch 3 (41 s) the longest recent epoch (16 s) would end at 57 s > 45 s;
        # after epoch 2 (25 s) the longest recent one (10 s) ends at 35 s: it goes on
        assert (state.stop is not None) == stops, epoch
    assert state.stop.startswith("time limit")
    with pytest.raises(callbacks.ConfigError):
        callbacks.TimeLimit(0)


def test_cli_time_limit_stops_the_run_and_says_so(tmp_path, capsys):
    from test_cli import make_idx_dir
    idx = make_idx_dir(tmp_path / "idx")
    metrics = tmp_path / "m.json"
    code, out, err = run_cli(["train", "--dataset", f"idx:{idx}", "--validation-size", "50",
                              "--sizes", "64,10,4", "--epochs", "50", "--time-limit", "1e-6",
                              "--progress", "off", "--metrics-out", str(metrics)], capsys)
    assert code == 0, err
    doc = json.loads(metrics.read_text())
    assert len(doc["epochs"]) == 1 and doc["stop_reason"].startswith("time limit")
    assert "stopped: time limit" in out


def test_no_test_leaves_the_test_set_unmeasured(tmp_path, capsys):
    from test_cli import make_idx_dir
    idx = make_idx_dir(tmp_path / "idx")
    metrics = tmp_path / "m.json"
    args = ["train", "--dataset", f"idx:{idx}", "--validation-size", "50", "--sizes", "64,10,4",
            "--epochs", "1", "--progress", "off", "--metrics-out", str(metrics)]
    code, out, err = run_cli(args + ["--no-test"], capsys)
    assert code == 0, err
    assert "test accuracy" not in out and json.loads(metrics.read_text())["test_accuracy"] is None
    code, out, err = run_cli(args, capsys)
    assert "test accuracy" in out and json.loads(metrics.read_text())["test_accuracy"] > 0
