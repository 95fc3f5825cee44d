"""The chapter's procedure for the threshold learning rate ("How to choose a
neural network's hyper-parameters?").

Start at eta = 0.01; while the training cost decreases during the first few
epochs, multiply eta by 10; once it oscillates or increases, refine between
the last good and the first bad value.  The threshold is the largest eta at
which the cost still decreases.  The book: order of magnitude 0.1, refined
threshold 0.5, and -- "a factor of two below the threshold" -- a learning
rate of 0.25 (it adds that 0.5 "worked well enough over 30 epochs" that it
mostly kept 0.5).  Our threshold is compared with the book's threshold, our
recommendation (half our threshold, as ``nndl lr-find`` prints it) with the
book's 0.25.  Network as in ``multiple_eta``: [784, 30, 10], lmbda 5.0.
"""

import math

import numpy as np

from ..network import mean_cost
from ..regularization import L2
from .base import Claim, Experiment, Result
from .common import fit, line_plot, mnist, seed_list

FIRST_EPOCHS = 3
REFINE_STEPS = 4


class CostRecorder:
    """Record the training cost before training and after each epoch."""

    def __init__(self):
        self.costs = []

    def _record(self, state):
        """Append the current training cost (with the L2 penalty)."""
        d = state.training
        self.costs.append(mean_cost(state.network, d.images, d.labels, state.regularization))

    on_train_begin = _record
    on_epoch_end = _record


def decreases(costs):
    """Return whether every epoch lowered the cost (no oscillation, no rise)."""
    return bool(np.all(np.diff(np.asarray(costs)) < 0)) and bool(np.all(np.isfinite(costs)))


def first_epoch_costs(training, eta, seed, epochs):
    """Train ``epochs`` epochs at ``eta``; return the cost before and after each."""
    recorder = CostRecorder()
    fit(training, [784, 30, 10], epochs, eta, lmbda=5.0, seed=seed, callbacks=[recorder])
    return recorder.costs


def find_threshold(try_eta, start=0.01, refine_steps=REFINE_STEPS):
    """The chapter's search.  ``try_eta(eta)`` returns True if the cost
    decreases during the first epochs.  Returns (order of magnitude, threshold,
    trials): the last power of ten that decreases, the largest eta found that
    decreases after refining geometrically, and every (eta, ok) tried."""
    trials = []

    def trial(eta):
        ok = try_eta(eta)
        trials.append((eta, ok))
        return ok

    if trial(start):
        good = start
        while trial(good * 10):
            good *= 10
        bad = good * 10
    else:
        bad = start
        while not trial(bad / 10):
            bad /= 10
            if bad < 1e-8:
                return float("nan"), float("nan"), trials
        good = bad / 10
    magnitude = good
    for _ in range(refine_steps):
        mid = math.sqrt(good * bad)
        if trial(mid):
            good = mid
        else:
            bad = mid
    return magnitude, good, trials


def run(quick, seeds, out):
    """Run the search once per seed; plot the first-epoch costs it saw."""
    d = mnist()
    training, epochs = (d.training.subset(2000), 2) if quick else (d.training, FIRST_EPOCHS)
    values = {"magnitude": [], "threshold": [], "recommendation": []}
    series, lines = {}, []
    for s in seed_list(seeds):
        seen = {}

        def try_eta(eta):
            with np.errstate(all="ignore"):
                seen[eta] = first_epoch_costs(training, eta, s, epochs)
            return decreases(seen[eta])

        magnitude, threshold, trials = find_threshold(try_eta)
        values["magnitude"].append(magnitude)
        values["threshold"].append(threshold)
        values["recommendation"].append(threshold / 2)
        series[f"seed {s}"] = {"trials": [{"eta": e, "decreases": ok, "costs": seen[e]}
                                          for e, ok in trials]}
        if s == 0:
            lines = [(f"eta {e:.3g} ({'decreases' if ok else 'does not'})", range(epochs + 1),
                      seen[e]) for e, ok in trials]
    plot = line_plot(out / "first_epochs.png", lines, xlabel="epoch", ylabel="training cost",
                     title=f"training cost in the first {epochs} epochs, seed 0", logy=True)
    config = {"sizes": [784, 30, 10], "lmbda": 5.0, "first_epochs": epochs, "start": 0.01,
              "refine_steps": REFINE_STEPS, "train_size": len(training), "dtype": "float32"}
    notes = ["The book's threshold is 0.5 and its recommendation 0.25 (half the threshold); "
             "ours are compared with those two numbers respectively."]
    return Result(values, [plot], series, config, notes)


EXPERIMENT = Experiment(
    name="lr_threshold", section="How to choose a neural network's hyper-parameters?",
    title="Estimating the threshold learning rate from the training cost in the first epochs",
    claims=(
        Claim("magnitude", "order of magnitude of the threshold", 0.1, 0.0,
              "a power of ten either matches or not", unit=""),
        Claim("threshold", "refined threshold eta", 0.5, 0.3,
              "the book calls the refinement rough ('say eta = 0.5 or eta = 0.2'); 0.2-0.8 "
              "covers its examples", unit=""),
        Claim("recommendation", "recommended eta: half the threshold (the book: 0.25)", 0.25,
              0.15, "half the threshold's tolerance", unit=""),
    ),
    run=run)
