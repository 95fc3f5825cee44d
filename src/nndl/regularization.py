"""Weight regularisation as a transform of the gradient.

Adding a penalty to the cost adds its gradient to dC/dw.  For plain SGD this
is exactly the chapter's update rule:

* L2, equation (93):  w -> (1 - eta*lmbda/n) w - (eta/m) sum_x dC_x/dw
* L1, equation (97):  w -> w - (eta*lmbda/n) sgn(w) - (eta/m) sum_x dC_x/dw

and written as a gradient term it composes with any optimiser (momentum adds
it to the velocity).  Biases are never regularised, as in the chapter.
"""

import numpy as np

from .errors import ConfigError
from .params import PENALTY, POSITIVE


def check_lmbda(lmbda):
    """Return ``lmbda`` as a float, or raise ConfigError unless it is a finite number >= 0."""
    return PENALTY.check(lmbda, "lmbda")


class NoRegularization:
    """No penalty at all."""

    name = "none"
    lmbda = 0.0

    def penalty(self, weights, n):
        """Return the penalty term of the cost: zero."""
        return 0.0

    def add_gradient(self, grad, w, n):
        """Leave the gradient unchanged."""
        return grad


class L2:
    """The L2 penalty (lmbda / 2n) sum w^2 of equation (85)."""

    name = "l2"

    def __init__(self, lmbda):
        self.lmbda = check_lmbda(lmbda)

    def penalty(self, weights, n):
        """Return 0.5 * (lmbda/n) * sum of squared weights."""
        return 0.5 * (self.lmbda / n) * sum(float(np.vdot(w, w)) for w in weights)

    def add_gradient(self, grad, w, n):
        """Add (lmbda/n) w to the mean gradient ``grad`` in place."""
        if self.lmbda:
            grad += (self.lmbda / n) * w
        return grad


class L1:
    """The L1 penalty (lmbda / n) sum |w| of equation (95)."""

    name = "l1"

    def __init__(self, lmbda):
        self.lmbda = check_lmbda(lmbda)

    def penalty(self, weights, n):
        """Return (lmbda/n) * sum of absolute weights."""
        return (self.lmbda / n) * sum(float(np.abs(w).sum()) for w in weights)

    def add_gradient(self, grad, w, n):
        """Add (lmbda/n) sgn(w) in place, with sgn(0) = 0 as the chapter says."""
        if self.lmbda:
            grad += (self.lmbda / n) * np.sign(w)
        return grad


def scale_lmbda(lmbda, n_from, n_to):
    """Return the lmbda for ``n_to`` training examples that gives the same
    weight decay per step as ``lmbda`` did for ``n_from``.

    The decay factor of equation (93) is 1 - eta*lmbda/n, so keeping
    lmbda/n fixed keeps it fixed: the chapter moves from 1,000 images with
    lmbda = 0.1 to 50,000 with lmbda = 5.0 (``scale_lmbda(0.1, 1000, 50000)``).
    """
    if not (n_from > 0 and n_to > 0):
        raise ConfigError(f"training-set sizes must be > 0, got {n_from} and {n_to}")
    return lmbda * n_to / n_from


def lmbda_for(lmbda_per_example, n):
    """Return lmbda = lmbda_per_example * n, the lmbda whose decay per step
    (eta * lmbda / n) does not depend on the training-set size n."""
    return PENALTY.check(lmbda_per_example, "lmbda per example") * n


class MaxNorm:
    """Keep each neuron's vector of incoming weights inside a ball of radius c.

    After every update, a row w_j of a weight matrix (the weights into
    neuron j) with ||w_j|| > c is scaled back to length c; shorter rows are
    left alone.  This is the "modified form of L2 regularization" with which
    Hinton et al. (2012) reached 98.7% on MNIST with dropout: instead of
    pulling every weight towards zero, it only bounds the norms, so a large
    learning rate cannot blow the weights up.  It applies to every layer's
    neurons; biases are not constrained.
    """

    name = "max-norm"

    def __init__(self, c):
        self.c = POSITIVE.check(c, "the max-norm bound")

    def apply(self, weights):
        """Rescale, in place, every row of every matrix in ``weights`` whose
        Euclidean norm exceeds c."""
        for w in weights:
            norms = np.sqrt(np.einsum("ij,ij->i", w, w))
            too_long = norms > self.c
            if np.any(too_long):
                w[too_long] *= (self.c / norms[too_long])[:, None].astype(w.dtype)


def make_regularization(kind="l2", lmbda=0.0):
    """Return the regulariser for a name ('l2', 'l1', 'none') and lmbda."""
    check_lmbda(lmbda)
    if kind == "l2":
        return L2(lmbda) if lmbda else NoRegularization()
    if kind == "l1":
        return L1(lmbda) if lmbda else NoRegularization()
    if kind in ("none", None):
        return NoRegularization()
    raise ConfigError(f"unknown regularization {kind!r}; choose l2, l1 or none")
