"""Regularised runs are more replicable ("Regularization").

The chapter: over runs with different random initial weights, unregularised
networks "occasionally get 'stuck'" and give "quite different results",
while regularised ones give "much more easily replicable results"; its
heuristic is that without L2 the weight vector grows long and gradient
descent then barely turns it.  We train the chapter's [784, 30, 10] on all
50,000 images (N(0, 1) weights, eta 0.5, mini-batch 10, 30 epochs) from
``REPEATS`` seeds, with lmbda 0 and with lmbda 5.0, and compare the spread
(sample standard deviation over seeds) of the test accuracy, the worst run's
shortfall below the median, and the length of the final weight vector.
The number of seeds is fixed by the experiment, not by ``--seeds``: a spread
needs many runs.
"""

import numpy as np

from .base import Claim, Experiment, Result, summarize
from .common import column, fit, line_plot, mnist

REPEATS = 10
QUICK_REPEATS = 3
LAMBDAS = {"no regularization": 0.0, "L2, lmbda 5.0": 5.0}


def weight_norm(net):
    """Return the Euclidean length of all the network's weights together."""
    return float(np.sqrt(sum(np.sum(np.asarray(w, dtype=np.float64) ** 2) for w in net.weights)))


def runs_for(training, test, epochs, lmbda, repeats):
    """Train once per seed; return (test curves in %, final weight lengths)."""
    curves, norms = [], []
    for s in range(repeats):
        net, h = fit(training, [784, 30, 10], epochs, 0.5, lmbda=lmbda, init="large", seed=s,
                     evaluation=test, monitor=("evaluation_accuracy",))
        curves.append(column(h, "evaluation_accuracy", 100))
        norms.append(weight_norm(net))
    return curves, norms


def run(quick, seeds, out):
    """Both settings over the same seeds; compare spreads and weight lengths."""
    d = mnist()
    training, test, epochs, repeats = ((d.training.subset(2000), d.test.subset(1000), 3,
                                        QUICK_REPEATS) if quick
                                       else (d.training, d.test, 30, REPEATS))
    curves, norms, finals, best = {}, {}, {}, {}
    for name, lmbda in LAMBDAS.items():
        curves[name], norms[name] = runs_for(training, test, epochs, lmbda, repeats)
        finals[name] = summarize([c[-1] for c in curves[name]])
        best[name] = summarize([max(c) for c in curves[name]])
    none, l2 = LAMBDAS
    values = {
        "sd_ratio": [finals[none]["std"] / finals[l2]["std"]],
        "sd_best_ratio": [best[none]["std"] / best[l2]["std"]],
        "worst_shortfall_ratio": [(np.median(finals[none]["values"]) - finals[none]["min"])
                                  / max(np.median(finals[l2]["values"]) - finals[l2]["min"], 1e-9)],
        "norm_ratio": [float(np.mean(norms[none]) / np.mean(norms[l2]))],
    }
    lines = [(f"{name}, seed {s}" if s == 0 else "", range(1, epochs + 1), c)
             for name in LAMBDAS for s, c in enumerate(curves[name])]
    plot = line_plot(out / "test_accuracy_by_seed.png", lines, xlabel="epoch",
                     ylabel="test accuracy (%)",
                     title=f"[784,30,10], N(0,1) weights, eta 0.5: {repeats} seeds each")
    series = {name: {"test_accuracy": curves[name], "final": finals[name], "best": best[name],
                     "weight_norm": norms[name]} for name in LAMBDAS}
    config = {"sizes": [784, 30, 10], "eta": 0.5, "lmbdas": LAMBDAS, "init": "large",
              "mini_batch_size": 10, "epochs": epochs, "seeds": list(range(repeats)),
              "train_size": len(training), "test_size": len(test), "dtype": "float32"}
    notes = [f"Final test accuracy over {repeats} seeds: " + "; ".join(
        f"{n}: mean {finals[n]['mean']:.2f}%, sd {finals[n]['std']:.2f}, "
        f"{finals[n]['min']:.2f}-{finals[n]['max']:.2f}%" for n in LAMBDAS) + "."]
    return Result(values, [plot], series, config, notes)


RATIO_REASON = ("the chapter states a direction ('much more easily replicable'); a ratio "
                "above 1 is that direction. With 10 runs a ratio of sds has a sampling error "
                "of roughly +-35%, so a ratio near 1 means no difference seen")

EXPERIMENT = Experiment(
    name="replicability", section="Regularization",
    title="Spread over seeds with and without L2 regularization",
    uses_seeds=False,
    claims=(
        Claim("sd_ratio", "sd over 10 seeds without / with L2, final test accuracy (the "
              "chapter: regularised runs are more replicable)", 1.0, 0.0, RATIO_REASON, kind="at_least",
              unit="x"),
        Claim("sd_best_ratio", "sd without / sd with L2, best test accuracy over the epochs",
              1.0, 0.0, RATIO_REASON, kind="at_least", unit="x"),
        Claim("worst_shortfall_ratio", "worst run's shortfall below the median, without / with "
              "L2 (unregularised runs 'get stuck')", 1.0, 0.0,
              "a stuck run shows as a worst run far below the others", kind="at_least", unit="x"),
        Claim("norm_ratio", "length of the final weight vector, without / with L2 (the "
              "chapter's heuristic: it grows without L2)", 1.0, 0.0,
              "a direction, not a size", kind="at_least", unit="x"),
    ),
    run=run)
