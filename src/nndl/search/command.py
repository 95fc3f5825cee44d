"""``nndl search``: hyper-parameter search over ``nndl train`` options.

The command line (``nndl.cli``) parses the flags; this module prints the
progress of a search and its report.

One machine::

    nndl search --space space.toml --trials 40

Many machines, one database::

    nndl search --space space.toml --trials 200 --study mnist --storage postgresql://...
    nndl search --worker --study mnist --storage postgresql://...     # on each other machine
"""

import sys
import time


class Progress:
    """Print one line per finished trial, with the best so far."""

    def __init__(self, target):
        self.target = target
        self.start = time.perf_counter()

    def __call__(self, study, trial):
        """Optuna calls this after each trial of this process."""
        from .report import trial_line
        from .study import finished
        if trial.state.name not in ("COMPLETE", "PRUNED"):
            return
        try:
            best = f"best {study.best_value:.2%} (#{study.best_trial.number})"
        except ValueError:                      # nothing completed yet
            best = "no completed trial yet"
        print(f"[{finished(study)}/{self.target}] {trial_line(trial)}   {best}  "
              f"({time.perf_counter() - self.start:.0f}s)", flush=True)


def report(study, objective, out, top):
    """Print the ranked table and the best configuration; write its config
    file, model and the plots into ``out``."""
    from ..persistence import save
    from ..outputs import atomic_write_text
    from ..options import to_toml
    from .report import best_config, command, print_table, test_accuracy, write_plots

    print_table(study, top)
    try:
        best = study.best_trial
    except ValueError:
        print("no trial completed, so there is no best configuration yet")
        return
    out.mkdir(parents=True, exist_ok=True)
    config = out / "best.toml"
    atomic_write_text(config, to_toml(best_config(best)))
    print(f"\nbest: trial #{best.number}, validation accuracy {best.value:.2%}")
    print(f"  {command(best.user_attrs['argv'])}")
    print(f"  nndl train --config {config}")
    _, validation, test, net = test_accuracy(study, objective)
    if validation != best.value:
        print(f"  note: retraining it gave validation accuracy {validation:.2%}, not "
              f"{best.value:.2%} (the run is not bit-for-bit repeatable here)", file=sys.stderr)
    print(f"test accuracy of the best configuration (measured once, after the search): "
          f"{test:.2%}")
    if net is not None:
        save(net, out / "best-model.json")
    written, skipped = write_plots(study, out)
    for path in written:
        print(f"wrote {path}")
    for reason in skipped:
        print(f"no plot: {reason}")
