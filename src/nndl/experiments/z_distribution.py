"""The distribution of a hidden neuron's weighted input ("Weight initialization").

The chapter's argument: 1,000 inputs of which 500 are 1 and 500 are 0.  With
N(0, 1) weights and bias, z = sum_j w_j x_j + b is a sum of 501 standard
normals, so its standard deviation is sqrt(501) = 22.4 and the neuron is
almost always saturated; with N(0, 1/1000) weights it is sqrt(500/1000 + 1)
= sqrt(3/2) = 1.22.  We draw many hidden neurons with the library's own
initialisers and measure z empirically.
"""

import numpy as np

from ..network import Network
from .base import Claim, Experiment, Result
from .common import histogram_plot, seed_list

N_INPUTS = 1000
N_ON = 500
PREDICTED = {"large": np.sqrt(N_ON + 1), "default": np.sqrt(N_ON / N_INPUTS + 1)}
STD_REASON = ("the standard deviation of {n} samples has a relative sampling error of "
              "1/sqrt(2n); the tolerance is 3% of the value, over three such errors")


def weighted_inputs(init, neurons, seed):
    """Return z for ``neurons`` hidden neurons of a freshly initialised
    [1000, neurons, 1] network, with the first 500 inputs on."""
    net = Network([N_INPUTS, neurons, 1], init=init, dtype="float64", seed=seed)
    x = np.zeros(N_INPUTS)
    x[:N_ON] = 1.0
    return net.weights[0] @ x + net.biases[0][:, 0]


def run(quick, seeds, out):
    """Measure the standard deviation of z under both initialisations and
    plot the histograms against the predicted normal densities."""
    neurons = 2000 if quick else 20000
    zs = {init: [weighted_inputs(init, neurons, s) for s in seed_list(seeds)] for init in PREDICTED}
    values = {f"std_{init}": [float(z.std()) for z in zs[init]] for init in PREDICTED}
    plots = []
    for init, bins, title in (("large", 60, "N(0, 1) weights"), ("default", 60, "N(0, 1/n_in) weights")):
        sd = PREDICTED[init]
        xs = np.linspace(-4 * sd, 4 * sd, 200)
        pdf = np.exp(-xs ** 2 / (2 * sd ** 2)) / (sd * np.sqrt(2 * np.pi))
        plots.append(histogram_plot(out / f"z_{init}.png", [(f"z, {neurons:,} neurons", zs[init][0])],
                                    bins=bins, xlabel="z", title=f"{title}: z of a hidden neuron",
                                    curves=[(f"normal, sd {sd:.3g} (predicted)", xs, pdf)]))
    return Result(values, plots, {}, {"inputs": N_INPUTS, "inputs_on": N_ON, "neurons": neurons,
                                      "dtype": "float64"})


EXPERIMENT = Experiment(
    name="z_distribution", section="Weight initialization",
    title="Distribution of z = sum w x + b under both initializations",
    claims=(
        Claim("std_large", "standard deviation of z, N(0,1) weights: sqrt(501)", 22.4, 0.67,
              STD_REASON.format(n="20,000"), unit=""),
        Claim("std_default", "standard deviation of z, N(0,1/n_in) weights: sqrt(3/2)", 1.22,
              0.037, STD_REASON.format(n="20,000"), unit=""),
    ),
    run=run)
