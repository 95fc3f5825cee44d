"""Optimisers: how a gradient becomes a change of the parameters.

Each optimiser has one method, ``update_params(params, grads)``, which changes
the parameter arrays in place given the mean gradient over a mini-batch.
"""

import numbers
import math

from .errors import ConfigError


def check_eta(eta):
    """Return ``eta`` as a float, or raise ConfigError unless it is a finite number > 0."""
    if (isinstance(eta, bool) or not isinstance(eta, numbers.Real)
            or not math.isfinite(eta) or not eta > 0):
        raise ConfigError(f"eta must be a finite number > 0, got {eta!r}")
    return float(eta)


class SGD:
    """Plain stochastic gradient descent: p -> p - eta * grad (equation (20))."""

    def __init__(self, eta):
        self.eta = check_eta(eta)

    def update_params(self, params, grads):
        """Move each parameter a step of size eta down its gradient."""
        eta = self.eta
        for p, g in zip(params, grads):
            g *= eta
            p -= g

    def state_dict(self):
        """Return what must be saved to resume: just the learning rate."""
        return {"eta": self.eta}

    def load_state_dict(self, state):
        """Restore what ``state_dict`` returned (when resuming a run)."""
        self.eta = check_eta(state["eta"])
