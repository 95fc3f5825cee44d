"""``nndl search``: hyper-parameter search over ``nndl train`` options.

One machine::

    nndl search --space space.toml --trials 40

Many machines, one database::

    nndl search --space space.toml --trials 200 --study mnist --storage postgresql://...
    nndl search --worker --study mnist --storage postgresql://...     # on each other machine
"""

import sys
import time
from pathlib import Path

from ..errors import ConfigError


def add_search_parser(sub):
    """Register ``nndl search``."""
    from ..cli import positive_float, positive_int
    from .study import DEFAULT_STORAGE, PRUNERS, SAMPLERS
    s = sub.add_parser(
        "search", help="search hyper-parameters (grid, random, TPE, Gaussian process) with Optuna",
        description="Search over any 'nndl train' options.  Each trial trains with options "
        "drawn from the space file and is scored by its final validation accuracy (never "
        "test accuracy); hopeless trials are pruned from their per-epoch validation accuracy "
        "and diverging ones stopped.  At the end: a ranked table, the best configuration as "
        "an 'nndl train' command and a --config file, its test accuracy (measured once), and "
        "plots.  Trials are stored in a database as they finish, so a killed search resumes "
        "and several workers can share one study.")
    s.add_argument("--space", metavar="SPACE.toml",
                   help="the search space: keys are 'nndl train' flag names; a value "
                        '{type="float"|"int"|"categorical", ...} is searched, anything else '
                        "fixed (needed to start a study; workers read it from the study)")
    s.add_argument("--trials", type=positive_int, default=None,
                   help="finish this many trials in the study as a whole, counting earlier "
                        "runs and other workers (default: the study's, or 20 for a new one)")
    s.add_argument("--sampler", choices=SAMPLERS, default=None,
                   help="tpe (default), random, grid (every combination; needs steps or "
                        "choices), gp (needs PyTorch and SciPy)")
    s.add_argument("--pruner", choices=PRUNERS, default=None,
                   help="stop hopeless trials early: median (default), halving "
                        "(successive halving), none")
    s.add_argument("--storage", default=DEFAULT_STORAGE,
                   help="database URL (sqlite:///FILE.db, postgresql://user:pw@host/db, any "
                        f"SQLAlchemy URL) or a SQLite file path (default: {DEFAULT_STORAGE})")
    s.add_argument("--study", default="nndl-search", help="study name (default: nndl-search)")
    s.add_argument("--timeout", type=positive_float, default=None, metavar="S",
                   help="stop starting trials after S seconds")
    s.add_argument("--seed", type=int, default=None, help="seed for the sampler")
    s.add_argument("--worker", action="store_true",
                   help="join the study and run trials only (no report)")
    s.add_argument("--out", metavar="DIR", default=None,
                   help="where to write best.toml, best-model.json and the plots "
                        "(default: search-STUDY)")
    s.add_argument("--top", type=positive_int, default=10, help="rows in the table (default: 10)")
    s.set_defaults(handler=cmd_search)


def cmd_search(args):
    """Run (or join, or resume) a search; then report, unless a worker."""
    try:
        import optuna
    except ImportError:
        raise ConfigError("nndl search needs Optuna: pip install 'nndl[search]'") from None
    from ..cli import build_parser
    from .objective import Objective
    from .space import Space
    from .study import finished, open_storage, open_study, run_trials

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    train_parser = build_parser().subcommands["train"]
    space = Space.from_toml(args.space, train_parser) if args.space else None
    storage = open_storage(args.storage, create=space is not None, study=args.study)
    study, space, settings = open_study(storage, args.study, space=space, trials=args.trials,
                                        sampler=args.sampler, pruner=args.pruner,
                                        seed=args.seed)
    objective = Objective(space, train_parser)
    target = settings["trials"]
    print(f"study {args.study!r}: {finished(study)} of {target} trials finished; "
          f"sampler {settings['sampler']}, pruner {settings['pruner']}", flush=True)
    run_trials(study, objective, target, args.timeout, [Progress(target)])
    if args.worker:
        return 0
    report(study, objective, train_parser, Path(args.out or f"search-{args.study}"), args.top)
    return 0


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


def report(study, objective, train_parser, out, top):
    """Print the ranked table and the best configuration; write its config
    file, model and the plots into ``out``."""
    from ..persistence import atomic_write_text, save
    from .report import argv_to_toml, command, print_table, test_accuracy, write_plots

    print_table(study, top)
    try:
        best = study.best_trial
    except ValueError:
        print("no trial completed, so there is no best configuration yet")
        return
    out.mkdir(parents=True, exist_ok=True)
    argv = best.user_attrs["argv"]
    config = out / "best.toml"
    atomic_write_text(config, argv_to_toml(argv, train_parser))
    print(f"\nbest: trial #{best.number}, validation accuracy {best.value:.2%}")
    print(f"  {command(argv)}")
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
