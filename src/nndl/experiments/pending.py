"""Experiments that need features not yet in the library.

They are listed so that ``nndl reproduce --list`` shows the whole chapter;
each becomes a module like the others once its feature lands.
"""

from .base import Experiment

TECHNIQUES = "pending: needs the techniques features (early stopping, learning-rate schedules)"

EXPERIMENTS = (
    Experiment(name="early_stopping", section="How to choose a neural network's hyper-parameters?",
               title="Early stopping: no-improvement-in-n against fixed epochs", claims=(),
               pending=TECHNIQUES),
    Experiment(name="lr_schedule", section="How to choose a neural network's hyper-parameters?",
               title="Learning-rate schedule: halve eta on no-improvement-in-10, stop at eta/128",
               claims=(), pending=TECHNIQUES),
    Experiment(name="expansion", section="Other techniques for regularization",
               title="Artificially expanded training data: with and without", claims=(),
               pending="pending: needs the data-expansion feature"),
)
