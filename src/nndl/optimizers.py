"""Optimisers: how a gradient becomes a change of the parameters.

Each optimiser has one method, ``update_params(params, grads)``, which changes
the parameter arrays in place given the mean gradient over a mini-batch.
"""

from .errors import ConfigError


class SGD:
    """Plain stochastic gradient descent: p -> p - eta * grad (equation (20))."""

    def __init__(self, eta):
        if not eta > 0:
            raise ConfigError(f"eta must be > 0, got {eta}")
        self.eta = float(eta)

    def update_params(self, params, grads):
        """Move each parameter a step of size eta down its gradient."""
        eta = self.eta
        for p, g in zip(params, grads):
            g *= eta
            p -= g

    def state_dict(self):
        """Return what must be saved to resume: just the learning rate."""
        return {"eta": self.eta}
