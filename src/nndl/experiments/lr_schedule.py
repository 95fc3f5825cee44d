"""A variable learning-rate schedule against a fixed eta (the chapter's
exercise in "How to choose a neural network's hyper-parameters?": halve eta
each time the validation accuracy satisfies no-improvement-in-10, and stop
when eta has dropped to 1/128 of its initial value; the chapter's claim is
that "a variable learning schedule can improve performance").

The schedule is ``nndl.callbacks.HalvingSchedule``.  Each seed trains twice
from the same initial weights and shuffles: once with the schedule, and once
with eta fixed for the same number of epochs the schedule used, so the two
runs differ in the learning rate alone.  Both are scored after their last
epoch (neither restores an earlier epoch).

Setting (chosen so that three seeds take a few minutes on 2 cores):
[784, 30, 10], cross-entropy, the first 10,000 training images, eta0 0.5,
lmbda 1.0 (the chapter's 5.0 scaled to 10,000 images), mini-batch 10, the
schedule watched on the 10,000 validation images, at most 300 epochs.
"""

import numpy as np

from ..callbacks import HalvingSchedule
from .base import Claim, Experiment, Result
from .common import column, fit, line_plot, mnist, seed_list

ETA = 0.5
TRAIN_SIZE = 10000
LMBDA = 1.0
MAX_EPOCHS = 300


def halvings(etas):
    """Return the 1-based epochs after which eta was cut (where the next
    epoch's eta is lower than this one's)."""
    return [i + 1 for i in range(len(etas) - 1) if etas[i + 1] < etas[i]]


def pair(training, validation, test, seed, patience, max_epochs):
    """Train with the halving schedule, then with eta fixed for as many
    epochs; return {'schedule': ..., 'fixed': ...}, each with the per-epoch
    validation accuracy and eta and the final test accuracy (fractions)."""
    lmbda = LMBDA * len(training) / TRAIN_SIZE
    runs = {}
    for name in ("schedule", "fixed"):
        epochs = max_epochs if name == "schedule" else len(runs["schedule"]["validation"])
        callbacks = [HalvingSchedule(patience)] if name == "schedule" else []
        net, history = fit(training, [784, 30, 10], epochs, ETA, lmbda=lmbda, seed=seed,
                           evaluation=validation, monitor=("evaluation_accuracy",),
                           callbacks=callbacks)
        runs[name] = {"validation": column(history, "evaluation_accuracy"),
                      "eta": column(history, "eta"),
                      "test": net.accuracy(test.images, test.labels) / len(test)}
    return runs


def run(quick, seeds, out):
    """Train the pair once per seed; plot seed 0's curves and eta."""
    d = mnist()
    if quick:
        training, validation, test, patience, max_epochs = (d.training.subset(1000),
                                                            d.validation.subset(1000),
                                                            d.test.subset(1000), 2, 40)
    else:
        training, validation, test, patience, max_epochs = (d.training.subset(TRAIN_SIZE),
                                                            d.validation, d.test, 10, MAX_EPOCHS)
    runs = [pair(training, validation, test, s, patience, max_epochs) for s in seed_list(seeds)]
    first = runs[0]
    epochs = list(range(1, len(first["schedule"]["validation"]) + 1))
    plots = [
        line_plot(out / "validation.png",
                  [(f"fixed eta {ETA}", epochs, [100 * a for a in first["fixed"]["validation"]]),
                   ("halving schedule", epochs, [100 * a for a in first["schedule"]["validation"]])],
                  xlabel="epoch", ylabel="validation accuracy (%)",
                  title="seed 0: fixed eta against the halving schedule"),
        line_plot(out / "eta.png", [("halving schedule", epochs, first["schedule"]["eta"])],
                  xlabel="epoch", ylabel="eta", logy=True,
                  title=f"seed 0: eta halved on no-improvement-in-{patience}"),
    ]
    values = {
        "schedule_test_gain": [100 * (r["schedule"]["test"] - r["fixed"]["test"]) for r in runs],
        "schedule_validation_gain": [100 * (r["schedule"]["validation"][-1]
                                            - r["fixed"]["validation"][-1]) for r in runs],
    }
    series = {"runs": runs, "epochs": [len(r["schedule"]["eta"]) for r in runs],
              "halvings": [halvings(r["schedule"]["eta"]) for r in runs],
              "test_accuracy": {k: float(np.mean([r[k]["test"] for r in runs]))
                                for k in ("schedule", "fixed")}}
    config = {"sizes": [784, 30, 10], "train_size": len(training), "eta0": ETA,
              "lmbda": LMBDA * len(training) / TRAIN_SIZE, "mini_batch_size": 10,
              "patience": patience, "final_ratio": "1/128", "max_epochs": max_epochs,
              "validation_size": len(validation), "test_size": len(test), "dtype": "float32"}
    return Result(values, plots, series, config)


EXPERIMENT = Experiment(
    name="lr_schedule", section="How to choose a neural network's hyper-parameters?",
    title="Learning-rate schedule: halve eta on no-improvement-in-10, stop at eta/128",
    claims=(
        Claim("schedule_test_gain", "final test accuracy with the halving schedule minus fixed "
              "eta for the same epochs (the chapter: a variable learning schedule can improve "
              "performance)", 0.0, 0.0, "the chapter states a direction, not a size",
              kind="at_least", unit="points"),
        Claim("schedule_validation_gain", "final validation accuracy, schedule minus fixed eta",
              0.0, 0.0, "the chapter states a direction, not a size",
              kind="at_least", unit="points"),
    ),
    run=run)
