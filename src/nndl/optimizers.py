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

import numpy as np

from .errors import ConfigError
from .params import FRACTION, LEARNING_RATE, MOMENTUM, PENALTY, POSITIVE


def check_eta(eta):
    """Return ``eta`` as a float, or raise ConfigError unless it is a finite number > 0."""
    return LEARNING_RATE.check(eta, "eta")


class SGD:
    """Plain stochastic gradient descent: p -> p - eta * grad (equation (20))."""

    name = "sgd"

    def __init__(self, eta=0.5):
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

    def __init__(self, eta=0.5, mu=0.9, nesterov=False):
        self.eta = check_eta(eta)
        self.mu = MOMENTUM.check(mu, "the momentum co-efficient mu")
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


# ------------------------------------------------------- adaptive optimisers
# Adam, RMSProp and AdaGrad scale each parameter's step by a running measure
# of its own gradients' size.  Each is written in PyTorch's formulation
# (torch.optim, single-tensor path, no weight decay: nndl's regularisers add
# the penalty's gradient before the optimiser sees it, as torch's
# ``weight_decay`` does), so its steps can be checked against PyTorch's on the
# same gradients (tests/test_optimizers.py).
#
# In the explicit-state style of optax, each is a pair
#     init(params) -> state           (zeros shaped like the parameters, step t = 0)
#     update(grads, state) -> (updates, state')
# with p' = p + updates; here the state lives in the object (created at the
# first step) and ``state_dict()`` returns all of it: t and every moment array.


def _zeros_like_all(params):
    """One zero array per parameter array (a moment estimate's starting value)."""
    return [np.zeros_like(p) for p in params]


def _copies(arrays):
    """Copies of a list of arrays (None stays None), for ``state_dict``."""
    return None if arrays is None else [a.copy() for a in arrays]


def _loaded(arrays):
    """Arrays restored from a ``state_dict`` (None stays None)."""
    return None if arrays is None else [np.array(a) for a in arrays]


class Adam:
    """Adam (Kingma & Ba 2015, "Adam: a method for stochastic optimization",
    Algorithm 1), in PyTorch's arrangement of the same arithmetic:

        t  -> t + 1
        m  -> beta1 m + (1 - beta1) g              (first moment)
        v  -> beta2 v + (1 - beta2) g^2            (second moment)
        p  -> p - (eta / (1 - beta1^t)) m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    The bias corrections 1 - beta^t undo the moments' start at zero.  The
    default eta 0.001 is the paper's; it is about 500 times smaller than the
    chapter's SGD rate because Adam's step is about eta per weight whatever
    the gradient's scale.  ``g`` is the mean mini-batch gradient plus the
    regularisation term, as for ``SGD``; the gradient arrays are scratch.
    """

    name = "adam"

    def __init__(self, eta=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
        self.eta = check_eta(eta)
        self.beta1 = FRACTION.check(beta1, "Adam's beta1")
        self.beta2 = FRACTION.check(beta2, "Adam's beta2")
        self.eps = POSITIVE.check(eps, "Adam's epsilon")
        self.t = 0
        self.m = self.v = None

    def update_params(self, params, grads):
        """Update both moment estimates from the gradients, then step."""
        if self.m is None:
            self.m, self.v = _zeros_like_all(params), _zeros_like_all(params)
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        step_size = self.eta / (1.0 - b1 ** self.t)
        root_bc2 = math.sqrt(1.0 - b2 ** self.t)
        for p, g, m, v in zip(params, grads, self.m, self.v):
            m += (1.0 - b1) * (g - m)             # torch's lerp: m + (1-b1)(g-m)
            v *= b2
            g *= g
            g *= 1.0 - b2
            v += g
            denom = np.sqrt(v)
            denom /= root_bc2
            denom += self.eps
            np.divide(m, denom, out=denom)
            denom *= step_size
            p -= denom

    def state_dict(self):
        """Return the hyper-parameters, the step count and both moments."""
        return {"name": self.name, "eta": self.eta, "beta1": self.beta1, "beta2": self.beta2,
                "eps": self.eps, "t": self.t, "m": _copies(self.m), "v": _copies(self.v)}

    def load_state_dict(self, d):
        """Restore what ``state_dict`` saved."""
        self.__init__(d["eta"], d["beta1"], d["beta2"], d["eps"])
        self.t, self.m, self.v = int(d["t"]), _loaded(d["m"]), _loaded(d["v"])


def _step_over_root(p, g, squares, eta, eps):
    """p -> p - eta g / (sqrt(squares) + eps), RMSProp's and AdaGrad's step,
    in place (``g`` is scratch), in PyTorch's order of operations."""
    denom = np.sqrt(squares)
    denom += eps
    g /= denom
    g *= eta
    p -= g


class RMSProp:
    """RMSProp (Tieleman & Hinton 2012, lecture 6e of "Neural networks for
    machine learning"): divide the gradient by a running root mean square of
    its recent values,

        s -> rho s + (1 - rho) g^2
        p -> p - eta g / (sqrt(s) + eps)

    as PyTorch's ``RMSprop`` computes it (its ``alpha`` is ``rho`` here;
    PyTorch defaults to 0.99, the lecture to 0.9, which is used here).
    """

    name = "rmsprop"

    def __init__(self, eta=0.001, rho=0.9, eps=1e-8):
        self.eta = check_eta(eta)
        self.rho = FRACTION.check(rho, "RMSProp's decay rho")
        self.eps = POSITIVE.check(eps, "RMSProp's epsilon")
        self.t = 0
        self.square_avg = None

    def update_params(self, params, grads):
        """Update the running mean square, then step."""
        if self.square_avg is None:
            self.square_avg = _zeros_like_all(params)
        self.t += 1
        rho = self.rho
        for p, g, s in zip(params, grads, self.square_avg):
            s *= rho
            s += (1.0 - rho) * g * g
            _step_over_root(p, g, s, self.eta, self.eps)

    def state_dict(self):
        """Return the hyper-parameters, the step count and the mean squares."""
        return {"name": self.name, "eta": self.eta, "rho": self.rho, "eps": self.eps,
                "t": self.t, "square_avg": _copies(self.square_avg)}

    def load_state_dict(self, d):
        """Restore what ``state_dict`` saved."""
        self.__init__(d["eta"], d["rho"], d["eps"])
        self.t, self.square_avg = int(d["t"]), _loaded(d["square_avg"])


class AdaGrad:
    """AdaGrad (Duchi, Hazan & Singer 2011, "Adaptive subgradient methods"):
    each parameter's step shrinks with the sum of its squared gradients,

        G -> G + g^2                         (G starts at ``initial_accumulator``)
        p -> p - eta g / (sqrt(G) + eps)

    as PyTorch's ``Adagrad`` computes it (with lr_decay 0).  The steps only
    ever shrink, so it suits convex problems and sparse features better than
    long non-convex runs.
    """

    name = "adagrad"

    def __init__(self, eta=0.01, eps=1e-10, initial_accumulator=0.0):
        self.eta = check_eta(eta)
        self.eps = POSITIVE.check(eps, "AdaGrad's epsilon")
        self.initial_accumulator = PENALTY.check(initial_accumulator,
                                                 "AdaGrad's initial accumulator")
        self.t = 0
        self.sum_squares = None

    def update_params(self, params, grads):
        """Add the squared gradients to the accumulators, then step."""
        if self.sum_squares is None:
            self.sum_squares = [np.full_like(p, self.initial_accumulator) for p in params]
        self.t += 1
        for p, g, acc in zip(params, grads, self.sum_squares):
            acc += g * g
            _step_over_root(p, g, acc, self.eta, self.eps)

    def state_dict(self):
        """Return the hyper-parameters, the step count and the accumulators."""
        return {"name": self.name, "eta": self.eta, "eps": self.eps,
                "initial_accumulator": self.initial_accumulator, "t": self.t,
                "sum_squares": _copies(self.sum_squares)}

    def load_state_dict(self, d):
        """Restore what ``state_dict`` saved."""
        self.__init__(d["eta"], d["eps"], d["initial_accumulator"])
        self.t, self.sum_squares = int(d["t"]), _loaded(d["sum_squares"])


# ------------------------------------------------------------- by name
#: The optimisers ``nndl train --optimizer`` names: per mini-batch step ...
PER_STEP = {"sgd": SGD, "adam": Adam, "rmsprop": RMSProp, "adagrad": AdaGrad}
#: ... and full-batch (``nndl.fullbatch.METHODS``; ``nndl.run.make_optimizer_named``
#: makes either from its name).
FULL_BATCH = ("lbfgs", "bfgs", "cg", "newton")
NAMES = (*PER_STEP, *FULL_BATCH)
