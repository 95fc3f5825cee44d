"""The BLAS engine: mini-batch SGD as a few large matrix products.

For big layers and big mini-batches nearly all the time is in the matrix
products, which NumPy hands to the machine's BLAS.  What is left to save is
the work around them, so this engine

* keeps every intermediate in buffers allocated once and computes in place
  (``out=``), instead of allocating fresh arrays for each mini-batch;
* folds the step size eta/m into the small delta matrix before the product
  delta^T a, so the update is one product and one subtraction;
* updates each weight matrix inside the product that computes its change,
  ``W += -eta/m * delta^T a`` as one BLAS ``gemm`` call (``gemm.py``), where
  NumPy's BLAS allows it, instead of computing the gradient and then
  subtracting it;
* applies L2 weight decay lazily, as ``kernel`` does: the weights are held
  as s * V and decay only multiplies the scalar s (rescaled below 1e-4 and
  at the end of every epoch).

It is pure NumPy, so it also serves when Numba is not installed.  It reads
the learning rate at every step, so a schedule that changes it after any
mini-batch takes effect from the next one.
"""

import math

import numpy as np

from ..activations import Linear, ReLU, Sigmoid, Softmax, Tanh
from ..costs import QuadraticCost
from ..optimizers import SGD
from ..regularization import L1, L2, NoRegularization
from .base import (Engine, check_decay, decay_reason, network_reason, optimizer_reason,
                   reference_only_reason, regularization_reason)
from .gemm import fused_update, usable

RENORMALIZE_BELOW = 1e-4


def activate_(z, act):
    """Replace z by act.fn(z) in place (the same formulas as activations.py)."""
    if act is Sigmoid:
        z *= 0.5
        np.tanh(z, out=z)
        z *= 0.5
        z += 0.5
    elif act is Tanh:
        np.tanh(z, out=z)
    elif act is ReLU:
        np.maximum(z, 0, out=z)
    elif act is Softmax:
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)


def times_derivative_(d, a, act, tmp):
    """Multiply d in place by act's derivative at outputs a (tmp: scratch)."""
    if act is Sigmoid:
        np.subtract(1, a, out=tmp)
        tmp *= a
        d *= tmp
    elif act is Tanh:
        np.multiply(a, a, out=tmp)
        np.subtract(1, tmp, out=tmp)
        d *= tmp
    elif act is ReLU:
        d[a <= 0] = 0


class BlasEngine(Engine):
    """Mini-batch SGD for supported networks with preallocated buffers."""

    name = "blas"
    description = "buffered BLAS"
    stops_on_divergence = True     # see run_epoch

    @classmethod
    def supports(cls, network, step):
        """Plain SGD with no, L1 or L2 regularisation on ``Network``s of the
        built-in activations and costs, float32/64."""
        return (network_reason(network)
                or optimizer_reason(step.optimizer, {SGD: {"eta"}})
                or regularization_reason(step.regularization, (NoRegularization, L1, L2))
                or reference_only_reason(step)
                or decay_reason(step, step.optimizer.eta))

    def __init__(self, network, step, x, y):
        super().__init__(network, step, x, y)
        self.m, self.n = step.mini_batch_size, len(x)
        self.regularization = step.regularization
        dt, sizes = network.dtype, network.sizes
        self.xb = np.empty((self.m, sizes[0]), dtype=dt)
        self.yb = np.empty((self.m, sizes[-1]), dtype=dt)
        self.a = [np.empty((self.m, h), dtype=dt) for h in sizes[1:]]
        self.d = [np.empty((self.m, h), dtype=dt) for h in sizes[1:]]
        self.tmp = [np.empty((self.m, h), dtype=dt) for h in sizes[1:]]
        self.fused = fused_update(dt)      # None: gradient, then subtract
        self.g = [None] * len(network.weights)
        self.gb = [np.empty(h, dtype=dt) for h in sizes[1:]]

    def run_epoch(self, x, y, order, epoch=None, after_batch=None):
        """Train one epoch on the mini-batches of ``order``, calling
        ``after_batch(images)`` after each step if given.  Return None, or
        the number of mini-batches done when it stopped early because an
        output bias became NaN or infinite (a NaN anywhere reaches them
        within one step)."""
        optimizer, lmbda = self.step.optimizer, getattr(self.regularization, "lmbda", 0.0)
        s, out = 1.0, self.network.biases[-1]
        for k in range(0, self.n, self.m):
            idx = order[k:k + self.m]
            eta = float(optimizer.eta)
            check_decay(self.step, eta)
            s = self._step(x, y, idx, eta, eta * lmbda / self.n, s)
            if after_batch or s < RENORMALIZE_BELOW:
                self._rescale(s)
                s = 1.0
            if not math.isfinite(float(out.sum())):
                self._rescale(s)
                return k // self.m + 1
            if after_batch:
                after_batch(len(idx))
        self._rescale(s)
        return None

    def _step(self, x, y, idx, eta, reg_step, s):
        """One SGD step on the rows ``idx``; return the new weight scale."""
        net, c = self.network, len(idx)
        acts, ws = net.activations, net.weights
        xb, yb = self.xb[:c], self.yb[:c]
        np.take(x, idx, axis=0, out=xb)
        np.take(y, idx, axis=0, out=yb)
        a = [xb] + [buf[:c] for buf in self.a]
        d = [buf[:c] for buf in self.d]
        for l, (w, b) in enumerate(zip(ws, net.biases)):           # forward
            np.matmul(a[l], w.T, out=a[l + 1])
            if s != 1.0:
                a[l + 1] *= s
            a[l + 1] += b.T
            activate_(a[l + 1], acts[l])
        np.subtract(a[-1], yb, out=d[-1])                           # BP1
        if net.cost is QuadraticCost:
            times_derivative_(d[-1], a[-1], acts[-1], self.tmp[-1][:c])
        for l in range(len(ws) - 1, 0, -1):                         # BP2
            np.matmul(d[l], ws[l], out=d[l - 1])
            if s != 1.0:
                d[l - 1] *= s
            times_derivative_(d[l - 1], a[l], acts[l - 1], self.tmp[l - 1][:c])
        if type(self.regularization) is L1:                         # eq. (97)
            for w in ws:
                w -= reg_step * np.sign(w)
        s_new = s * (1.0 - reg_step) if type(self.regularization) is L2 else s
        for l, (w, b) in enumerate(zip(ws, net.biases)):           # BP3, BP4
            np.sum(d[l], axis=0, out=self.gb[l])
            self.gb[l] *= eta / c
            b[:, 0] -= self.gb[l]
            self._update(l, w, d[l], a[l], -eta / (c * s_new))
        return s_new

    def _update(self, l, w, d, a, alpha):
        """w += alpha * d^T a: one gemm call if possible, else NumPy's
        product into a gradient buffer and a subtraction."""
        if self.fused is not None and usable(w, d, a):
            self.fused(w, d, a, alpha)
            return
        if self.g[l] is None:
            self.g[l] = np.empty_like(w)
        d *= -alpha
        np.matmul(d.T, a, out=self.g[l])
        w -= self.g[l]

    def _rescale(self, s):
        """Multiply the stored weights by s, making them the true weights."""
        if s != 1.0:
            for w in self.network.weights:
                w *= s
