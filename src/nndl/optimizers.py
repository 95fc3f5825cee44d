"""Optimisers: how a gradient becomes a change of the parameters.

Each optimiser has one method, ``update_params(params, grads)``, which changes
the parameter arrays in place given the mean gradient over a mini-batch, and
an ``eta`` attribute that learning-rate schedules may change between steps
(every training engine uses the value current at each step).

The gradient arrays are scratch: ``update_params`` may overwrite them (SGD
scales them by eta in place rather than allocate a step), so a caller must
not read them afterwards, and must pass arrays that are its own to lose --
never views of the parameters or of anything else it keeps.
``state_dict()`` / ``load_state_dict(d)`` save and restore everything an
interrupted run needs to continue exactly (the learning rate, and for
momentum the velocities).
"""

import math
import numbers

import numpy as np

from .errors import ConfigError


def check_eta(eta):
    """Return ``eta`` as a float, or raise ConfigError unless it is a finite number > 0."""
    if (isinstance(eta, bool) or not isinstance(eta, numbers.Real)
            or not math.isfinite(eta) or not eta > 0):
        raise ConfigError(f"eta must be a finite number > 0, got {eta!r}")
    return float(eta)


class SGD:
    """Plain stochastic gradient descent: p -> p - eta * grad (equation (20))."""

    name = "sgd"

    def __init__(self, eta):
        self.eta = check_eta(eta)

    def update_params(self, params, grads):
        """Move each parameter a step of size eta down its gradient
        (overwriting ``grads``, see the module docstring)."""
        eta = self.eta
        for p, g in zip(params, grads):
            g *= eta
            p -= g

    def state_dict(self):
        """Return what must be saved to resume: just the learning rate."""
        return {"name": self.name, "eta": self.eta}

    def load_state_dict(self, d):
        """Restore the learning rate saved by ``state_dict``."""
        self.eta = check_eta(d["eta"])


class Momentum:
    """Momentum-based gradient descent, equations (107)-(108) of the chapter:

        v -> v' = mu v - eta grad C
        w -> w' = w + v'

    ``mu`` is the momentum co-efficient (0 <= mu < 1; mu = 0 is plain SGD,
    and mu >= 1 lets the velocity grow without friction, the chapter's
    problem).  Velocities start at zero, one per parameter array, and are
    created at the first step.

    With ``nesterov=True`` it is Nesterov's accelerated gradient, which takes
    the gradient at the look-ahead point w + mu v instead of at w.  It is
    implemented in the reformulation of Bengio et al. (2013, "Advances in
    optimizing recurrent networks"), in which the stored parameters *are* the
    look-ahead point, so the ordinary gradient at the stored parameters is
    the one Nesterov needs:

        v' = mu v - eta grad C(p)
        p' = p - mu v + (1 + mu) v'        (= p + mu v' - eta grad C(p))

    Its iterates are exactly Sutskever et al.'s (2013) theta + mu v.
    """

    name = "momentum"

    def __init__(self, eta, mu=0.9, nesterov=False):
        self.eta = check_eta(eta)
        if not (isinstance(mu, (int, float, np.floating, np.integer)) and 0 <= mu < 1):
            raise ConfigError(f"the momentum co-efficient mu must be in [0, 1), got {mu!r}: "
                              "with mu >= 1 nothing damps the velocity")
        self.mu = float(mu)
        self.nesterov = bool(nesterov)
        self.velocities = None

    def update_params(self, params, grads):
        """Update every velocity from its gradient, then move the parameters
        (overwriting ``grads``, see the module docstring)."""
        if self.velocities is None:
            self.velocities = [np.zeros_like(p) for p in params]
        mu, eta = self.mu, self.eta
        for p, g, v in zip(params, grads, self.velocities):
            g *= eta
            if self.nesterov:
                # p += mu v' - eta g, with v' = mu v - eta g
                v *= mu
                v -= g
                p += mu * v
                p -= g
            else:
                v *= mu
                v -= g
                p += v

    def state_dict(self):
        """Return the hyper-parameters and copies of the velocities."""
        return {"name": self.name, "eta": self.eta, "mu": self.mu, "nesterov": self.nesterov,
                "velocities": None if self.velocities is None
                else [v.copy() for v in self.velocities]}

    def load_state_dict(self, d):
        """Restore what ``state_dict`` saved (velocities as lists of arrays)."""
        self.eta = check_eta(d["eta"])
        self.mu = float(d["mu"])
        self.nesterov = bool(d["nesterov"])
        vs = d.get("velocities")
        self.velocities = None if vs is None else [np.array(v) for v in vs]


def make_optimizer(eta, momentum=0.0, nesterov=False):
    """Return SGD(eta), or Momentum(eta, momentum, nesterov) when momentum > 0."""
    if nesterov and not momentum:
        raise ConfigError("Nesterov's accelerated gradient needs a momentum co-efficient > 0 "
                          "(e.g. --momentum 0.9)")
    if momentum:
        return Momentum(eta, momentum, nesterov)
    return SGD(eta)
