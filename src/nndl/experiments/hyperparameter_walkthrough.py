"""The chapter's first steps in hyper-parameter search ("How to choose a
neural network's hyper-parameters?", broad strategy).

1. [784, 30, 10], eta 10.0, lmbda 1000.0 on all the data: chance level.
2. Strip down to [784, 10], the first 1,000 training and 100 validation
   images: with lmbda 1000.0 still chance; with lmbda 20.0 (weight decay
   rescaled to the smaller set) a signal; eta 100.0 is back to chance; eta
   1.0 is much better.
We report the mean validation accuracy over the epochs the book prints.
"""

import numpy as np

from .base import Claim, Experiment, Result
from .common import column, fit, line_plot, mnist, seed_list

STEPS = (  # key, sizes, small data?, eta, lmbda, epochs the book prints
    ("full_eta10_lmbda1000", [784, 30, 10], False, 10.0, 1000.0, 30),
    ("small_eta10_lmbda1000", [784, 10], True, 10.0, 1000.0, 3),
    ("small_eta10_lmbda20", [784, 10], True, 10.0, 20.0, 4),
    ("small_eta100_lmbda20", [784, 10], True, 100.0, 20.0, 4),
    ("small_eta1_lmbda20", [784, 10], True, 1.0, 20.0, 4),
)
SMALL_REASON = ("100 validation images: one epoch's accuracy has a binomial spread of about 5 "
                "points, and the book's own epochs swing by 10-20 points")


def run(quick, seeds, out):
    """Run each step once per seed; plot the validation accuracy per epoch."""
    d = mnist()
    values, series, plots = {}, {}, []
    for key, sizes, small, eta, lmbda, shown in STEPS:
        if small:
            training, validation, epochs = d.training.subset(1000), d.validation.subset(100), 30
        else:
            training, validation, epochs = ((d.training.subset(2000), d.validation.subset(1000), 3)
                                            if quick else (d.training, d.validation, 30))
        if quick:
            epochs = min(epochs, shown)
        curves = []
        for s in seed_list(seeds):
            with np.errstate(all="ignore"):   # eta 100 drives the weights to overflow
                _, h = fit(training, sizes, epochs, eta, lmbda=lmbda, seed=s,
                           evaluation=validation, monitor=("evaluation_accuracy",))
            curves.append(column(h, "evaluation_accuracy", 100))
        values[key] = [float(np.mean(c[:shown])) for c in curves]
        series[key] = {"sizes": sizes, "eta": eta, "lmbda": lmbda, "train_size": len(training),
                       "validation_size": len(validation), "validation_accuracy": curves}
        plots.append(line_plot(out / f"{key}.png",
                               [(f"seed {s}", range(epochs), c) for s, c in enumerate(curves)],
                               xlabel="epoch", ylabel="validation accuracy (%)",
                               title=f"{sizes}, {len(training):,} images, eta {eta}, lmbda {lmbda}"))
    return Result(values, plots, series, {"mini_batch_size": 10, "dtype": "float32",
                                          "init": "default", "cost": "cross-entropy"})


EXPERIMENT = Experiment(
    name="hyperparameter_walkthrough", section="How to choose a neural network's hyper-parameters?",
    title="Broad strategy: from chance level to a signal",
    claims=(
        Claim("full_eta10_lmbda1000", "[784,30,10], eta 10, lmbda 1000: mean validation "
              "accuracy (book: 1030, 990, 1009, ..., 967 of 10,000)", 10.0, 1.5,
              "chance level: predicting one digit scores that digit's share, 9-11%"),
        Claim("small_eta10_lmbda1000", "[784,10], 1,000 images, eta 10, lmbda 1000: epochs 0-2 "
              "(book: 10, 10, 10 of 100)", 10.0, 5.0, SMALL_REASON),
        Claim("small_eta10_lmbda20", "lmbda 20: epochs 0-3 (book: 12, 14, 25, 18 of 100)", 17.25,
              10.0, SMALL_REASON),
        Claim("small_eta100_lmbda20", "eta 100, lmbda 20: epochs 0-3 (book: 10, 10, 10, 10 of "
              "100)", 10.0, 5.0, SMALL_REASON),
        Claim("small_eta1_lmbda20", "eta 1, lmbda 20: epochs 0-3 (book: 62, 42, 43, 61 of 100)",
              52.0, 15.0, SMALL_REASON),
    ),
    run=run)
