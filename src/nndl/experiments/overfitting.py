"""Overfitting on 1,000 images ("Overfitting and regularization").

[784, 30, 10], cross-entropy, the first 1,000 training images, 400 epochs,
eta 0.5, mini-batch 10, weights from N(0, 1) (the book's
``large_weight_initializer``), test data monitored every epoch.  With no
regularisation the training cost keeps falling while the test accuracy
stalls near 82% and the test cost starts rising after epoch 15 or so.
``regularized`` reuses ``run_small`` with lmbda 0.1.
"""

import numpy as np

from .base import Claim, Experiment, Result
from .common import column, fit, line_plot, mnist, seed_list

MONITOR = ("training_cost", "training_accuracy", "evaluation_cost", "evaluation_accuracy")
SMALL_TOLERANCE_REASON = ("a network trained on only 1,000 images varies by about half a point "
                          "from seed to seed (see the spread); 1.5 points is three such spreads")


def setting(quick):
    """Return (training set, test set, epochs): the book's, or a reduced one."""
    data = mnist()
    if quick:
        return data.training.subset(1000), data.test.subset(1000), 30
    return data.training.subset(1000), data.test, 400


def run_small(quick, seeds, out, lmbda):
    """Train the 1,000-image network once per seed; plot the book's four
    graphs; return the per-seed histories' summaries."""
    training, test, epochs = setting(quick)
    histories = [fit(training, [784, 30, 10], epochs, 0.5, lmbda=lmbda, init="large", seed=s,
                     evaluation=test, monitor=MONITOR)[1] for s in seed_list(seeds)]
    start = epochs // 2
    graphs = (("training_cost", "cost on the training data", start, 1),
              ("evaluation_accuracy", "accuracy (%) on the test data", start, 100),
              ("evaluation_cost", "cost on the test data", 0, 1),
              ("training_accuracy", "accuracy (%) on the training data", 0, 100))
    plots = []
    for key, label, first, scale in graphs:
        lines = [(f"seed {s}", range(first, epochs), column(h, key, scale)[first:])
                 for s, h in enumerate(histories)]
        plots.append(line_plot(out / f"{key}.png", lines, xlabel="epoch", ylabel=label,
                               title=f"1,000 images, lmbda {lmbda}: {label}"))
    series = {f"seed {s}": {k: column(h, k) for k in MONITOR} for s, h in enumerate(histories)}
    config = {"sizes": [784, 30, 10], "train_size": len(training), "test_size": len(test),
              "epochs": epochs, "eta": 0.5, "mini_batch_size": 10, "lmbda": lmbda,
              "init": "large", "cost": "cross-entropy", "dtype": "float32"}
    return histories, plots, series, config


def run(quick, seeds, out):
    """No regularisation: the peak test accuracy, the training accuracy at the
    end, and the epoch where the test cost is lowest."""
    histories, plots, series, config = run_small(quick, seeds, out, lmbda=0.0)
    values = {
        "peak_test_accuracy": [100 * max(column(h, "evaluation_accuracy")) for h in histories],
        "final_training_accuracy": [100 * h[-1]["training_accuracy"] for h in histories],
        "test_cost_min_epoch": [int(np.argmin(column(h, "evaluation_cost"))) for h in histories],
    }
    return Result(values, plots, series, config)


EXPERIMENT = Experiment(
    name="overfitting", section="Overfitting and regularization",
    title="Overfitting: [784,30,10] on 1,000 images for 400 epochs, no regularization",
    claims=(
        Claim("peak_test_accuracy", "test accuracy tops out at", 82.27, 1.5,
              SMALL_TOLERANCE_REASON),
        Claim("final_training_accuracy", "training accuracy after 400 epochs ('rises all the way "
              "up to 100 percent')", 100.0, 0.0, "every one of the 1,000 images is learnt",
              kind="at_least"),
        Claim("test_cost_min_epoch", "epoch at which the test cost is lowest ('improves until "
              "around epoch 15')", 15, 10, "the book says 'around'; the minimum is shallow, so "
              "its position moves by several epochs between seeds", unit="epochs"),
    ),
    run=run)
