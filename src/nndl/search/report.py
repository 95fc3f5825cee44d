"""What a search leaves behind: a ranked table of trials, the best
configuration as an ``nndl train`` command and a config file, its test
accuracy (measured once, after the search), and Optuna's plots as PNG."""

import math
import shlex
import warnings
from pathlib import Path

from ..persistence import save_figure

TEST_ATTR = "nndl_test"        # study attribute caching the best trial's test accuracy


def ranked(study):
    """Completed trials by validation accuracy (best first), then pruned ones
    by their last reported accuracy."""
    from optuna.trial import TrialState
    trials = study.get_trials(deepcopy=False)
    done = sorted((t for t in trials if t.state == TrialState.COMPLETE),
                  key=lambda t: -t.value)
    pruned = sorted((t for t in trials if t.state == TrialState.PRUNED),
                    key=lambda t: -last_value(t))
    return done + pruned


def last_value(trial):
    """The last intermediate value a trial reported (NaN if none)."""
    steps = trial.intermediate_values
    return steps[max(steps)] if steps else math.nan


def trial_line(trial):
    """One line describing a finished trial."""
    from optuna.trial import TrialState
    value = trial.value if trial.state == TrialState.COMPLETE else last_value(trial)
    params = "  ".join(f"{k}={fmt(v)}" for k, v in trial.params.items())
    note = "" if trial.state == TrialState.COMPLETE else f"  ({trial.user_attrs.get('reason', '')})"
    return (f"#{trial.number:<4} {trial.state.name.lower():<8} {value:>7.2%}  "
            f"{trial.user_attrs.get('seconds', math.nan):>7.1f}s  {params}{note}")


def fmt(value):
    """A parameter value, short."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def print_table(study, top=10):
    """Print the ``top`` trials, best first, and how many others there are."""
    from optuna.trial import TrialState
    rows = ranked(study)
    counts = {s.name.lower(): len(study.get_trials(deepcopy=False, states=(s,)))
              for s in TrialState}
    print("\nrank  trial state    val acc  seconds  parameters")
    for i, t in enumerate(rows[:top], 1):
        print(f"{i:>4}  {trial_line(t)}")
    print("trials: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n))


def command(argv):
    """The best configuration as a ready-to-run shell command."""
    return "nndl train " + shlex.join(argv)


def best_config(trial):
    """The RunConfig a trial trained with (as it would run from the command
    line: default monitoring and progress bar).  Trials stored before trials
    recorded their config have only their ``--flag=value`` words."""
    from ..options import settings_from
    from ..params import Repeated
    from ..run import RunConfig, config_field
    if "config" in trial.user_attrs:
        return RunConfig(**trial.user_attrs["config"])
    doc = {}
    for word in trial.user_attrs["argv"]:
        name, has_value, value = word[2:].partition("=")
        field = config_field(name.replace("-", "_"))
        if not has_value:
            negated = field is None and name.startswith("no-")
            doc[name[3:] if negated else name] = not negated
        elif field is not None and isinstance(field.metadata["constraint"], Repeated):
            doc.setdefault(name, []).append(value)
        else:
            doc[name] = value
    return RunConfig(**settings_from(doc, f"trial #{trial.number}"))


def test_accuracy(study, objective):
    """Train the best trial's configuration once more (its seed makes it the
    same run) and measure it on the test set; cached in the study, so the test
    set is used once per best trial.  Returns (trial, validation, test, net)."""
    best = study.best_trial
    cached = study.user_attrs.get(TEST_ATTR)
    if cached and cached["trial"] == best.number:
        return best, cached["validation_accuracy"], cached["test_accuracy"], None
    from .objective import final_accuracy
    config = best_config(best)
    run, state = objective.train(config, objective.splits(config))
    validation = final_accuracy(run, state)
    test_set = run.splits.test
    test = run.network.accuracy(test_set.images, test_set.labels) / len(test_set)
    study.set_user_attr(TEST_ATTR, {"trial": best.number, "validation_accuracy": validation,
                                    "test_accuracy": test})
    return best, validation, test, run.network


def write_plots(study, out_dir):
    """Save Optuna's optimisation history, parameter importance and slice
    plots as PNG in ``out_dir``; return (written paths, skipped reasons)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm
    written, skipped = [], []
    for name, plot in (("history", ovm.plot_optimization_history),
                       ("importance", ovm.plot_param_importances),
                       ("slice", ovm.plot_slice)):
        path = Path(out_dir) / f"{name}.png"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")      # Optuna marks these plots experimental
                axes = plot(study)
            figure = getattr(axes, "figure", None) or axes.flat[0].figure
            save_figure(figure, path, dpi=100, bbox_inches="tight")
            plt.close(figure)
            written.append(path)
        except (ValueError, RuntimeError) as e:     # e.g. too few trials for importances
            skipped.append(f"{name}: {e}")
    return written, skipped
