"""The chapter's illustrative figures that are computations.

* the sigmoid, tanh and rectified-linear functions ("Other models of
  artificial neuron"), with equation (111), sigma(z) = (1 + tanh(z/2)) / 2,
  checked on the plotted grid;
* the regularisation section's ten points near a line, fitted exactly by a
  9th-order polynomial and approximately by a line through the origin,
  drawn over the data and far beyond it, where the two models part;
* the softmax section's sliders: the four outputs a^L_j as z^L_4 is swept,
  the others held fixed (equation (78)), and the same for the "harder"
  softmax of equation (83) as c grows;
* the L1 and L2 shrink of one step as a function of the weight
  (equations (97) and (98)): a constant step against a proportional one.

Our own data and drawings (the book's figures are its author's); nothing is
trained, so ``--quick`` and ``--seeds`` change nothing.
"""

import numpy as np

from ..activations import ReLU, Sigmoid, Softmax, Tanh
from .base import Claim, Experiment, Result
from .common import line_plot

Z = np.linspace(-5.0, 5.0, 401)
POINTS = 10
SLOPE = 2.0
NOISE = 0.25
DATA_SEED = 3
FAR = 2.0            # extrapolate to FAR times the largest x of the data
SOFTMAX_Z = (2.5, -1.0, 3.2, 0.5)    # z_1 .. z_4 before z_4 is swept
SWEEP = np.linspace(-4.0, 6.0, 201)


def activation_plots(out):
    """Draw the three activation functions; return (plots, worst deviation from eq. 111)."""
    plots = [line_plot(out / f"{act.name}.png", [(act.name, Z, act.fn(Z.copy()))], xlabel="z",
                       ylabel=f"{act.name}(z)", title=title)
             for act, title in ((Sigmoid, "the sigmoid function"), (Tanh, "the tanh function"),
                                (ReLU, "the rectifying function max(0, z)"))]
    identity = float(np.max(np.abs(1.0 / (1.0 + np.exp(-Z)) - (1.0 + np.tanh(Z / 2.0)) / 2.0)))
    return plots, identity


def noisy_line(points=POINTS, seed=DATA_SEED):
    """Return ``points`` (x, y) pairs with y = 2x plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(0.5, 5.0, points))
    return x, SLOPE * x + rng.normal(0.0, NOISE, points)


def polynomial_fit(out):
    """Fit a degree-9 polynomial and a line y = kx; plot both; return (plots, values)."""
    x, y = noisy_line()
    poly = np.polynomial.Polynomial.fit(x, y, POINTS - 1)
    k = float(np.dot(x, y) / np.dot(x, x))          # least squares through the origin
    near = np.linspace(x.min(), x.max(), 300)
    far = np.linspace(x.min(), FAR * x.max(), 300)
    plots = []
    for name, grid, title in (("polynomial_fit.png", near, "ten points: exact 9th-order fit "
                               "and the line"),
                              ("polynomial_far.png", far, f"the same models out to x = "
                               f"{FAR * x.max():.1f}")):
        plots.append(line_plot(out / name, [("9th-order polynomial", grid, poly(grid)),
                                            (f"y = {k:.2f} x", grid, k * grid)],
                               xlabel="x", ylabel="y", title=title,
                               points=[("data", x, y)], logy=False))
    x_far = FAR * x.max()
    values = {"poly_residual": float(np.max(np.abs(poly(x) - y))), "line_slope": k,
              "far_disagreement": float(abs(poly(x_far) - k * x_far) / abs(k * x_far))}
    return plots, values, {"x": x.tolist(), "y": y.tolist(), "slope": k,
                           "polynomial_coefficients": poly.convert().coef.tolist()}


def softmax_sweep(out):
    """Sweep z_4 with z_1..z_3 fixed; plot a_1..a_4; return (plots, values, series)."""
    z = np.tile(np.asarray(SOFTMAX_Z), (len(SWEEP), 1))
    z[:, 3] = SWEEP
    a = Softmax.fn(z)
    plots = [line_plot(out / "softmax_sweep.png",
                       [(f"a_{j + 1}", SWEEP, a[:, j]) for j in range(4)], xlabel="z_4",
                       ylabel="output activation",
                       title=f"softmax outputs as z_4 varies (z_1..z_3 = {SOFTMAX_Z[:3]})")]
    c_values = (0.5, 1.0, 2.0, 5.0, 20.0)
    zc = np.asarray(SOFTMAX_Z)
    bars = [(f"c = {c}", np.arange(1, 5), Softmax.fn(c * zc[None, :])[0]) for c in c_values]
    plots.append(line_plot(out / "softmax_c.png", bars, xlabel="output neuron j",
                           ylabel="a_j", title=f"softmax with e^(c z) for z = {SOFTMAX_Z}"))
    steps = np.diff(a, axis=0)
    values = {"softmax_sum": float(np.max(np.abs(a.sum(axis=1) - 1.0))),
              "softmax_own_rise": float(np.min(steps[:, 3])),
              "softmax_others_rise": float(np.max(steps[:, :3]))}
    return plots, values, {"z4": SWEEP.tolist(), "a": a.tolist()}


def shrink_plot(out, eta=0.5, lmbda=5.0, n=50_000):
    """Plot the size of one step's L1 and L2 shrink against w (eqs. 97 and 98)."""
    w = np.linspace(-1.0, 1.0, 401)
    l1 = eta * lmbda / n * np.sign(w)
    l2 = eta * lmbda / n * w
    return line_plot(out / "l1_l2_shrink.png", [("L1: (eta lmbda / n) sgn(w)", w, l1),
                                                ("L2: (eta lmbda / n) w", w, l2)],
                     xlabel="weight w", ylabel="shrink of one step",
                     title=f"weight decay per step, eta {eta}, lmbda {lmbda}, n {n:,}")


def run(quick, seeds, out):
    """Draw every figure; return the checks that the drawings embody."""
    plots, identity = activation_plots(out)
    poly_plots, values, poly_series = polynomial_fit(out)
    soft_plots, soft_values, soft_series = softmax_sweep(out)
    plots += poly_plots + soft_plots + [shrink_plot(out)]
    values = {k: [v] for k, v in {**values, **soft_values, "identity_111": identity}.items()}
    config = {"z_grid": [-5.0, 5.0, len(Z)], "points": POINTS, "true_slope": SLOPE,
              "noise_sd": NOISE, "data_seed": DATA_SEED, "far_factor": FAR,
              "softmax_z": list(SOFTMAX_Z), "dtype": "float64"}
    notes = ["The chapter's exercises and problems are worked in docs/exercises.md; the "
             "numerical ones are checked by tests/test_exercises.py."]
    return Result(values, plots, {"polynomial": poly_series, "softmax": soft_series}, config,
                  notes)


EXPERIMENT = Experiment(
    name="figures", section="Why does regularization help reduce overfitting?",
    title="The chapter's computed figures: activation functions, polynomial versus line, "
          "softmax sliders, L1 versus L2 shrink",
    uses_seeds=False,
    claims=(
        Claim("identity_111", "largest |sigma(z) - (1 + tanh(z/2))/2| on the plotted grid "
              "(equation (111))", 0.0, 1e-12, "an identity: equal up to float64 rounding",
              kind="at_most", unit=""),
        Claim("poly_residual", "largest residual of the 9th-order fit to ten points ('fits "
              "the data exactly')", 0.0, 1e-6, "exact up to the rounding of a "
              "degree-9 least-squares solve", kind="at_most", unit=""),
        Claim("line_slope", "slope of the line fitted to the points (the book's model: "
              "y = 2x)", 2.0, 0.2, "our points are drawn from y = 2x with noise of sd 0.25; "
              "the fitted slope is within a few standard errors", unit=""),
        Claim("far_disagreement", "|polynomial - line| / |line| at twice the largest x ('a "
              "dramatic difference')", 1.0, 0.0, "'dramatic' read as: the two predictions "
              "differ by more than the line's own value", kind="at_least", unit=""),
        Claim("softmax_sum", "largest |sum of the four outputs - 1| over the sweep "
              "(equation (79))", 0.0, 1e-12, "an identity", kind="at_most", unit=""),
        Claim("softmax_own_rise", "smallest rise of a_4 between sweep steps (it always "
              "increases)", 0.0, 0.0, "monotonicity: every step rises", kind="at_least",
              unit=""),
        Claim("softmax_others_rise", "largest rise of a_1..a_3 between sweep steps (they "
              "always decrease)", 0.0, 0.0, "monotonicity: no step rises", kind="at_most",
              unit=""),
    ),
    run=run)
