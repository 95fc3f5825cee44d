"""The optimisers of "Variations on stochastic gradient descent" side by side.

The chapter presents the Hessian technique (equations (103)-(106)): Newton's
step w -> w - H^-1 grad C "can converge in fewer steps than standard
gradient descent", but the Hessian is huge (a network of 10^7 weights has
10^14 second derivatives), so each step is very expensive.  It then offers
momentum-based gradient descent (equations (107)-(108)) as the practical
middle way: a little of the Hessian's idea -- it remembers the direction of
travel -- for almost no extra work per step; and names conjugate gradient,
BFGS and L-BFGS, and Nesterov's accelerated gradient.

Two problems, each minimising the same regularised training cost with every
method:

* **tiny**: [196, 5, 10] (sigmoid hidden layer, softmax with log-likelihood)
  on the first 1,000 MNIST training images averaged over 2x2 pixel blocks to
  14x14, lmbda 1.0: 1,045 parameters, so the exact Hessian (1,045^2 entries)
  is affordable at every step and Newton's method takes part;
* **chapter**: [784, 30, 10] (sigmoid, cross-entropy) on the first 10,000
  images, lmbda 1.0: 23,860 parameters, a 4.2 GiB Hessian -- no Newton.

Per-step methods (SGD, momentum, Nesterov, Adam) count an iteration as one
epoch (one pass over the data in mini-batches of 10); full-batch methods
(L-BFGS, CG, Newton) one iteration of the method (at least one pass).  Time
is training time only (monitoring excluded), on one BLAS thread, and every
per-step method runs on the reference step, so that their times compare the
methods rather than the engines.
"""

import math

import numpy as np

from ..data.dataset import Dataset
from ..fullbatch import LBFGS, ConjugateGradient, Newton, minimize
from ..network import Network
from ..optimizers import SGD, Adam, Momentum
from ..regularization import L2
from ..training import Monitor, train
from .base import Claim, Experiment, Result
from .common import line_plot, mnist, one_blas_thread

LMBDA = 1.0
MINI_BATCH = 10
EARLY_EPOCHS = 5             # "speeds up learning": judged on the first epochs' costs
PER_STEP = {                       # name: optimiser factory (same eta for SGD and momentum)
    "SGD": lambda: SGD(0.1),
    "momentum": lambda: Momentum(0.1, 0.9),
    "Nesterov": lambda: Momentum(0.1, 0.9, nesterov=True),
    "Adam": lambda: Adam(0.001),
}
FULL_BATCH = {"L-BFGS": LBFGS, "CG": ConjugateGradient, "Newton": Newton}


def pooled(data):
    """Return ``data`` with its 28x28 images averaged over 2x2 blocks (14x14)."""
    n = len(data)
    return Dataset(data.images.reshape(n, 14, 2, 14, 2).mean(axis=(2, 4)).reshape(n, 196),
                   data.labels)


def problems(quick):
    """Return {name: (training data, sizes, cost, dtype, epochs, iterations)}."""
    d = mnist()
    tiny = pooled(d.training.subset(300 if quick else 1000))
    chapter = d.training.subset(1000 if quick else 10000)
    return {
        "tiny": (tiny, [196, 5, 10], "log-likelihood", "float64",
                 3 if quick else 40, {"L-BFGS": 10 if quick else 200,
                                      "CG": 10 if quick else 200, "Newton": 3 if quick else 20}),
        "chapter": (chapter, [784, 30, 10], "cross-entropy", "float32",
                    2 if quick else 30, {"L-BFGS": 10 if quick else 100,
                                         "CG": 10 if quick else 100}),
    }


def curve(history):
    """Return (iterations, cumulative training seconds, training costs)."""
    seconds = np.cumsum([r["train_seconds"] for r in history])
    return (list(range(1, len(history) + 1)), [float(s) for s in seconds],
            [float(r["training_cost"]) for r in history])


def run_method(name, training, sizes, cost, dtype, epochs, iterations):
    """Train a fresh network (seed 0) with one method; return its curve."""
    net = Network(sizes, cost=cost, dtype=dtype, seed=0)
    monitor = [Monitor(training_cost=True)]
    with one_blas_thread():
        if name in PER_STEP:
            state = train(net, training, epochs, MINI_BATCH, PER_STEP[name](),
                          regularization=L2(LMBDA), callbacks=monitor, engine="reference")
        else:
            state = minimize(net, training, iterations[name], FULL_BATCH[name](),
                             regularization=L2(LMBDA), callbacks=monitor)
    return curve(state.history), state.stop


def iterations_to(costs, target):
    """Return the first iteration (1-based) whose cost is <= target, else inf."""
    return next((i + 1 for i, c in enumerate(costs) if c <= target), math.inf)


def run(quick, seeds, out):
    """Every method on both problems (seed 0: a timing, not an average)."""
    curves, notes, plots = {}, [], []
    for pname, (training, sizes, cost, dtype, epochs, iterations) in problems(quick).items():
        names = list(PER_STEP) + [m for m in FULL_BATCH if m in iterations]
        curves[pname] = {}
        for name in names:
            (its, secs, costs), stop = run_method(name, training, sizes, cost, dtype, epochs,
                                                  iterations)
            curves[pname][name] = {"iterations": its, "seconds": secs, "training_cost": costs}
            if stop:
                notes.append(f"{pname}/{name} stopped: {stop}")
        c = curves[pname]
        plots.append(line_plot(out / f"{pname}_cost_vs_iterations.png",
                               [(n, c[n]["iterations"], c[n]["training_cost"]) for n in names],
                               logx=True, logy=True, xlabel="iteration (epoch for per-step methods)",
                               ylabel="training cost (with L2 term)",
                               title=f"{pname}: {sizes}, {len(training)} images"))
        plots.append(line_plot(out / f"{pname}_cost_vs_seconds.png",
                               [(n, c[n]["seconds"], c[n]["training_cost"]) for n in names],
                               logx=True, logy=True, xlabel="training time (s)",
                               ylabel="training cost (with L2 term)",
                               title=f"{pname}: cost against wall-clock time"))
    values = claim_values(curves, notes)
    return Result(values, plots, curves, config(quick), notes=notes + [
        "wall-clock times depend on the machine and its load; iterations do not"])


def claim_values(curves, notes):
    """The numbers the claims judge, from the curves."""
    tiny, chapter = curves["tiny"], curves["chapter"]
    newton = tiny["Newton"]["training_cost"]
    target = newton[-1] * 1.01                       # within 1% of where Newton ends
    lbfgs_its = iterations_to(tiny["L-BFGS"]["training_cost"], target)
    newton_its = iterations_to(newton, target)
    if lbfgs_its == math.inf:
        lbfgs_its = len(tiny["L-BFGS"]["training_cost"])
        notes.append(f"L-BFGS did not come within 1% of Newton's final cost {newton[-1]:.4f} "
                     f"in {lbfgs_its} iterations: the steps ratio is an upper bound")
    per_iteration = {n: tiny[n]["seconds"][-1] / len(tiny[n]["seconds"]) for n in tiny}
    values = {
        "newton_steps_ratio": [newton_its / lbfgs_its],
        "newton_step_cost": [per_iteration["Newton"] / per_iteration["L-BFGS"]],
    }
    for pname, c in (("tiny", tiny), ("chapter", chapter)):
        early = slice(0, EARLY_EPOCHS)
        values[f"{pname}_momentum_gain"] = [float(np.mean(c["SGD"]["training_cost"][early])
                                                  - np.mean(c["momentum"]["training_cost"][early]))]
        if c["momentum"]["training_cost"][-1] > c["SGD"]["training_cost"][-1]:
            notes.append(f"{pname}: after the last epoch momentum's cost "
                         f"{c['momentum']['training_cost'][-1]:.4f} is above SGD's "
                         f"{c['SGD']['training_cost'][-1]:.4f}: with the same eta its "
                         "effective step eta / (1 - mu) is ten times larger, and the "
                         "mini-batch noise keeps it higher late in training (the chapter: "
                         "mu has to be chosen, like eta, on validation data)")
        values[f"{pname}_momentum_step_cost"] = [
            (c["momentum"]["seconds"][-1] / len(c["momentum"]["seconds"]))
            / (c["SGD"]["seconds"][-1] / len(c["SGD"]["seconds"]))]
    return values


def config(quick):
    """The settings, for the report."""
    return {"lmbda": LMBDA, "mini_batch_size": MINI_BATCH, "seed": 0, "blas_threads": 1,
            "per_step": {"SGD": "eta 0.1", "momentum": "eta 0.1, mu 0.9",
                         "Nesterov": "eta 0.1, mu 0.9", "Adam": "eta 0.001, betas 0.9, 0.999"},
            "full_batch": "L-BFGS (memory 10), CG (Polak-Ribiere+, restarts), Newton "
                          "(exact Hessian, Levenberg-Marquardt damping)",
            "tiny": "[196, 5, 10] sigmoid/softmax, log-likelihood, float64, "
                    f"{300 if quick else 1000} images pooled to 14x14",
            "chapter": f"[784, 30, 10] sigmoid, cross-entropy, float32, "
                       f"{1000 if quick else 10000} images"}


EXPERIMENT = Experiment(
    name="optimizers", section="Variations on stochastic gradient descent",
    title="SGD, momentum, Nesterov, Adam, L-BFGS, CG and Newton on the same cost",
    uses_seeds=False,
    claims=(
        Claim("newton_steps_ratio", "tiny problem: iterations Newton needs to come within 1% "
              "of its final cost, divided by the iterations L-BFGS needs for the same cost",
              0.5, 0.0, "the chapter: the Hessian technique converges in fewer steps than "
              "methods that use the gradient alone; 'fewer' read as at most half",
              kind="at_most", unit="ratio"),
        Claim("newton_step_cost", "tiny problem: seconds per Newton iteration divided by "
              "seconds per L-BFGS iteration", 10.0, 0.0, "the chapter: each step needs the "
              "Hessian, which is very costly to compute; 'much more' read as ten times",
              kind="at_least", unit="ratio"),
        Claim("tiny_momentum_gain", "tiny problem: mean training cost over the first 5 "
              "epochs, SGD minus momentum (same eta)", 0.0, 0.0, "the chapter: momentum "
              "speeds up learning over plain gradient descent (a claim about speed, so the "
              "early epochs; the final costs are in the notes)", kind="at_least", unit="cost"),
        Claim("chapter_momentum_gain", "[784, 30, 10]: mean training cost over the first 5 "
              "epochs, SGD minus momentum (same eta)", 0.0, 0.0,
              "as above, on the chapter's network", kind="at_least", unit="cost"),
        Claim("tiny_momentum_step_cost", "tiny problem: seconds per epoch, momentum divided "
              "by SGD", 1.0, 1.0, "the chapter: momentum needs almost no change to the code "
              "and little extra work per step; 'little' read as at most twice SGD's time", kind="at_most", unit="ratio"),
        Claim("chapter_momentum_step_cost", "[784, 30, 10]: seconds per epoch, momentum "
              "divided by SGD", 1.0, 1.0, "as above", kind="at_most", unit="ratio"),
    ),
    run=run)
