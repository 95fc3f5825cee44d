"""Cost functions, in the shape network2.py gave them: ``fn`` and ``delta``.

* ``fn(a, y, z=None)`` is the cost summed over every example in the batch
  (rows are examples; a single book-style column vector works too).  When the
  weighted inputs z are given, the cost is computed from z directly, which
  stays finite even when the output has saturated to exactly 0 or 1.
* ``delta(z, a, y, activation=Sigmoid)`` is the output error
  delta^L = dC/dz^L of equation (BP1), for a batch.

Why no ``np.nan_to_num``: network2.py used it to turn 0 * log(0) into 0.  Here
each cost computes log(sigma(z)) as -log(1 + e^-z) with ``np.logaddexp``, and
log-softmax as z - logsumexp(z), so nothing is ever nan or inf to clean up.
"""

import numpy as np

from .activations import Sigmoid, Softmax
from .errors import ConfigError


def _clip(a):
    """Keep a away from exactly 0 and 1 so that log(a) and log(1-a) are finite.

    Used only when the caller has the outputs a but not z.
    """
    eps = np.finfo(np.result_type(a, np.float32)).eps
    return np.clip(a, eps, 1.0 - eps)


class QuadraticCost:
    """C = (1/2) ||y - a||^2, equation (6) of chapter 1."""

    name = "quadratic"

    @staticmethod
    def fn(a, y, z=None):
        """Return the summed quadratic cost of outputs ``a`` for targets ``y``."""
        d = a - y
        return 0.5 * float(np.vdot(d, d))

    @staticmethod
    def delta(z, a, y, activation=Sigmoid):
        """Return (a - y) * sigma'(z): the factor sigma'(z) is what slows
        learning when a sigmoid output neuron saturates (equation (55))."""
        return (a - y) * activation.derivative(a)


class CrossEntropyCost:
    """C = -sum [y ln a + (1 - y) ln(1 - a)], equation (63)."""

    name = "cross-entropy"

    @staticmethod
    def fn(a, y, z=None):
        """Return the summed cross-entropy of sigmoid outputs ``a``.

        With z: ln a = -ln(1 + e^-z) and ln(1 - a) = -ln(1 + e^z), exact for
        any z.  Without z, a is clipped by one machine epsilon.
        """
        if z is not None:
            return float(np.sum(y * np.logaddexp(0.0, -z)
                                + (1.0 - y) * np.logaddexp(0.0, z)))
        a = _clip(a)
        return float(-np.sum(y * np.log(a) + (1.0 - y) * np.log1p(-a)))

    @staticmethod
    def delta(z, a, y, activation=Sigmoid):
        """Return a - y: the sigma'(z) of the quadratic cost cancels
        (equation (66)), which is why cross-entropy does not slow down."""
        return a - y


class LogLikelihoodCost:
    """C = -ln a_y for a softmax output layer, equation (80)."""

    name = "log-likelihood"

    @staticmethod
    def fn(a, y, z=None):
        """Return the summed negative log-likelihood of the correct classes.

        With z, ln a = z - logsumexp(z) (log-softmax), which is finite even for
        |z| = 1000; without z, a is clipped by one machine epsilon.
        """
        if z is not None:
            zmax = z.max(axis=-1, keepdims=True)
            log_a = z - zmax - np.log(np.sum(np.exp(z - zmax), axis=-1,
                                             keepdims=True))
            return float(-np.sum(y * log_a))
        return float(-np.sum(y * np.log(_clip(a))))

    @staticmethod
    def delta(z, a, y, activation=Softmax):
        """Return a - y, equation (81): softmax with log-likelihood behaves
        like sigmoid with cross-entropy."""
        return a - y


COSTS = {cls.name: cls for cls in (QuadraticCost, CrossEntropyCost,
                                   LogLikelihoodCost)}
# network2.py saves the class name; accept it too.
COSTS_BY_CLASS_NAME = {cls.__name__: cls for cls in COSTS.values()}


def get_cost(name_or_class):
    """Return the cost class for a name ('cross-entropy'), a class name
    ('CrossEntropyCost', as network2.py saves it) or a class."""
    if isinstance(name_or_class, str):
        cost = COSTS.get(name_or_class) or COSTS_BY_CLASS_NAME.get(name_or_class)
        if cost is None:
            raise ConfigError(f"unknown cost {name_or_class!r}; choose from "
                              f"{', '.join(COSTS)}")
        return cost
    return name_or_class


#: The cost that belongs with each output activation (the chapter's pairs:
#: sigmoid with cross-entropy, softmax with log-likelihood, and linear with
#: the quadratic cost, equation (68); tanh outputs, in (-1, 1), with the
#: quadratic cost too); no output given means sigmoid.
COST_FOR_OUTPUT = {"sigmoid": "cross-entropy", "softmax": "log-likelihood",
                   "linear": "quadratic", "tanh": "quadratic"}


def cost_for_output(output=None):
    """Return the name of the cost that belongs with the output activation
    ``output`` (a name, or None for the default sigmoid)."""
    return COST_FOR_OUTPUT.get(output or "sigmoid", "cross-entropy")


def default_output_for(cost):
    """Return the output activation that belongs with a cost: softmax for
    log-likelihood, sigmoid otherwise (as in network2.py)."""
    return Softmax if cost is LogLikelihoodCost else Sigmoid


def check_pairing(cost, output):
    """Refuse a cost and output activation that do not belong together.

    Cross-entropy assumes outputs in (0, 1) with delta = a - y, true only for
    sigmoid outputs; log-likelihood assumes a probability distribution, true
    only for softmax; softmax has no elementwise derivative for the quadratic
    cost.
    """
    if cost is CrossEntropyCost and output.name != "sigmoid":
        hint = {"linear": "; linear outputs go with the quadratic cost (equation 68)",
                "softmax": "; softmax outputs go with the log-likelihood cost"}
        raise ConfigError(
            f"cross-entropy needs sigmoid outputs, not {output.name}: its "
            "delta a - y (equation 66) is only right for sigmoid neurons, and "
            f"ln(1 - a) needs outputs in (0, 1){hint.get(output.name, '')}")
    if cost is LogLikelihoodCost and output.name != "softmax":
        raise ConfigError(
            f"log-likelihood needs a softmax output layer, not {output.name}: "
            "-ln a_y only makes sense when the outputs form a distribution")
    if cost is QuadraticCost and output.name == "softmax":
        raise ConfigError("the quadratic cost with softmax outputs is not "
                          "supported; use log-likelihood with softmax")
