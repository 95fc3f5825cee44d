"""One way to assemble a run: RunConfig's declared constraints, ``build``,
the command line generated from the config's fields, a checkpoint written
before ``nndl.run`` existed, and the package's import graph."""

import ast
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from nndl.cli import build_parser, main
from nndl.errors import ConfigError
from nndl.params import LEARNING_RATE, MOMENTUM, Interval, Labels, Schedule, Sizes
from nndl.persistence import load
from nndl.run import RunConfig, build
from test_cli import idx_dir  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "checkpoint-v0.1"
OLD_FLAGS = ["train", "--dataset", "idx:tests/fixtures/checkpoint-v0.1/idx", "--validation-size",
             "50", "--sizes", "64,10,4", "--seed", "3", "--eta", "0.5", "--lmbda", "0.1",
             "--momentum", "0.5", "--early-stopping", "5", "--progress", "off"]


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------- constraints
def test_one_declaration_checks_values_and_parses_flags_with_the_same_range():
    assert LEARNING_RATE.parse("0.5") == LEARNING_RATE.check(0.5, "eta") == 0.5
    for bad in ("0", "-1"):
        with pytest.raises(ValueError, match=f"must be > 0, got {bad}"):
            LEARNING_RATE.parse(bad)
        with pytest.raises(ConfigError, match=f"eta must be a finite number > 0, got {bad}"):
            LEARNING_RATE.check(float(bad), "eta")
    with pytest.raises(ValueError, match="expected a finite number"):
        LEARNING_RATE.parse("inf")
    with pytest.raises(ConfigError, match="must be an integer >= 1, got 2.5"):
        Interval(int, 1, None).check(2.5, "patience")
    assert Schedule().parse("halve") == ("halve", 10)
    assert Schedule().check(["step", 10, 0.5], "s") == ("step", 10, 0.5)
    assert Sizes().check([4, 3], "sizes") == Sizes().parse("4,3") == (4, 3)
    with pytest.raises(ValueError, match="at least 2 distinct labels"):
        Labels().parse("3,3")


def test_the_momentum_range_explains_only_the_upper_bound():
    with pytest.raises(ValueError) as low:
        MOMENTUM.parse("-0.1")
    assert "damps" not in str(low.value) and "[0, 1)" in str(low.value)
    with pytest.raises(ValueError, match="nothing damps the velocity"):
        MOMENTUM.parse("1")


@pytest.mark.parametrize("flags, message", [
    (["--momentum", "-0.1"], "argument --momentum: must be in [0, 1), got -0.1\n"),
    (["--digits", "0,5", "--sizes", "64,10,2"],
     "--digits 0,5: no training images have the label 5 (the training labels are 0 to 3)"),
    (["--seed", "-1"], "argument --seed: must be >= 0, got -1"),
])
def test_command_line_messages_name_the_real_problem(idx_dir, capsys, flags, message):
    code, out, err = run_cli(["train", "--dataset", f"idx:{idx_dir}", "--validation-size", "50",
                              "--sizes", "64,10,4", "--epochs", "1", *flags], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_the_train_parser_is_generated_from_the_config_fields():
    train = build_parser().subcommands["train"]
    flags = {a.dest for a in train._actions if a.option_strings} - {"help", "preset", "config"}
    assert flags == {f.name for f in dataclasses.fields(RunConfig)}
    parsed = vars(train.parse_args(["--eta", "0.25", "--nesterov", "--momentum", "0.9",
                                    "--no-test", "--expand", "shift:pixels=1"]))
    given = {k: v for k, v in parsed.items() if k in RunConfig.__dataclass_fields__}
    config = RunConfig(**given)
    assert (config.eta, config.nesterov, config.test, config.expand) == \
        (0.25, True, False, ("shift:pixels=1",))
    assert config.lmbda == 5.0                  # not given: the field's default


def test_file_values_go_through_the_fields_constraints_and_flags_win(idx_dir, tmp_path,
                                                                     capsys):
    config = tmp_path / "run.toml"
    config.write_text(f'dataset = "idx:{idx_dir}"\nvalidation-size = 50\nsizes = [64, 6, 4]\n'
                      'epochs = 1\nlmbda = 3.0\nlr-schedule = "step:1:0.5"\nnesterov = false\n')
    metrics = tmp_path / "m.json"
    code, out, err = run_cli(["train", "--config", config, "--lmbda-per-example", "0.01",
                              "--progress", "off", "--metrics-out", metrics], capsys)
    assert code == 0, err
    c = json.loads(metrics.read_text())["config"]
    assert c["lmbda_per_example"] == 0.01 and c["lmbda"] == pytest.approx(0.01 * 250)
    assert c["lr_schedule"] == ["step", 1, 0.5] and c["config"] == str(config)
    config.write_text("lmbda = 1.0\nlmbda-per-example = 0.1\n")
    code, out, err = run_cli(["train", "--config", config], capsys)
    assert code == 2 and "give lmbda or lmbda-per-example, not both" in err
    config.write_text("batch-size = 0\n")
    code, out, err = run_cli(["train", "--config", config], capsys)
    assert code == 2 and f"{config}: batch-size: must be >= 1, got 0" in err


# ----------------------------------------------------------------- config
@pytest.mark.parametrize("changes, message", [
    (dict(eta=0), "eta must be a finite number > 0"),
    (dict(nesterov=True), "needs a momentum"),
    (dict(cost="quadratic", output="softmax"), "use log-likelihood with softmax"),
    (dict(early_stopping=3, evaluate_on="test"), "leak the test set"),
    (dict(lr_schedule=("halve", 0)), "lr_schedule"),
    (dict(monitor=("accuracy",)), "unknown quantity 'accuracy'"),
])
def test_a_config_is_checked_when_made_and_when_replaced(changes, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig(**changes)
    with pytest.raises(ConfigError, match=message):
        RunConfig().replace(**changes)


def test_build_derives_cost_sizes_and_lambda_without_changing_the_config(idx_dir):
    config = RunConfig(dataset=f"idx:{idx_dir}", validation_size=50, digits=(0, 1, 2),
                       sizes=(64, 5, 3), output="softmax", lmbda_per_example=0.01, epochs=1,
                       progress="off")
    frozen = dataclasses.asdict(config)
    run = build(config)
    assert dataclasses.asdict(config) == frozen
    assert (config.cost, config.lmbda) == (None, 5.0)
    resolved = {"cost": "log-likelihood", "sizes": [64, 5, 3],
                "lmbda": pytest.approx(0.01 * len(run.training)), "eta": 0.5, "batch_size": 10,
                "validation_size": 50}
    assert {k: run.resolved[k] for k in resolved} == resolved
    assert config.eta is config.batch_size is None       # the optimiser's defaults, resolved
    assert {run.resolved[k] for k in ("beta1", "lbfgs_memory", "newton_damping")} == {None}
    assert config.seed is None and isinstance(run.config.seed, int)   # drawn, and recorded
    assert run.record()["seed"] == run.config.seed
    record = run.record()
    assert record["cost"] == "log-likelihood" and record["lmbda"] == run.resolved["lmbda"]
    state = run.train()
    assert len(state.history) == 1 and set(run.training.labels.tolist()) == {0, 1, 2}
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.eta = 1.0


# ----------------------------------------- a checkpoint from before nndl.run
def test_a_checkpoint_written_before_the_run_module_resumes_to_the_same_model(
        tmp_path, monkeypatch, capsys):
    """nndl 0.1.0 wrote this checkpoint after 2 of 4 epochs and the model of
    the same run left to finish; resuming it today on the engine that wrote it
    (0.1.0 ran momentum on the reference step) gives that model exactly."""
    monkeypatch.chdir(ROOT)                     # the checkpoint records the data path as given
    checkpoint = tmp_path / "run"
    shutil.copytree(FIXTURE / "run", checkpoint)
    model = tmp_path / "resumed.json"
    code, out, err = run_cli(OLD_FLAGS + ["--epochs", "4", "--resume", checkpoint,
                                          "--engine", "reference",
                                          "--save", model, "--metrics-out",
                                          tmp_path / "m.json"], capsys)
    assert code == 0, err
    assert f"resuming from {checkpoint} after epoch 2" in out
    resumed, before = load(model), load(FIXTURE / "uninterrupted-4-epochs.json")
    for a, b in zip(resumed.weights + resumed.biases, before.weights + before.biases):
        np.testing.assert_array_equal(a, b)
    ours = json.loads((tmp_path / "m.json").read_text())
    theirs = json.loads((FIXTURE / "uninterrupted-4-epochs-metrics.json").read_text())
    new_fields = {"weights_epoch", "weights_restored"}      # which epoch's weights were kept
    assert [k for k in ours if k not in new_fields] == list(theirs)
    keys = list(ours["config"])                 # every old key, in order; new options added
    assert [k for k in keys if k in theirs["config"]] == list(theirs["config"])
    assert ours["config"]["optimizer"] == "sgd"
    for key in ("sizes", "cost", "lmbda", "eta", "momentum", "preset", "config", "train_size"):
        assert ours["config"][key] == theirs["config"][key], key
    assert [e["evaluation_cost"] for e in ours["epochs"]] == \
        [e["evaluation_cost"] for e in theirs["epochs"]]


def test_an_old_checkpoint_resumes_on_todays_fast_engine_within_float32_rounding(
        tmp_path, monkeypatch, capsys):
    """Today ``auto`` runs momentum on the compiled engine: the same steps,
    so the old run continues there to float32 rounding."""
    monkeypatch.chdir(ROOT)
    checkpoint = tmp_path / "run"
    shutil.copytree(FIXTURE / "run", checkpoint)
    model = tmp_path / "resumed.json"
    code, out, err = run_cli(OLD_FLAGS + ["--epochs", "4", "--resume", checkpoint,
                                          "--save", model], capsys)
    assert code == 0, err
    assert "engine: numba" in out
    resumed, before = load(model), load(FIXTURE / "uninterrupted-4-epochs.json")
    for a, b in zip(resumed.weights + resumed.biases, before.weights + before.biases):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-5)


def test_an_old_checkpoint_with_other_settings_is_refused_in_one_line(tmp_path, monkeypatch,
                                                                        capsys):
    monkeypatch.chdir(ROOT)
    checkpoint = tmp_path / "run"
    shutil.copytree(FIXTURE / "run", checkpoint)
    flags = [w if w != "0.1" else "0.2" for w in OLD_FLAGS]        # --lmbda 0.2
    code, out, err = run_cli(flags + ["--epochs", "4", "--resume", checkpoint], capsys)
    assert code == 2 and "--lmbda 0.1 (now 0.2)" in err and len(err.strip().splitlines()) == 1


# ------------------------------------------------------------ import graph
def _imports():
    """{module: modules of nndl it imports (anywhere in the file)}."""
    src = ROOT / "src"
    modules = {}
    for path in (src / "nndl").rglob("*.py"):
        parts = list(path.relative_to(src).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    graph = {}
    for name, (path, is_package) in modules.items():
        package = name if is_package else name.rsplit(".", 1)[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = package.split(".")[:len(package.split(".")) - node.level + 1] \
                    if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                found |= {f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target
                          for a in node.names}
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def test_only_the_command_line_imports_it_and_no_modules_import_each_other_in_a_cycle():
    graph = _imports()
    assert "nndl.run" in graph and "nndl.cli" in graph
    # only ``python -m nndl`` (the entry point, as the console script) may import the CLI
    assert [m for m, deps in graph.items() if "nndl.cli" in deps] in ([], ["nndl.__main__"])
    done, active = set(), []

    def visit(module):
        if module in active:
            cycle = active[active.index(module):] + [module]
            pytest.fail(f"import cycle: {' -> '.join(cycle)}")
        if module in done:
            return
        active.append(module)
        for dep in sorted(graph[module]):
            visit(dep)
        active.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)


def test_nothing_in_the_library_names_the_book_shim():
    for path in (ROOT / "src" / "nndl").rglob("*.py"):
        text = path.read_text()
        assert "last_run" not in text, path
        assert "import network2" not in text and "network2.Network" not in text, path


def test_experiments_fit_names_hidden_and_output_neurons_and_takes_the_cost_that_belongs(
        tiny_data):
    from nndl.experiments.common import fit
    net, history = fit(tiny_data, [4, 6, 3], 2, 0.5, hidden="relu", output="softmax",
                       monitor=("training_cost",))
    assert [a.name for a in net.activations] == ["relu", "softmax"]
    assert net.cost.name == "log-likelihood" and len(history) == 2
    assert all(np.isfinite(r["training_cost"]) for r in history)
    plain, _ = fit(tiny_data, [4, 6, 3], 1, 0.5, regularization="none", lmbda=3.0)
    assert plain.cost.name == "cross-entropy"
