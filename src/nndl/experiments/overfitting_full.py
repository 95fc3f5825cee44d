"""Overfitting with the full training set ("Overfitting and regularization").

[784, 30, 10], all 50,000 training images, 30 epochs, eta 0.5, mini-batch 10,
N(0, 1) weights, no regularisation: the best training accuracy (97.86%) is
2.53 points above the best test accuracy (95.33%).  ``regularized_full`` is
the same with lmbda 5.0.
"""

from .base import Claim, Experiment, Result
from .common import column, fit, line_plot, mnist, seed_list

FULL_TOLERANCE_REASON = ("a network trained on all 50,000 images varies by about 0.1-0.2 points "
                         "from seed to seed (see the spread); 0.5 points is a few such spreads")
MONITOR = ("training_accuracy", "evaluation_accuracy")


def setting(quick):
    """Return (training, test, validation, epochs): the book's, or a reduced one."""
    d = mnist()
    if quick:
        return d.training.subset(2000), d.test.subset(1000), d.validation.subset(1000), 3
    return d.training, d.test, d.validation, 30


def train_versus_test(quick, seeds, out, lmbda, sizes=(784, 30, 10)):
    """Train once per seed on the full data monitoring training and test
    accuracy; plot both per epoch; return (histories, plot, config)."""
    training, test, _, epochs = setting(quick)
    histories = [fit(training, list(sizes), epochs, 0.5, lmbda=lmbda, init="large", seed=s,
                     evaluation=test, monitor=MONITOR)[1] for s in seed_list(seeds)]
    lines = []
    for s, h in enumerate(histories):
        lines.append((f"training, seed {s}", range(epochs), column(h, "training_accuracy", 100)))
        lines.append((f"test, seed {s}", range(epochs), column(h, "evaluation_accuracy", 100)))
    plot = line_plot(out / "accuracy.png", lines, xlabel="epoch", ylabel="accuracy (%)",
                     title=f"{len(training):,} images, lmbda {lmbda}: training vs test")
    config = {"sizes": list(sizes), "train_size": len(training), "test_size": len(test),
              "epochs": epochs, "eta": 0.5, "mini_batch_size": 10, "lmbda": lmbda,
              "init": "large", "cost": "cross-entropy", "dtype": "float32"}
    return histories, plot, config


def run(quick, seeds, out):
    """No regularisation: best training and best test accuracy over the epochs."""
    histories, plot, config = train_versus_test(quick, seeds, out, lmbda=0.0)
    values = {
        "best_training_accuracy": [100 * max(column(h, "training_accuracy")) for h in histories],
        "best_test_accuracy": [100 * max(column(h, "evaluation_accuracy")) for h in histories],
    }
    series = {f"seed {s}": {k: column(h, k) for k in MONITOR} for s, h in enumerate(histories)}
    return Result(values, [plot], series, config)


EXPERIMENT = Experiment(
    name="overfitting_full", section="Overfitting and regularization",
    title="Overfitting with 50,000 images, 30 epochs, no regularization",
    claims=(
        Claim("best_training_accuracy", "best training accuracy", 97.86, 0.5, FULL_TOLERANCE_REASON),
        Claim("best_test_accuracy", "best test accuracy", 95.33, 0.5, FULL_TOLERANCE_REASON),
    ),
    run=run)
