"""A softmax output layer with the log-likelihood cost against sigmoid outputs
with the cross-entropy ("Softmax").

The chapter gives no MNIST number for softmax; it says that "in many
situations both approaches work well", that softmax outputs always sum to 1
(equation (79)) and that sigmoid outputs in general do not.  Both networks
are the chapter's regularised [784, 30, 10] (N(0, 1) weights, eta 0.5,
lmbda 5.0, mini-batch 10, 30 epochs); we compare the test accuracy after the
last epoch and look at the sum of the ten outputs on every test image.
"""

import numpy as np

from .base import Claim, Experiment, Result
from .common import column, fit, histogram_plot, line_plot, mean_curve, mnist, seed_list

SETUPS = {"softmax + log-likelihood": ("log-likelihood", "softmax"),
          "sigmoid + cross-entropy": ("cross-entropy", "sigmoid")}


def output_sums(net, images):
    """Return the sum of the output activations for every row of ``images``."""
    return np.asarray(net.feedforward(images, dtype=np.float64)).sum(axis=1)


def run(quick, seeds, out):
    """Train both output layers once per seed; compare accuracy and output sums."""
    d = mnist()
    training, test, epochs = ((d.training.subset(2000), d.test.subset(1000), 3) if quick
                              else (d.training, d.test, 30))
    curves, sums = {}, {}
    for name, (cost, output) in SETUPS.items():
        curves[name], sums[name] = [], []
        for s in seed_list(seeds):
            net, h = fit(training, [784, 30, 10], epochs, 0.5, lmbda=5.0, init="large", seed=s,
                         cost=cost, output=output, evaluation=test,
                         monitor=("evaluation_accuracy",))
            curves[name].append(column(h, "evaluation_accuracy", 100))
            sums[name].append(output_sums(net, test.images))
    soft, sig = SETUPS
    values = {
        "difference": [a[-1] - b[-1] for a, b in zip(curves[soft], curves[sig])],
        "softmax_sum_error": [float(np.max(np.abs(x - 1.0))) for x in sums[soft]],
        "sigmoid_sum_departure": [float(np.mean(np.abs(x - 1.0))) for x in sums[sig]],
    }
    plots = [
        line_plot(out / "test_accuracy.png",
                  [(f"{n} (mean of {seeds})", range(1, epochs + 1), mean_curve(curves[n]))
                   for n in SETUPS], xlabel="epoch", ylabel="test accuracy (%)",
                  title="[784,30,10], eta 0.5, lmbda 5.0: softmax vs sigmoid outputs"),
        histogram_plot(out / "output_sums.png", [(n, sums[n][0]) for n in SETUPS],
                       bins=np.linspace(0.0, 2.0, 81),
                       xlabel="sum of the 10 output activations on a test image (seed 0)",
                       title="softmax outputs sum to 1; sigmoid outputs need not"),
    ]
    series = {n: {"test_accuracy": curves[n],
                  "output_sum_quantiles": [np.quantile(x, [0, 0.05, 0.5, 0.95, 1]).tolist()
                                           for x in sums[n]]} for n in SETUPS}
    config = {"sizes": [784, 30, 10], "eta": 0.5, "lmbda": 5.0, "init": "large",
              "mini_batch_size": 10, "epochs": epochs, "train_size": len(training),
              "test_size": len(test), "dtype": "float32"}
    return Result(values, plots, series, config)


EXPERIMENT = Experiment(
    name="softmax", section="Softmax",
    title="Softmax + log-likelihood versus sigmoid + cross-entropy on MNIST",
    claims=(
        Claim("difference", "test accuracy after 30 epochs, softmax + log-likelihood minus "
              "sigmoid + cross-entropy ('both approaches work well')", 0.0, 0.5,
              "no number in the book; 0.5 points is about two seed sds of the final-epoch "
              "accuracy of this network", unit="points"),
        Claim("softmax_sum_error", "largest |sum of the softmax outputs - 1| over the test "
              "images (equation (79): exactly 1)", 0.0, 1e-6,
              "the sum is 1 up to float64 rounding of float32 outputs", kind="at_most", unit=""),
        Claim("sigmoid_sum_departure", "mean |sum of the sigmoid outputs - 1| over the test "
              "images (the chapter: they 'won't in general' sum to 1)", 0.01, 0.0,
              "the book states a direction only; a typical departure of a hundredth or more "
              "is not a probability distribution", kind="at_least", unit=""),
    ),
    run=run)
