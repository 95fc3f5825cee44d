"""The learning slowdown of one sigmoid neuron ("The cross-entropy cost function").

One neuron, input 1, target 0, 300 steps of gradient descent from (w, b) =
(0.6, 0.9) and from (2.0, 2.0), once with the quadratic cost at the
chapter's learning rate 0.15 and once with the cross-entropy at the rate the
chapter used for it, 0.005 ("I used eta = 0.005 in the examples just
given").  The chapter warns that the two rates make the absolute speeds
incomparable; what it claims is the *shape*: with the quadratic cost the
badly wrong neuron starts on a plateau and speeds up later, with the
cross-entropy the cost curve is steepest at the start.  The output error delta
comes from the library's own cost classes, so this checks equations (55)-(56)
against (61)-(62): the quadratic gradient carries a factor sigma'(z) that is
tiny when the neuron starts out badly wrong; the cross-entropy's does not.
"""

import numpy as np

from ..activations import Sigmoid
from ..costs import CrossEntropyCost, QuadraticCost
from .base import Claim, Experiment, Result
from .common import line_plot

ETA = {"quadratic": 0.15, "cross-entropy": 0.005}
EPOCHS = 300
STARTS = {"(0.6, 0.9)": (0.6, 0.9), "(2, 2)": (2.0, 2.0)}
COSTS = {"quadratic": QuadraticCost, "cross-entropy": CrossEntropyCost}
STALL_DROP = 0.1   # an output is "moving" once it has fallen this far from its start


def learn(w, b, cost, eta=None, epochs=EPOCHS):
    """Run gradient descent on the single example x=1, y=0; return the output
    and the cost before each step and after the last (epochs + 1 values).
    ``eta`` defaults to the chapter's rate for ``cost`` (ETA)."""
    eta = ETA[cost.name] if eta is None else eta
    x = np.ones((1, 1))
    y = np.zeros((1, 1))
    outputs, costs = [], []
    for _ in range(epochs + 1):
        z = np.array([[w * 1.0 + b]])
        a = Sigmoid.fn(z)
        outputs.append(float(a[0, 0]))
        costs.append(float(cost.fn(a, y, z=z)))
        delta = cost.delta(z, a, y, Sigmoid)          # dC/dz
        w -= eta * float(delta[0, 0] * x[0, 0])       # dC/dw = delta * x
        b -= eta * float(delta[0, 0])                 # dC/db = delta
    return outputs, costs


def epochs_until_moving(outputs, drop=STALL_DROP):
    """Return the first epoch at which the output is ``drop`` below its start
    (len(outputs) if it never gets there): how long learning stalls."""
    moved = np.nonzero(np.asarray(outputs) <= outputs[0] - drop)[0]
    return int(moved[0]) if len(moved) else len(outputs)


def steepest_epoch(costs):
    """Return the epoch whose step lowered the cost most."""
    return int(np.argmax(-np.diff(np.asarray(costs))))


def start_share(costs):
    """Return the first step's fall in cost over the largest fall of any step:
    1 when the curve is steepest at the start, near 0 on an initial plateau."""
    drops = -np.diff(np.asarray(costs))
    return float(drops[0] / drops.max())


def run(quick, seeds, out):
    """Run the four (start, cost) pairs; plot output and cost per epoch."""
    runs = {(s, c): learn(*STARTS[s], COSTS[c], ETA[c]) for s in STARTS for c in COSTS}
    plots = []
    for start in STARTS:
        tag = start.replace(" ", "").replace(",", "_").strip("()")
        for i, what in enumerate(("output", "cost")):
            lines = [(f"{cost}, eta {ETA[cost]}", range(EPOCHS + 1), runs[start, cost][i])
                     for cost in COSTS]
            plots.append(line_plot(out / f"{what}_{tag}.png", lines, xlabel="epoch", ylabel=what,
                                   title=f"neuron {what} from (w, b) = {start}"))
    values = {
        "initial_output_small": [runs["(0.6, 0.9)", "quadratic"][0][0]],
        "initial_output_large": [runs["(2, 2)", "quadratic"][0][0]],
        "quadratic_stall": [epochs_until_moving(runs["(2, 2)", "quadratic"][0])],
        "final_output_small": [runs["(0.6, 0.9)", "quadratic"][0][-1]],
        "quadratic_steepest": [steepest_epoch(runs["(2, 2)", "quadratic"][1])],
        "quadratic_start_share": [start_share(runs["(2, 2)", "quadratic"][1])],
        "cross_entropy_steepest": [steepest_epoch(runs["(2, 2)", "cross-entropy"][1])],
        "cross_entropy_start_share": [start_share(runs["(2, 2)", "cross-entropy"][1])],
    }
    series = {f"{c} from {s}": {"output": o, "cost": k} for (s, c), (o, k) in runs.items()}
    ce_moving = epochs_until_moving(runs["(2, 2)", "cross-entropy"][0])
    series["epochs until the output has fallen 0.1, from (2, 2)"] = {
        c: epochs_until_moving(runs["(2, 2)", c][0]) for c in COSTS}
    notes = [f"From (2, 2) the cross-entropy neuron at eta 0.005 needs {ce_moving} epochs for its "
             "output to fall by 0.1 (the quadratic at 0.15: "
             f"{values['quadratic_stall'][0]}): the absolute speeds depend on the two rates, "
             "as the chapter warns, so the claims judge the shape of the curves."]
    return Result(values, plots, series, {"eta": ETA, "epochs": EPOCHS, "input": 1, "target": 0,
                                          "stall_drop": STALL_DROP, "dtype": "float64"}, notes)


EXPERIMENT = Experiment(
    name="slowdown", section="The cross-entropy cost function",
    title="Learning slowdown of one sigmoid neuron: quadratic versus cross-entropy",
    uses_seeds=False,
    claims=(
        Claim("initial_output_small", "initial output from (w, b) = (0.6, 0.9)", 0.82, 0.005,
              "sigma(1.5) = 0.8176 is exact; the book rounds to two decimals", unit=""),
        Claim("initial_output_large", "initial output from (w, b) = (2, 2)", 0.98, 0.005,
              "sigma(4) = 0.9820 is exact; the book rounds to two decimals", unit=""),
        Claim("final_output_small", "quadratic cost from (0.6, 0.9): output after 300 epochs "
              "('about 0.09')", 0.09, 0.01, "the book reads it off its animation to two decimals",
              unit=""),
        Claim("quadratic_stall", "quadratic cost from (2, 2): epochs before the output has fallen "
              "0.1 ('for the first 150 or so learning epochs ... don't change much')", 150, 50,
              "the book says 'or so'; our measure (a fall of 0.1) is one reading of 'much'",
              unit="epochs"),
        Claim("quadratic_steepest", "quadratic cost from (2, 2): epoch of the steepest fall in "
              "cost (after the plateau of 'the first 150 or so learning epochs')", 150, 50,
              "the book says 'or so'; the steepest fall comes once the plateau ends",
              kind="at_least", unit="epochs"),
        Claim("quadratic_start_share", "quadratic cost from (2, 2): first epoch's fall in cost "
              "/ steepest fall (an initial flat region)", 0.0, 0.1,
              "'flat' read as: the first step falls under a tenth of the steepest one",
              kind="at_most", unit=""),
        Claim("cross_entropy_steepest", "cross-entropy from (2, 2), eta 0.005: epoch of the "
              "steepest fall in cost ('much steeper initially')", 0, 0,
              "steepest at the start means the first step", kind="at_most", unit="epochs"),
        Claim("cross_entropy_start_share", "cross-entropy from (2, 2), eta 0.005: first epoch's "
              "fall in cost / steepest fall (no plateau)", 1.0, 0.0,
              "1 exactly when no later step falls faster than the first", kind="at_least",
              unit=""),
    ),
    run=run)
