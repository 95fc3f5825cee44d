"""One trial: an ``nndl train`` configuration, trained and scored on the
validation set.

The trial's options become a ``RunConfig`` (each value checked by its
option's constraint), trained by the same ``nndl.run.build`` / ``Run.train``
as ``nndl train`` with one more callback, ``ReportToTrial``, which hands each
epoch's validation accuracy to Optuna and stops the run when the pruner says
it is hopeless.  A diverging trial is stopped by the run's own
``DivergenceCheck`` and pruned with its reason.  The data is loaded once per
process, not once per trial.
"""

import time

import numpy as np

from ..errors import DivergenceError
from ..options import to_argv

#: What every trial sets: the objective is the validation accuracy; no bars.
TRIAL_OPTIONS = {"monitor": ("evaluation-accuracy",), "progress": "off"}


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

    def __init__(self, space, report=None):
        self.space = space
        self.report = report    # one-line notices of a run (fast monitoring)
        self.data = {}          # (dataset, validation size) -> Splits

    def splits(self, config):
        """The data a config names, loaded once per process."""
        from ..data import load_dataset
        key = (config.dataset, config.validation_size)
        if key not in self.data:
            self.data[key] = load_dataset(config.dataset, validation_size=config.validation_size)
        return self.data[key]

    def config(self, settings):
        """The RunConfig for a trial's ``settings`` and the data it names."""
        splits = self.splits(self.space.config(settings, 1, 1, base_only=True))
        n_in = splits.training.images.shape[1]
        n_out = int(max(d.labels.max() for d in (splits.training, splits.test) if len(d))) + 1
        return self.space.config(settings, n_in, n_out), splits

    def train(self, config, splits, callbacks=()):
        """Train as ``config`` says (monitoring validation accuracy, no
        progress bar) on ``splits``; return the run and the final state."""
        from ..run import build
        run = build(config.replace(**TRIAL_OPTIONS), splits, report=self.report)
        with np.errstate(all="ignore"):          # a diverging trial is caught, not warned about
            state = run.train(callbacks)
        return run, state

    def __call__(self, trial):
        """Run one trial; return its final validation accuracy."""
        import optuna
        settings = self.space.settings(self.space.suggest(trial))
        settings.setdefault("seed", trial.number)    # every trial repeatable from its command
        config, splits = self.config(settings)
        trial.set_user_attr("argv", to_argv(config))
        trial.set_user_attr("config", config.as_dict())
        start = time.perf_counter()
        try:
            run, state = self.train(config, splits, [ReportToTrial(trial)])
        except DivergenceError as e:
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
    return run.network.accuracy(data.images, data.labels) / len(data)
