"""Training cost for three learning rates ("How to choose a neural network's
hyper-parameters?").

[784, 30, 10], lmbda 5.0, mini-batch 10, 30 epochs, eta 0.025, 0.25 and 2.5
(the book's multiple_eta.py).  With 0.025 the cost falls smoothly to the
end; with 2.5 it oscillates from the start.
"""

import numpy as np

from .base import Claim, Experiment, Result
from .common import column, fit, line_plot, mean_curve, mnist, seed_list

ETAS = (0.025, 0.25, 2.5)


def rises(costs):
    """Return how many epochs end with a higher training cost than the one
    before: zero for a smooth descent, many for an oscillating one."""
    return int(np.count_nonzero(np.diff(np.asarray(costs)) > 0))


def run(quick, seeds, out):
    """Train once per (eta, seed), recording the training cost per epoch."""
    d = mnist()
    training, epochs = (d.training.subset(2000), 5) if quick else (d.training, 30)
    curves = {eta: [column(fit(training, [784, 30, 10], epochs, eta, lmbda=5.0, seed=s,
                                monitor=("training_cost",))[1], "training_cost")
                    for s in seed_list(seeds)] for eta in ETAS}
    lines = [(f"eta = {eta} (mean of {seeds})", range(epochs), mean_curve(curves[eta]))
             for eta in ETAS]
    plot = line_plot(out / "training_cost.png", lines, xlabel="epoch", ylabel="training cost",
                     title="[784,30,10], lmbda 5.0: training cost per epoch", logy=True)
    values = {f"rises_{eta}": [rises(c) for c in curves[eta]] for eta in ETAS}
    series = {f"eta {eta}": curves[eta] for eta in ETAS}
    config = {"sizes": [784, 30, 10], "etas": list(ETAS), "lmbda": 5.0, "epochs": epochs,
              "train_size": len(training), "mini_batch_size": 10, "dtype": "float32"}
    return Result(values, [plot], series, config)


EXPERIMENT = Experiment(
    name="multiple_eta", section="How to choose a neural network's hyper-parameters?",
    title="Training cost for eta = 0.025, 0.25, 2.5",
    claims=(
        Claim("rises_0.025", "eta 0.025: epochs in which the training cost rises ('decreases "
              "smoothly until the final epoch')", 0, 0, "a smooth descent never rises",
              kind="at_most", unit="epochs"),
        Claim("rises_2.5", "eta 2.5: epochs in which the training cost rises ('large "
              "oscillations right from the start')", 5, 0,
              "read as: the cost goes up in at least 5 of the 29 epoch-to-epoch steps",
              kind="at_least", unit="epochs"),
    ),
    run=run)
