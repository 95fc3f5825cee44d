"""One trial: an ``nndl train`` command line, trained and scored on the
validation set.

The trial's options are turned into ``nndl train`` words and parsed by the
train parser itself, then trained by the same ``prepare_run``/``run_training``
as ``nndl train``, with two more callbacks: ``DivergenceGuard`` stops a run
whose weights stop being finite, and ``ReportToTrial`` hands each epoch's
validation accuracy to Optuna and stops the run when the pruner says it is
hopeless.  The data is loaded once per process, not once per trial.
"""

import time

import numpy as np

from ..errors import DivergenceError, NNDLError
from ..options import to_argv
from .space import HIDDEN

TRIAL_FLAGS = ["--monitor=evaluation-accuracy", "--progress=off"]


class Diverged(NNDLError):
    """The weights or biases of a trial stopped being finite numbers."""


class DivergenceGuard:
    """Stop a run as soon as a weight, a bias or a monitored cost is NaN or
    infinite."""

    def on_epoch_end(self, state):
        """Raise Diverged if the parameters or this epoch's costs are not finite."""
        net = state.network
        if not all(np.isfinite(p).all() for p in net.weights + net.biases):
            raise Diverged(f"diverged: weights not finite after epoch {state.epoch + 1}")
        for key, value in state.history[-1].items():
            if key.endswith("_cost") and not np.isfinite(value):
                raise Diverged(f"diverged: {key.replace('_', ' ')} {value} after epoch "
                               f"{state.epoch + 1}")


class ReportToTrial:
    """Report each epoch's validation accuracy to an Optuna trial and stop
    the run (optuna.TrialPruned) when the study's pruner says so."""

    def __init__(self, trial):
        self.trial = trial

    def on_epoch_end(self, state):
        """Report; prune if told to, recording why."""
        import optuna
        accuracy = state.history[-1]["evaluation_accuracy"]
        self.trial.report(accuracy, state.epoch)
        if self.trial.should_prune():
            reason = f"pruned at epoch {state.epoch + 1}: validation accuracy {accuracy:.2%}"
            self.trial.set_user_attr("reason", reason)
            raise optuna.TrialPruned(reason)


class Objective:
    """The function Optuna maximises: validation accuracy after training
    with a trial's options.  Callable as ``objective(trial)``."""

    def __init__(self, space, train_parser):
        self.space = space
        self.parser = train_parser
        self.data = {}          # (dataset, validation size) -> Splits

    def splits(self, args):
        """The data named by parsed train flags, loaded once per process."""
        from ..data import load_dataset
        key = (args.dataset, args.validation_size)
        if key not in self.data:
            self.data[key] = load_dataset(args.dataset, validation_size=args.validation_size)
        return self.data[key]

    def command(self, settings):
        """The ``nndl train`` words for ``settings`` and the data they name."""
        base = {k: v for k, v in settings.items() if k != HIDDEN}
        splits = self.splits(self.parser.parse_args(to_argv(base, self.parser, "trial")))
        n_in = splits.training.images.shape[1]
        n_out = int(max(d.labels.max() for d in (splits.training, splits.test) if len(d))) + 1
        return self.space.train_argv(settings, n_in, n_out, self.parser), splits

    def train(self, argv, splits, callbacks=()):
        """Train as ``argv`` says on ``splits``; return the run and the final state."""
        from ..cli import prepare_run, run_training
        run = prepare_run(self.parser.parse_args(argv + TRIAL_FLAGS), splits=splits)
        with np.errstate(all="ignore"):          # a diverging trial is caught, not warned about
            state = run_training(run, [DivergenceGuard(), *callbacks])
        return run, state

    def __call__(self, trial):
        """Run one trial; return its final validation accuracy."""
        import optuna
        settings = self.space.settings(self.space.suggest(trial))
        settings.setdefault("seed", trial.number)    # every trial repeatable from its command
        argv, splits = self.command(settings)
        trial.set_user_attr("argv", argv)
        start = time.perf_counter()
        try:
            run, state = self.train(argv, splits, [ReportToTrial(trial)])
        except (Diverged, DivergenceError) as e:
            trial.set_user_attr("reason", str(e))
            raise optuna.TrialPruned(str(e)) from None
        finally:
            trial.set_user_attr("seconds", round(time.perf_counter() - start, 2))
        trial.set_user_attr("epochs_run", len(state.history))
        return final_accuracy(run, state)


def final_accuracy(run, state):
    """Validation accuracy at the end of the run (measured if no epoch ran)."""
    if state.history:
        return state.history[-1]["evaluation_accuracy"]
    data = run.evaluation
    return run.net.accuracy(data.images, data.labels) / len(data)
