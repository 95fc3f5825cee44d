"""Activation functions, each with the derivative that backpropagation needs.

An activation is a small class with two static methods:

* ``fn(z)`` -- the neuron's output a = sigma(z), computed for a whole array;
* ``derivative(a)`` -- sigma'(z), written in terms of the *output* a.

Writing the derivative in terms of a (sigma' = a(1 - a) for the sigmoid,
1 - a^2 for tanh) means backpropagation can reuse the activations it already
stored during the forward pass instead of keeping every z as well.

Softmax is different: each output depends on every z of its layer, so it has
no elementwise derivative.  It is only used in the output layer, together with
the log-likelihood cost, whose error delta^L = a - y already accounts for it
(equation (81) of the chapter).
"""

import numpy as np


class Sigmoid:
    """The logistic function sigma(z) = 1 / (1 + e^-z) of the chapter."""

    name = "sigmoid"

    @staticmethod
    def fn(z):
        """Return sigma(z), computed as (1 + tanh(z/2)) / 2.

        The tanh form equals 1/(1+exp(-z)) but never overflows, so it is
        exact in the saturated regime (sigma(-1000) = 0, not a warning).
        """
        a = np.multiply(z, 0.5)
        np.tanh(a, out=a)
        a *= 0.5
        a += 0.5
        return a

    @staticmethod
    def derivative(a):
        """Return sigma'(z) = sigma(z)(1 - sigma(z)), given a = sigma(z)."""
        return a * (1.0 - a)


class Tanh:
    """The hyperbolic tangent neuron of the chapter's 'Other models' section."""

    name = "tanh"

    @staticmethod
    def fn(z):
        """Return tanh(z)."""
        return np.tanh(z)

    @staticmethod
    def derivative(a):
        """Return tanh'(z) = 1 - tanh(z)^2, given a = tanh(z)."""
        return 1.0 - a * a


class ReLU:
    """The rectified linear unit max(0, z)."""

    name = "relu"

    @staticmethod
    def fn(z):
        """Return max(0, z)."""
        return np.maximum(z, 0.0)

    @staticmethod
    def derivative(a):
        """Return 1 where the unit is active (a > 0), else 0."""
        return (a > 0).astype(a.dtype)


class Linear:
    """The identity a = z (the chapter's linear output neurons, eqs. 68-70)."""

    name = "linear"

    @staticmethod
    def fn(z):
        """Return z unchanged."""
        return z

    @staticmethod
    def derivative(a):
        """Return 1 everywhere: a linear neuron never saturates."""
        return np.ones_like(a)


class Softmax:
    """The softmax output layer a_j = e^{z_j} / sum_k e^{z_k} (equation (78)).

    Rows are examples: the normalisation runs along the last axis.
    """

    name = "softmax"

    @staticmethod
    def fn(z):
        """Return softmax(z), subtracting the row maximum first.

        Subtracting max_k z_k changes nothing mathematically but keeps every
        exponent <= 0, so |z| = 1000 gives finite outputs that sum to 1.
        """
        e = z - z.max(axis=-1, keepdims=True)
        np.exp(e, out=e)
        e /= e.sum(axis=-1, keepdims=True)
        return e

    @staticmethod
    def derivative(a):
        """Softmax has no elementwise derivative; see the module docstring."""
        raise TypeError("softmax is only valid in the output layer, "
                        "with the log-likelihood cost")


ACTIVATIONS = {cls.name: cls for cls in (Sigmoid, Tanh, ReLU, Linear, Softmax)}
HIDDEN_ACTIVATIONS = ("sigmoid", "tanh", "relu")
OUTPUT_ACTIVATIONS = ("sigmoid", "softmax", "linear", "tanh")


def get_activation(name_or_class):
    """Return the activation class for a name ('sigmoid') or a class."""
    if isinstance(name_or_class, str):
        try:
            return ACTIVATIONS[name_or_class]
        except KeyError:
            from .errors import ConfigError
            raise ConfigError(
                f"unknown activation {name_or_class!r}; "
                f"choose from {', '.join(ACTIVATIONS)}") from None
    return name_or_class
