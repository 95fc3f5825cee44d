"""nndl.experiments
~~~~~~~~~~~~~~~~~

The chapter's experiments, one module each, in the order of the chapter.
Each module defines ``EXPERIMENT`` (see :mod:`.base`); ``EXPERIMENTS`` maps
names to them.  Experiments whose features are not in the library yet are
registered as pending (:mod:`.pending`).
"""

import importlib

from .base import Claim, Experiment, Result, judge, summarize

MODULES = ("slowdown", "overfitting", "regularized", "overfitting_full", "regularized_full",
           "weight_init", "z_distribution", "multiple_eta", "lr_threshold",
           "hyperparameter_walkthrough", "more_data", "svm_full", "l1_vs_l2", "mini_batch_time", "early_stopping",
           "lr_schedule", "expansion", "cross_entropy", "softmax", "activations",
           "replicability", "ensemble", "figures", "optimizers")


def _registry():
    """Return {name: Experiment} for every module, then the pending ones."""
    from .pending import EXPERIMENTS as PENDING
    found = [importlib.import_module(f".{m}", __name__).EXPERIMENT for m in MODULES]
    return {e.name: e for e in found + list(PENDING)}


EXPERIMENTS = _registry()

__all__ = ["Claim", "Experiment", "Result", "EXPERIMENTS", "judge", "summarize"]
