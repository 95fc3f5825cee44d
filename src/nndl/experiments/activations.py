"""Tanh and rectified linear hidden neurons against sigmoid ones, and a tanh
output layer ("Other models of artificial neuron").

[784, 30, 10] with sigmoid, tanh or ReLU hidden neurons, sigmoid outputs and
the cross-entropy, N(0, 1/n_in) weights, lmbda 5.0, mini-batch 10, 30
epochs, at eta 0.5 (the chapter's usual rate) and 0.1 (the rate of its
weight-initialisation runs); the claims compare the three at eta 0.1, where
all of them train stably.  The chapter: tanh gives "only a small or no
improvement" over sigmoid for many tasks, its activations are "roughly
speaking ... equally balanced between positive and negative", and ReLU has
been found to help in image recognition.

The tanh output: the chapter warns that tanh outputs range over (-1, 1),
not (0, 1), so a tanh network "may need to normalize [its] outputs ... a
little differently".  The cross-entropy (equation (63)) needs outputs in
(0, 1) and the library refuses it for tanh outputs; the quadratic cost works
for any output activation (delta^L = (a - y) tanh'(z)), so the question is
answered with a tanh output layer trained with the quadratic cost on the
usual 0/1 targets, against a sigmoid output layer with the same cost.
"""

import numpy as np

from .base import Claim, Experiment, Result
from .common import column, fit, line_plot, mean_curve, mnist, seed_list

HIDDEN = ("sigmoid", "tanh", "relu")
ETAS = (0.5, 0.1)
CLAIM_ETA = 0.1
OUTPUT_ETA = 0.5
SPREAD_REASON = ("the final-epoch test accuracy varies by 0.2-0.3 points (sd) between seeds; "
                 "0.5 points is about two such spreads")


def hidden_activations(net, images):
    """Return the hidden layer's activations for ``images`` (rows are examples)."""
    activations, _ = net.forward(np.asarray(images, dtype=net.dtype))
    return activations[1]


def run(quick, seeds, out):
    """Every hidden activation at both rates, then the two output layers."""
    d = mnist()
    training, test, epochs = ((d.training.subset(2000), d.test.subset(1000), 3) if quick
                              else (d.training, d.test, 30))
    curves, positive, series = {}, {}, {}
    for eta in ETAS:
        for hidden in HIDDEN:
            curves[hidden, eta] = []
            for s in seed_list(seeds):
                net, h = fit(training, [784, 30, 10], epochs, eta, lmbda=5.0, seed=s,
                             hidden=hidden, evaluation=test, monitor=("evaluation_accuracy",))
                curves[hidden, eta].append(column(h, "evaluation_accuracy", 100))
                if eta == CLAIM_ETA:
                    a = hidden_activations(net, test.images)
                    positive.setdefault(hidden, []).append(100 * float(np.mean(a > 0)))
            series[f"{hidden} hidden, eta {eta}"] = curves[hidden, eta]
    outputs, negative = {}, []
    for output in ("sigmoid", "tanh"):
        outputs[output] = []
        for s in seed_list(seeds):
            net, h = fit(training, [784, 30, 10], epochs, OUTPUT_ETA, lmbda=5.0, seed=s,
                         cost="quadratic", output=output, evaluation=test,
                         monitor=("evaluation_accuracy",))
            outputs[output].append(column(h, "evaluation_accuracy", 100))
            if output == "tanh":
                negative.append(100 * float(np.mean(net.feedforward(test.images) < 0)))
        series[f"{output} output, quadratic cost"] = outputs[output]
    final = {k: [c[-1] for c in v] for k, v in curves.items()}
    values = {
        "tanh_gain": [t - s for t, s in zip(final["tanh", CLAIM_ETA], final["sigmoid", CLAIM_ETA])],
        "relu_gain": [r - s for r, s in zip(final["relu", CLAIM_ETA], final["sigmoid", CLAIM_ETA])],
        "tanh_positive": positive["tanh"],
        "tanh_output_negative": negative,
        "tanh_output_gap": [t[-1] - s[-1] for t, s in zip(outputs["tanh"], outputs["sigmoid"])],
    }
    plots = [line_plot(out / f"hidden_eta_{eta}.png",
                       [(f"{h} hidden (mean of {seeds})", range(1, epochs + 1),
                         mean_curve(curves[h, eta])) for h in HIDDEN],
                       xlabel="epoch", ylabel="test accuracy (%)",
                       title=f"[784,30,10], eta {eta}, lmbda 5.0: hidden activations")
             for eta in ETAS]
    plots.append(line_plot(out / "tanh_output.png",
                           [(f"{o} output (mean of {seeds})", range(1, epochs + 1),
                             mean_curve(outputs[o])) for o in outputs],
                           xlabel="epoch", ylabel="test accuracy (%)",
                           title=f"quadratic cost, 0/1 targets, eta {OUTPUT_ETA}: output layers"))
    series["share of positive hidden activations (%)"] = positive
    config = {"sizes": [784, 30, 10], "etas": list(ETAS), "claims_at_eta": CLAIM_ETA,
              "lmbda": 5.0, "init": "default", "mini_batch_size": 10, "epochs": epochs,
              "hidden_cost": "cross-entropy, sigmoid outputs",
              "output_comparison": {"cost": "quadratic", "hidden": "sigmoid", "eta": OUTPUT_ETA,
                                    "targets": "one-hot 0/1"},
              "train_size": len(training), "test_size": len(test), "dtype": "float32"}
    notes = [f"At eta {CLAIM_ETA}, final test accuracy (mean over seeds): " + ", ".join(
        f"{h} {np.mean(final[h, CLAIM_ETA]):.2f}%" for h in HIDDEN) + f"; at eta 0.5: " + ", ".join(
        f"{h} {np.mean(final[h, 0.5]):.2f}%" for h in HIDDEN) + ".",
        "Share of positive hidden activations on the test images: " + ", ".join(
        f"{h} {np.mean(positive[h]):.1f}%" for h in HIDDEN) + " (sigmoid is positive by "
        "construction; a ReLU unit is positive only where it is active)."]
    return Result(values, plots, series, config, notes)


EXPERIMENT = Experiment(
    name="activations", section="Other models of artificial neuron",
    title="Sigmoid, tanh and ReLU hidden neurons; a tanh output layer",
    claims=(
        Claim("tanh_gain", "tanh minus sigmoid hidden neurons, test accuracy after 30 epochs "
              "('only a small or no improvement')", 0.0, 0.5, SPREAD_REASON, unit="points"),
        Claim("relu_gain", "ReLU minus sigmoid hidden neurons, test accuracy after 30 epochs "
              "(the chapter: ReLU has helped in image recognition)", 0.0, 0.3,
              "a direction, not a size; 0.3 points is about one seed sd of a difference",
              kind="at_least", unit="points"),
        Claim("tanh_positive", "share of tanh hidden activations above 0 on the test images "
              "('equally balanced between positive and negative')", 50.0, 15.0,
              "'roughly speaking': within 35-65% counts as balanced"),
        Claim("tanh_output_negative", "share of tanh output activations below 0 on the test "
              "images (outputs range over (-1, 1), not (0, 1))", 1.0, 0.0,
              "the chapter states the range; one output in a hundred below 0 shows it",
              kind="at_least"),
        Claim("tanh_output_gap", "tanh minus sigmoid output layer (quadratic cost, 0/1 targets), "
              "test accuracy after 30 epochs", 0.0, 1.0,
              "no number in the book; a point either way is 'works about as well'",
              unit="points"),
    ),
    run=run)
