"""Full-batch optimisers: L-BFGS, BFGS, nonlinear conjugate gradient and
Newton's method (section "Variations on stochastic gradient descent").

The chapter's Hessian technique (equations (103)-(106)) minimises the cost
C(w) by jumping to the minimum of its second-order Taylor expansion,
w -> w - H^-1 grad C; it names conjugate gradient descent, BFGS and L-BFGS
as the methods that get much of that benefit without the Hessian's cost.
All four need the *whole* training set's cost and gradient at each step, so
here the objective is

    f(theta) = (1/n) sum_x C_x + penalty(w) / n

(the cost plus the L2 or L1 term, exactly what ``Monitor`` records as the
training cost), with theta every weight and bias in one flat float64 vector
(weights first, layer by layer, then biases; see ``Objective``).

``minimize(network, training, iterations, method, ...)`` runs one method
iteration per "epoch": after each, the network holds the current (best)
parameters and the callbacks' ``on_epoch_end(state)`` sees a history record
like ``train``'s, so ``Monitor``, ``EarlyStopping``, ``Checkpoint``-style
callbacks and the metrics file work unchanged.  An iteration's line search
that finds no acceptable step (after one retry along the steepest descent)
ends the run with the reason in ``state.stop`` and the parameters of the
lowest cost found (every accepted step lowers f), never a traceback.

Why these are written here rather than as calls to ``scipy.optimize.minimize``:
scipy's minimizers run to completion inside one call, keep their L-BFGS
memory / inverse Hessian / CG direction to themselves and cannot be resumed
from a checkpoint bit for bit, and its CG restarts only when the
Polak-Ribiere beta turns negative.  The methods below are short, keep every
piece of their state in ``state_dict()`` (so a resumed run repeats the
uninterrupted one exactly), and use scipy only where it is the right tool:
``scipy.optimize.line_search``, a strong-Wolfe line search (Nocedal & Wright,
"Numerical Optimization", Algorithms 3.5-3.6).  scipy is therefore a
run-time dependency of this module: ``pip install 'nndl[fullbatch]'``.
"""

import math
import time
import warnings

import numpy as np

from .activations import Linear, ReLU, Sigmoid, Softmax, Tanh
from .costs import CrossEntropyCost, LogLikelihoodCost, QuadraticCost
from .errors import ConfigError
from .network import one_hot
from .params import POSITIVE
from .regularization import L1, L2, NoRegularization
from .training import TrainingState, _call, check_data, check_training_args

#: Newton's method and BFGS keep a dense n_params x n_params matrix (float64):
#: above this many parameters (8000^2 * 8 bytes = 512 MB) they refuse to start.
MAX_DENSE_PARAMETERS = 8000
#: Rows of training data per block when the cost and its derivatives are summed.
CHUNK = 10000


def require_scipy():
    """Return ``scipy.optimize``, or raise ConfigError naming the extra to install."""
    try:
        import scipy.optimize
    except ImportError:
        raise ConfigError("the full-batch optimisers need scipy: "
                          "pip install 'nndl[fullbatch]'") from None
    return scipy.optimize


def check_dense_size(n_params, who):
    """Refuse a dense n_params^2 matrix above MAX_DENSE_PARAMETERS, naming its memory."""
    if n_params > MAX_DENSE_PARAMETERS:
        gib = n_params ** 2 * 8 / 2**30
        raise ConfigError(
            f"{who} needs the {n_params} x {n_params} Hessian ({n_params ** 2:.3g} entries, "
            f"{gib:.3g} GiB in float64); the limit is {MAX_DENSE_PARAMETERS} parameters "
            f"({MAX_DENSE_PARAMETERS ** 2 * 8 / 2**20:.0f} MiB): use lbfgs or cg")


# ---------------------------------------------------------------- objective
class Objective:
    """The regularised training cost of ``network`` as a function of one flat
    parameter vector, with its gradient and its exact Hessian.

    ``value_and_grad(theta)`` puts theta into the network (in its dtype) and
    returns f and grad f as float64, with one forward and one backward pass
    over the training set (BP1-BP4, summed over examples, divided by n, plus
    the regulariser's term).  ``hessian(theta)`` is exact: Pearlmutter's
    R-operator (1994, "Fast exact multiplication by the Hessian") pushes
    directions through the forward and backward passes, which differentiates
    the gradient in each direction exactly; applied to the columns of the
    identity, in blocks, it gives H column by column.  It is checked against
    finite differences of the cost in ``tests/test_optimizers.py``.  The L1
    penalty's Hessian is taken as zero (|w| is linear away from 0).
    """

    def __init__(self, network, x, y, regularization=None):
        self.network = network
        self.x, self.y = x, y
        self.n = len(x)
        self.regularization = regularization or NoRegularization()
        self.shapes = [w.shape for w in network.weights] + [b.shape for b in network.biases]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.n_params = sum(self.sizes)
        self.evaluations = 0

    # -------------------------------------------------------- flat vectors
    def flatten(self):
        """Return the network's weights then biases as one float64 vector."""
        net = self.network
        return np.concatenate([p.ravel() for p in net.weights + net.biases]).astype(np.float64)

    def split(self, theta, dtype=np.float64):
        """Return (weights, biases) as arrays of the network's shapes in ``dtype``."""
        parts, k = [], 0
        for shape, size in zip(self.shapes, self.sizes):
            parts.append(np.ascontiguousarray(theta[k:k + size].reshape(shape), dtype=dtype))
            k += size
        n_layers = len(self.network.weights)
        return parts[:n_layers], parts[n_layers:]

    def unflatten(self, theta):
        """Put ``theta`` into the network's weights and biases (its dtype)."""
        self.network.weights, self.network.biases = self.split(theta, self.network.dtype)

    # ------------------------------------------------------ value, gradient
    def value_and_grad(self, theta):
        """Return (f(theta), grad f(theta)) as (float, float64 vector)."""
        self.unflatten(theta)
        net, reg = self.network, self.regularization
        total = 0.0
        gw = [np.zeros(w.shape) for w in net.weights]
        gb = [np.zeros(b.shape) for b in net.biases]
        for k in range(0, self.n, CHUNK):
            xb, yb = self.x[k:k + CHUNK], self.y[k:k + CHUNK]
            activations, z = net.forward(xb)
            total += net.cost.fn(activations[-1], yb, z=z)
            nabla_b, nabla_w = _backward(net, activations, z, yb)
            for acc, g in zip(gw + gb, nabla_w + nabla_b):
                acc += g
        f = total / self.n + reg.penalty(net.weights, self.n)
        for g, w in zip(gw, net.weights):
            g /= self.n
            reg.add_gradient(g, w.astype(np.float64), self.n)
        for g in gb:
            g /= self.n
        self.evaluations += 1
        grad = np.concatenate([g.ravel() for g in gw + gb])
        if not (math.isfinite(f) and np.all(np.isfinite(grad))):
            return math.inf, np.zeros_like(grad)
        return float(f), grad

    # ------------------------------------------------------------- Hessian
    def hessian(self, theta, block=None):
        """Return the exact Hessian of f at ``theta`` (n_params x n_params, float64)."""
        check_dense_size(self.n_params, "Newton's method")
        p = self.n_params
        # per direction: a few (rows x widest non-input layer) arrays and the
        # direction itself, in float64; blocks of about 256 MiB
        per_direction = 8 * (4 * min(self.n, CHUNK) * max(self.network.sizes[1:]) + 3 * p)
        block = block or max(1, min(p, 2**28 // per_direction))
        h = np.empty((p, p))
        for k in range(0, p, block):
            v = np.zeros((p, min(block, p - k)))
            v[np.arange(k, k + v.shape[1]), np.arange(v.shape[1])] = 1.0
            h[:, k:k + v.shape[1]] = self.hvp(theta, v)
        return 0.5 * (h + h.T)

    def hvp(self, theta, v):
        """Return H(theta) @ v for a block of directions ``v`` (n_params x k),
        computed in float64 by the R-operator (see the class docstring)."""
        w, b = self.split(theta)
        rw, rb = self.split_directions(v)
        net = self.network
        out_w = [np.zeros_like(r) for r in rw]
        out_b = [np.zeros_like(r) for r in rb]
        for k in range(0, self.n, CHUNK):
            xb = self.x[k:k + CHUNK].astype(np.float64)
            yb = self.y[k:k + CHUNK].astype(np.float64)
            dw, db = _r_backprop(net, w, b, rw, rb, xb, yb)
            for acc, d in zip(out_w + out_b, dw + db):
                acc += d
        reg = self.regularization
        for o, r in zip(out_w, rw):
            o /= self.n
            if isinstance(reg, L2) and reg.lmbda:
                o += (reg.lmbda / self.n) * r
        for o in out_b:
            o /= self.n
        k = v.shape[1]
        return np.concatenate([o.reshape(k, -1) for o in out_w + out_b], axis=1).T

    def split_directions(self, v):
        """Split a block of flat directions (n_params x k) into per-layer
        arrays of shape (k, *param_shape): R{W} and R{b}."""
        k, parts, i = v.shape[1], [], 0
        for shape, size in zip(self.shapes, self.sizes):
            parts.append(np.ascontiguousarray(v[i:i + size].T).reshape((k,) + shape))
            i += size
        n_layers = len(self.network.weights)
        return parts[:n_layers], [r[:, :, 0] for r in parts[n_layers:]]


def _backward(net, activations, z, y):
    """Return (nabla_b, nabla_w) summed over the rows, from a forward pass's
    activations: equations BP1-BP4, as ``Network.backprop`` computes them."""
    delta = net.cost.delta(z, activations[-1], y, net.activations[-1])
    nabla_b, nabla_w = [None] * len(net.weights), [None] * len(net.weights)
    for l in range(len(net.weights) - 1, -1, -1):
        nabla_b[l] = delta.sum(axis=0).reshape(-1, 1)
        nabla_w[l] = delta.T @ activations[l]
        if l:
            delta = (delta @ net.weights[l]) * net.activations[l - 1].derivative(activations[l])
    return nabla_b, nabla_w


def second_derivative(activation, a):
    """Return sigma''(z) in terms of the output a = sigma(z)."""
    if activation is Sigmoid:
        return a * (1.0 - a) * (1.0 - 2.0 * a)
    if activation is Tanh:
        return -2.0 * a * (1.0 - a * a)
    if activation in (ReLU, Linear):
        return np.zeros_like(a)
    raise ConfigError(f"the exact Hessian needs the second derivative of "
                      f"{getattr(activation, 'name', activation)}, which nndl does not know")


def _r_output_delta(net, a, ra_z, y):
    """R{delta^L}: the output error's derivative along directions whose
    weighted inputs move by ``ra_z`` (k, n, n_out)."""
    cost, act = net.cost, net.activations[-1]
    if cost is LogLikelihoodCost and act is Softmax:
        return a * ra_z - a * np.sum(a * ra_z, axis=-1, keepdims=True)
    if cost is CrossEntropyCost and act is Sigmoid:
        return act.derivative(a) * ra_z
    if cost is QuadraticCost and act is not Softmax:
        d1 = act.derivative(a)
        return (d1 * d1 + (a - y) * second_derivative(act, a)) * ra_z
    raise ConfigError(f"the exact Hessian is not available for {cost.name} with {act.name}")


def _r_backprop(net, w, b, rw, rb, x, y):
    """Return (R{nabla_w}, R{nabla_b}) summed over the rows of ``x``, for k
    directions at once: the R-operator applied to forward and backward pass.

    Forward:  R{z_l} = R{a_l} W_l^T + a_l R{W_l}^T + R{b_l}^T,
              R{a_l+1} = sigma'(z_l) R{z_l}.
    Backward: R{nabla W_l} = R{delta_l}^T a_l + delta_l^T R{a_l},
              R{delta_l-1} = (R{delta_l} W_l + delta_l R{W_l}) sigma'
                             + (delta_l W_l) sigma'' R{z_l-1}.
    Arrays carrying a direction index have it first: (k, n, width)."""
    k, n_layers = rw[0].shape[0], len(w)
    acts, ras, rzs = [x], [None], []
    for l in range(n_layers):
        z = acts[l] @ w[l].T + b[l].T
        o, i = w[l].shape
        rz = (acts[l] @ rw[l].reshape(k * o, i).T).reshape(len(x), k, o).transpose(1, 0, 2)
        rz = rz + rb[l][:, None, :]
        if ras[l] is not None:
            rz += ras[l] @ w[l].T
        rzs.append(rz)
        acts.append(net.activations[l].fn(z))
        if l < n_layers - 1:
            ras.append(net.activations[l].derivative(acts[-1]) * rz)
    delta = net.cost.delta(z, acts[-1], y, net.activations[-1])
    rdelta = _r_output_delta(net, acts[-1], rzs[-1], y)
    out_w, out_b = [None] * n_layers, [None] * n_layers
    for l in range(n_layers - 1, -1, -1):
        o, i = w[l].shape
        rt = rdelta.transpose(0, 2, 1).reshape(k * o, len(x))
        out_w[l] = (rt @ acts[l]).reshape(k, o, i)
        if ras[l] is not None:
            out_w[l] += delta.T @ ras[l]
        out_b[l] = rdelta.sum(axis=1)
        if l:
            act = net.activations[l - 1]
            d1 = act.derivative(acts[l])
            back = delta @ w[l]
            rdelta = ((rdelta @ w[l] + delta @ rw[l]) * d1
                      + back * second_derivative(act, acts[l]) * rzs[l - 1])
            delta = back * d1
    return out_w, out_b


# ------------------------------------------------------------------ methods
class LineSearchFailed(Exception):
    """No step along the search direction met the Wolfe conditions."""


class FullBatchMethod:
    """What the four methods share: the current point x, f(x), grad f(x) and
    the previous f (for the line search's first trial step), the iteration
    count, and ``state_dict`` / ``load_state_dict`` of all of it.

    ``start(objective)`` evaluates f and its gradient at the network's
    parameters (unless a resumed state supplies them); ``step(objective)``
    takes one iteration and returns None, or the reason to stop.  There is no
    learning rate: ``eta`` is None, and a schedule has nothing to change.
    """

    name = None
    eta = None
    c2 = 0.9          # the curvature condition's constant (0.1 for CG)

    def __init__(self, gtol=1e-6, max_line_search=20):
        self.gtol = POSITIVE.check(gtol, "the gradient tolerance")
        if isinstance(max_line_search, bool) or not isinstance(max_line_search, int) \
                or max_line_search < 1:
            raise ConfigError(f"the line search's trial count must be an integer >= 1, "
                              f"got {max_line_search!r}")
        self.max_line_search = max_line_search
        self.iteration = self.evaluations = 0
        self.x = self.f = self.g = self.f_prev = None

    def start(self, objective):
        """Evaluate the starting point (a fresh run) and check the sizes."""
        if self.x is None:
            self.x = objective.flatten()
            self.f, self.g = objective.value_and_grad(self.x)
            self.f_prev = self.f + 0.5 * float(np.linalg.norm(self.g))   # scipy's first-step rule
            if not math.isfinite(self.f):
                raise ConfigError("the cost is not finite at the starting parameters")
        elif len(self.x) != objective.n_params:
            raise ConfigError(f"the saved {self.name} state has {len(self.x)} parameters, "
                              f"the network {objective.n_params}")
        else:
            objective.evaluations = self.evaluations

    def step(self, objective):
        """One iteration; return None, or why the run must stop."""
        if float(np.max(np.abs(self.g))) <= self.gtol:
            return f"converged: the gradient's largest entry is below {self.gtol:g}"
        try:
            self.iterate(objective)
        except LineSearchFailed as e:
            return f"{self.name}: {e}"
        finally:
            self.evaluations = objective.evaluations
        self.iteration += 1
        return None

    def line_search(self, objective, d):
        """Return (alpha, f_new, g_new) meeting the strong Wolfe conditions
        along ``d`` (c1 = 1e-4, c2 = ``self.c2``), or raise LineSearchFailed."""
        optimize = require_scipy()
        cache = {}

        def fg(x):
            key = x.tobytes()
            if key not in cache:
                cache.clear()
                cache[key] = objective.value_and_grad(x)
            return cache[key]

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            alpha, _, _, f_new, _, _ = optimize.line_search(
                lambda x: fg(x)[0], lambda x: fg(x)[1], self.x, d, self.g, self.f,
                self.f_prev, c1=1e-4, c2=self.c2, maxiter=self.max_line_search)
        if alpha is None or f_new is None or not math.isfinite(f_new):
            raise LineSearchFailed(f"the line search found no step meeting the Wolfe "
                                   f"conditions in {self.max_line_search} trials")
        x_new = self.x + alpha * d
        f_new, g_new = fg(x_new)
        return x_new, f_new, g_new

    def search_with_restart(self, objective, d):
        """Line search along ``d``; if that fails and ``d`` is not the steepest
        descent, forget the curvature information and retry along -g."""
        if float(d @ self.g) < 0:
            try:
                return self.line_search(objective, d), False
            except LineSearchFailed:
                pass
        self.reset()
        return self.line_search(objective, -self.g), True

    def accept(self, x_new, f_new, g_new):
        """Move to the new point, remembering the old cost."""
        self.f_prev, self.x, self.f, self.g = self.f, x_new, f_new, g_new

    def reset(self):
        """Forget the curvature information (nothing in the base class)."""

    # ------------------------------------------------------------ state
    def settings(self):
        """The hyper-parameters, for ``state_dict``."""
        return {"gtol": self.gtol, "max_line_search": self.max_line_search}

    def extra_state(self):
        """The method's own arrays, for ``state_dict``."""
        return {}

    def state_dict(self):
        """Return every piece of state: settings, x, f, g, f_prev, iteration
        and the method's own arrays (a resumed run repeats the original)."""
        return {"name": self.name, **self.settings(), "iteration": self.iteration,
                "evaluations": self.evaluations,
                "x": _copy(self.x), "f": self.f, "g": _copy(self.g), "f_prev": self.f_prev,
                **self.extra_state()}

    def load_state_dict(self, d):
        """Restore what ``state_dict`` saved."""
        self.__init__(**{k: d[k] for k in self.settings()})
        self.iteration, self.evaluations = int(d["iteration"]), int(d["evaluations"])
        self.x, self.g = _array(d["x"]), _array(d["g"])
        self.f = None if d["f"] is None else float(d["f"])
        self.f_prev = None if d["f_prev"] is None else float(d["f_prev"])
        self.load_extra(d)

    def load_extra(self, d):
        """Restore the method's own arrays (nothing in the base class)."""


def _copy(a):
    return None if a is None else np.array(a, dtype=np.float64)


def _array(a):
    return None if a is None else np.asarray(a, dtype=np.float64).copy()


class LBFGS(FullBatchMethod):
    """Limited-memory BFGS (Nocedal 1980; Nocedal & Wright Algorithm 7.4):
    the search direction is -H g, with the inverse Hessian H built from the
    last ``memory`` steps s = x' - x and gradient changes y = g' - g by the
    two-loop recursion, scaled by H0 = (s.y / y.y) I (equation 7.20).  A
    pair with s.y <= 0 (possible when the line search stops early) is not
    stored, so H stays positive definite."""

    name = "lbfgs"

    def __init__(self, memory=10, gtol=1e-6, max_line_search=20):
        super().__init__(gtol, max_line_search)
        if isinstance(memory, bool) or not isinstance(memory, int) or memory < 1:
            raise ConfigError(f"the L-BFGS memory must be an integer >= 1, got {memory!r}")
        self.memory = memory
        self.s, self.y = [], []

    def direction(self):
        """Return -H g by the two-loop recursion."""
        q = self.g.copy()
        alphas = []
        for s, y in zip(reversed(self.s), reversed(self.y)):
            a = (s @ q) / (y @ s)
            alphas.append(a)
            q -= a * y
        if self.s:
            q *= (self.s[-1] @ self.y[-1]) / (self.y[-1] @ self.y[-1])
        for (s, y), a in zip(zip(self.s, self.y), reversed(alphas)):
            q += (a - (y @ q) / (y @ s)) * s
        return -q

    def iterate(self, objective):
        (x_new, f_new, g_new), _ = self.search_with_restart(objective, self.direction())
        s, y = x_new - self.x, g_new - self.g
        if s @ y > 1e-12 * float(np.linalg.norm(s) * np.linalg.norm(y)):
            self.s.append(s)
            self.y.append(y)
            del self.s[:-self.memory], self.y[:-self.memory]
        self.accept(x_new, f_new, g_new)

    def reset(self):
        self.s, self.y = [], []

    def settings(self):
        return {"memory": self.memory, **super().settings()}

    def extra_state(self):
        return {"s": [v.copy() for v in self.s], "y": [v.copy() for v in self.y]}

    def load_extra(self, d):
        self.s = [_array(v) for v in d["s"]]
        self.y = [_array(v) for v in d["y"]]


class BFGS(FullBatchMethod):
    """BFGS (Nocedal & Wright Algorithm 6.1): a dense approximation H of the
    inverse Hessian, updated after each step by equation (6.17),

        H -> (I - rho s y^T) H (I - rho y s^T) + rho s s^T,  rho = 1/(y.s),

    starting from the scaled identity (s.y / y.y) I of equation (6.20) after
    the first step.  H is n_params^2 floats, so it refuses networks above
    ``MAX_DENSE_PARAMETERS`` parameters, like Newton's method."""

    name = "bfgs"

    def __init__(self, gtol=1e-6, max_line_search=20):
        super().__init__(gtol, max_line_search)
        self.h = None

    def start(self, objective):
        check_dense_size(objective.n_params, "BFGS")
        super().start(objective)

    def iterate(self, objective):
        d = -self.g if self.h is None else -(self.h @ self.g)
        (x_new, f_new, g_new), _ = self.search_with_restart(objective, d)
        s, y = x_new - self.x, g_new - self.g
        sy = float(s @ y)
        if sy > 1e-12 * float(np.linalg.norm(s) * np.linalg.norm(y)):
            if self.h is None:
                self.h = np.eye(len(s)) * (sy / float(y @ y))
            rho, hy = 1.0 / sy, self.h @ y
            self.h -= rho * (np.outer(s, hy) + np.outer(hy, s))
            self.h += (rho * rho * float(y @ hy) + rho) * np.outer(s, s)
        self.accept(x_new, f_new, g_new)

    def reset(self):
        self.h = None

    def extra_state(self):
        return {"h": _copy(self.h)}

    def load_extra(self, d):
        self.h = _array(d["h"])


class ConjugateGradient(FullBatchMethod):
    """Nonlinear conjugate gradient, Polak-Ribiere with restarts (Nocedal &
    Wright section 5.2):

        beta = max(0, g'.(g' - g) / g.g)                  (PR+, equation 5.45)
        d'   = -g' + beta d

    restarting with d' = -g' (beta = 0) when beta would be negative, when
    consecutive gradients are far from orthogonal, |g'.g| >= 0.2 g'.g'
    (Powell's test, equation 5.52), every ``restart_every`` iterations
    (default: the number of parameters, the classical n-step restart), and
    when d' is not a descent direction.  The line search meets the strong
    Wolfe conditions with c2 = 0.1, as conjugate gradients need.  scipy's
    ``minimize(method="CG")`` is also PR+ with a Wolfe search, but restarts
    only on a negative beta and cannot be resumed mid-run."""

    name = "cg"
    c2 = 0.1

    def __init__(self, restart_every=None, gtol=1e-6, max_line_search=20):
        super().__init__(gtol, max_line_search)
        if restart_every is not None and (isinstance(restart_every, bool)
                                          or not isinstance(restart_every, int)
                                          or restart_every < 1):
            raise ConfigError(f"the CG restart interval must be an integer >= 1, "
                              f"got {restart_every!r}")
        self.restart_every = restart_every
        self.d = None
        self.since_restart = 0
        self.restarts = 0

    def iterate(self, objective):
        d = -self.g if self.d is None else self.d
        (x_new, f_new, g_new), restarted = self.search_with_restart(objective, d)
        if restarted:
            d = -self.g
        every = self.restart_every or len(self.x)
        self.since_restart += 1
        gg = float(self.g @ self.g)
        beta = max(0.0, float(g_new @ (g_new - self.g)) / gg) if gg > 0 else 0.0
        if abs(float(g_new @ self.g)) >= 0.2 * float(g_new @ g_new) or self.since_restart >= every:
            beta = 0.0
        d_new = -g_new + beta * d
        if beta == 0.0 or float(d_new @ g_new) >= 0:
            d_new, self.since_restart = -g_new, 0
            self.restarts += 1
        self.d = d_new
        self.accept(x_new, f_new, g_new)

    def reset(self):
        self.d = None
        self.since_restart = 0

    def settings(self):
        return {"restart_every": self.restart_every, **super().settings()}

    def extra_state(self):
        return {"d": _copy(self.d), "since_restart": self.since_restart,
                "restarts": self.restarts}

    def load_extra(self, d):
        self.d = _array(d["d"])
        self.since_restart, self.restarts = int(d["since_restart"]), int(d["restarts"])


class Newton(FullBatchMethod):
    """Newton's method with the exact Hessian, damped in the manner of
    Levenberg and Marquardt: the chapter's step w -> w - H^-1 grad C
    (equation (105), with eta = 1) becomes

        (H + mu I) d = -g,     w -> w + d   if f(w + d) < f(w).

    The Hessian of a network's cost is indefinite away from a minimum; a
    large damping mu makes H + mu I positive definite and the step a short
    gradient step, a small one makes it Newton's.  mu is adapted from the
    ratio rho of the actual to the predicted decrease (Nielsen 1999: on
    success mu *= max(1/3, 1 - (2 rho - 1)^3); on failure mu *= nu, nu *= 2,
    and the step is retried without a new Hessian).  Each iteration costs one
    exact Hessian (``Objective.hessian``), n_params^2 floats: networks above
    ``MAX_DENSE_PARAMETERS`` parameters are refused before anything starts.
    """

    name = "newton"

    def __init__(self, damping=1e-3, max_tries=30, gtol=1e-6):
        super().__init__(gtol, max_line_search=1)
        self.damping = POSITIVE.check(damping, "the Newton damping mu")
        if isinstance(max_tries, bool) or not isinstance(max_tries, int) or max_tries < 1:
            raise ConfigError(f"the Newton retry count must be an integer >= 1, "
                              f"got {max_tries!r}")
        self.max_tries = max_tries
        self.mu, self.nu = self.damping, 2.0

    def start(self, objective):
        check_dense_size(objective.n_params, "Newton's method")
        for act in objective.network.activations[:-1]:
            second_derivative(act, np.zeros(1))        # refuse an unknown activation now
        _r_output_delta(objective.network, np.zeros((1, 1, 1)), np.zeros((1, 1, 1)),
                        np.zeros((1, 1)))
        super().start(objective)

    def iterate(self, objective):
        h = objective.hessian(self.x)
        eye = np.arange(len(self.x))
        for _ in range(self.max_tries):
            shifted = h.copy()
            shifted[eye, eye] += self.mu
            try:
                chol = np.linalg.cholesky(shifted)
            except np.linalg.LinAlgError:             # not positive definite: damp more
                self.mu, self.nu = self.mu * self.nu, self.nu * 2
                continue
            d = -_cho_solve(chol, self.g)
            predicted = -(float(self.g @ d) + 0.5 * float(d @ (h @ d)))
            f_new, g_new = objective.value_and_grad(self.x + d)
            rho = (self.f - f_new) / predicted if predicted > 0 else -1.0
            if rho > 0 and math.isfinite(f_new):
                self.mu *= max(1 / 3, 1 - (2 * rho - 1) ** 3)
                self.nu = 2.0
                self.accept(self.x + d, f_new, g_new)
                return
            self.mu, self.nu = self.mu * self.nu, self.nu * 2
        raise LineSearchFailed(f"no damped Newton step lowered the cost in {self.max_tries} "
                               f"tries (damping mu reached {self.mu:.3g})")

    def settings(self):
        return {"damping": self.damping, "max_tries": self.max_tries, "gtol": self.gtol}

    def extra_state(self):
        return {"mu": self.mu, "nu": self.nu}

    def load_extra(self, d):
        self.mu, self.nu = float(d["mu"]), float(d["nu"])


def _cho_solve(chol, b):
    """Solve (L L^T) x = b for a lower-triangular Cholesky factor L."""
    from scipy.linalg import solve_triangular
    return solve_triangular(chol, solve_triangular(chol, b, lower=True), lower=True, trans="T")


METHODS = {cls.name: cls for cls in (LBFGS, BFGS, ConjugateGradient, Newton)}


def make_method(name, **options):
    """Return the full-batch method called ``name`` with its ``options``."""
    if name not in METHODS:
        raise ConfigError(f"unknown full-batch optimiser {name!r}; choose from "
                          f"{', '.join(METHODS)}")
    require_scipy()
    return METHODS[name](**options)


def is_full_batch(optimizer):
    """Whether ``optimizer`` is one of these methods (it needs ``minimize``)."""
    return isinstance(optimizer, FullBatchMethod)


# ------------------------------------------------------------------- loop
def minimize(network, training, iterations, method, *, regularization=None, evaluation=None,
             callbacks=(), start_epoch=0, history=None):
    """Run ``iterations`` iterations of the full-batch ``method`` on
    ``network``'s regularised training cost; return the ``TrainingState``.

    Each iteration is an "epoch" to the callbacks: ``state.history`` gets one
    record per iteration (``epoch``, ``train_seconds``, ``eta`` None, the
    objective ``f``, the gradient's largest entry ``gradient_max`` and the
    number of cost evaluations so far, ``evaluations``) before
    ``on_epoch_end``.  ``start_epoch`` and ``history`` continue a run restored
    by ``nndl.checkpoint.restore`` (which restores the method's state too).
    A failed line search, convergence, or a callback's ``state.stop`` ends
    the run; the network then holds the best parameters found.
    """
    require_scipy()
    if not is_full_batch(method):
        raise ConfigError(f"{type(method).__name__} is not a full-batch method; "
                          "use nndl.training.train")
    check_training_args(network, training, iterations, len(training))
    if (isinstance(start_epoch, bool) or not isinstance(start_epoch, (int, np.integer))
            or not 0 <= start_epoch <= iterations):
        raise ConfigError(f"start_epoch must be an integer in [0, {iterations}], "
                          f"got {start_epoch!r}")
    if evaluation is not None:
        check_data(network, evaluation, "evaluation")
    network.check_params()
    regularization = regularization or NoRegularization()
    if not isinstance(regularization, (NoRegularization, L1, L2)):
        raise ConfigError(f"the full-batch methods know L2 and L1, not "
                          f"{type(regularization).__name__}")
    x_all = np.ascontiguousarray(training.images, dtype=network.dtype)
    y_all = one_hot(training.labels, network.sizes[-1], network.dtype)
    objective = Objective(network, x_all, y_all, regularization)
    method.start(objective)
    objective.unflatten(method.x)
    state = TrainingState(network, training, evaluation, iterations, len(training), method,
                          regularization, callbacks=list(callbacks),
                          history=list(history or []))
    state.batches_per_epoch = 1
    state.engine, state.engine_reason = "full-batch", f"{method.name} needs the whole training set"
    _call(callbacks, "on_train_begin", state)
    for it in range(start_epoch, iterations):
        state.epoch, state.batch = it, 0
        _call(callbacks, "on_epoch_begin", state)
        start = time.perf_counter()
        reason = method.step(objective)
        objective.unflatten(method.x)
        state.batch, state.images_seen = 1, state.images_seen + len(training)
        state.history.append({"epoch": it, "train_seconds": time.perf_counter() - start,
                              "eta": None, "f": method.f,
                              "gradient_max": float(np.max(np.abs(method.g))),
                              "evaluations": objective.evaluations})
        _call(callbacks, "on_epoch_end", state)
        if reason and not state.stop:
            state.stop = reason
        if state.stop:
            break
    _call(callbacks, "on_train_end", state)
    return state
