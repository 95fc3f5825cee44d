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
  subtracting it; with momentum the same call updates the velocity,
  ``v = mu v - eta/m * delta^T a`` (gemm's beta = mu);
* applies L2 weight decay lazily for plain SGD, as ``kernel`` does: the
  weights are held as s * V and decay only multiplies the scalar s
  (rescaled below 1e-4, before every per-batch callback and at the end of
  every epoch).  With momentum the decay enters the velocity, so there the
  weights are held as they are and the decay is one more pass;
* for the adaptive optimisers (Adam, RMSProp, AdaGrad) computes the
  reference's gradient, the mean of delta^T a plus the regulariser's term
  (``add_gradient``, not a lazy decay), into buffers of its own and hands
  them to the optimiser's own ``update_params``: the step's arithmetic and
  its state (the moments, the step count t) are the optimiser's.

It runs every per-step technique of the chapter the reference step runs
with the built-in pieces: momentum and Nesterov's accelerated gradient
(``optimizers.Momentum``, its velocities updated in place in the
optimiser, so a checkpoint or a callback sees them current), dropout of
hidden and input units with either mask mode (the masks drawn by the
``Dropout`` from its generator exactly as ``reference.sgd_step`` draws
them), the max-norm constraint after each step, L1 and L2, and on-the-fly
expansion (the ``Expander``'s whole distorted epoch, ``epoch_images``,
prepared in the background while the previous epoch trains).

It is pure NumPy, so it also serves when Numba is not installed.  It reads
the learning rate at every step, so a schedule that changes it after any
mini-batch takes effect from the next one.
"""

import contextlib
import math

import numpy as np

from ..activations import Linear, ReLU, Sigmoid, Softmax, Tanh
from ..costs import QuadraticCost
from ..dropout import Dropout
from ..optimizers import SGD, Momentum
from ..regularization import L1, L2, MaxNorm, NoRegularization
from .base import (ADAPTIVE_ATTRIBUTES, DROPOUT_ATTRIBUTES, MAX_NORM_ATTRIBUTES,
                   MOMENTUM_ATTRIBUTES, Engine, check_decay, decay_reason, expander_known,
                   is_adaptive, network_reason, optimizer_reason, piece_reason,
                   reference_only_reason, regularization_reason, state_reason)
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
        """SGD, momentum or Nesterov, Adam, RMSProp or AdaGrad; no, L1 or L2
        regularisation; dropout; max-norm; an ``Expander`` as batch source; on
        ``Network``s of the built-in activations and costs, float32/64."""
        return (network_reason(network)
                or optimizer_reason(step.optimizer, {SGD: {"eta"}, Momentum: MOMENTUM_ATTRIBUTES,
                                                     **ADAPTIVE_ATTRIBUTES})
                or state_reason(network, step.optimizer)
                or regularization_reason(step.regularization, (NoRegularization, L1, L2))
                or piece_reason(step.constraint, "constraint", {MaxNorm: MAX_NORM_ATTRIBUTES})
                or piece_reason(step.dropout, "dropout", {Dropout: DROPOUT_ATTRIBUTES})
                or reference_only_reason(step, dropout=True, constraint=True,
                                         augment=expander_known(step.augment))
                or decay_reason(step, step.optimizer.eta))

    @classmethod
    def preference(cls, network, step):
        """Mini-batches of 32 or more, or any when Numba is missing: below 32
        NumPy's per-call overhead dominates, and what the compiled kernel
        does not run goes to the reference step as before."""
        from . import numba_engine
        if step.mini_batch_size >= numba_engine.NUMBA_BELOW_BATCH \
                or not numba_engine.numba_available():
            return None
        return f"mini-batches under {numba_engine.NUMBA_BELOW_BATCH} are the compiled kernel's"

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
        self.dropped = [np.empty((self.m, h), dtype=dt) for h in sizes[:-1]]
        self.fused = fused_update(dt)      # None: gradient, then subtract
        self.g = [None] * len(network.weights)
        self.scratch = [None] * len(network.weights)
        self.gb = [np.empty(h, dtype=dt) for h in sizes[1:]]
        self.momentum = type(step.optimizer) is Momentum
        self.adaptive = is_adaptive(step.optimizer)
        self.gbias = ([np.empty((h, 1), dtype=dt) for h in sizes[1:]] if self.adaptive
                      else None)

    def run_epoch(self, x, y, order, epoch=None, after_batch=None):
        """Train one epoch on the mini-batches of ``order`` (of the
        expander's distorted copy of ``x`` if the step has one), calling
        ``after_batch(images)`` after each step if given.  Return None, or
        the number of mini-batches done when it stopped early because an
        output bias became NaN or infinite (a NaN anywhere reaches them
        within one step)."""
        augment = self.step.augment
        if augment is None:
            return self._epoch(x, y, order, after_batch)
        images = augment.epoch_images(x, epoch)
        with augment.blas_limit() if hasattr(augment, "blas_limit") else contextlib.nullcontext():
            return self._epoch(images, y, order, after_batch)

    def _epoch(self, x, y, order, after_batch):
        """The steps of ``run_epoch`` on the training matrices ``x``, ``y``."""
        optimizer, lmbda = self.step.optimizer, getattr(self.regularization, "lmbda", 0.0)
        lazy = type(self.regularization) is L2 and type(optimizer) is SGD
        s, out = 1.0, self.network.biases[-1]
        for k in range(0, self.n, self.m):
            idx = order[k:k + self.m]
            eta = float(optimizer.eta)
            check_decay(self.step, eta)
            reg_step = eta * lmbda / self.n
            s_new = s * (1.0 - reg_step) if lazy else s
            self._step(x, y, idx, eta, reg_step, s, s_new)
            s = s_new
            if after_batch or s < RENORMALIZE_BELOW:
                self._rescale(s)
                s = 1.0
            if self.step.constraint is not None:
                self._constrain(s)
            if not math.isfinite(float(out.sum())):
                self._rescale(s)
                return k // self.m + 1
            if after_batch:
                after_batch(len(idx))
        self._rescale(s)
        return None

    def _masks(self, c):
        """This step's dropout masks (one per layer input, None where no
        unit is dropped), drawn as ``reference.sgd_step`` draws them."""
        dropout, net = self.step.dropout, self.network
        if dropout is None or not dropout.active:
            return [None] * len(net.weights)
        return dropout.masks(net.sizes, c, net.dtype)

    def _step(self, x, y, idx, eta, reg_step, s, s_new):
        """One step on the rows ``idx`` with the weights held as s * V;
        the weights are left as s_new * V."""
        net, c = self.network, len(idx)
        acts, ws = net.activations, net.weights
        xb, yb = self.xb[:c], self.yb[:c]
        np.take(x, idx, axis=0, out=xb)
        np.take(y, idx, axis=0, out=yb)
        masks = self._masks(c)
        a = [xb] + [buf[:c] for buf in self.a]
        d = [buf[:c] for buf in self.d]
        inputs = []                       # what each layer sees: a[l], dropped
        for l, (w, b) in enumerate(zip(ws, net.biases)):           # forward
            inputs.append(a[l] if masks[l] is None
                          else np.multiply(a[l], masks[l], out=self.dropped[l][:c]))
            np.matmul(inputs[l], w.T, out=a[l + 1])
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
            if masks[l] is not None:
                d[l - 1] *= masks[l]
        if self.momentum:
            self._momentum_update(inputs, d, eta, reg_step, c)
            return
        if self.adaptive:
            self._adaptive_update(inputs, d, c)
            return
        if type(self.regularization) is L1 and reg_step:            # eq. (97)
            for l, w in enumerate(ws):
                scratch = np.sign(w, out=self._scratch(l))
                scratch *= reg_step
                w -= scratch
        for l, (w, b) in enumerate(zip(ws, net.biases)):           # BP3, BP4
            np.sum(d[l], axis=0, out=self.gb[l])
            self.gb[l] *= eta / c
            b[:, 0] -= self.gb[l]
            self._update(l, w, d[l], inputs[l], -eta / (c * s_new))

    def _momentum_update(self, inputs, d, eta, reg_step, c):
        """Equations (107)-(108) for every weight and bias, or Nesterov's
        reformulation, in place on the optimiser's velocities:

            v' = mu v - eta (grad + decay),   w' = w + v'          (momentum)
            w' = w - mu v + (1 + mu) v'                            (Nesterov)

        where the last line is ``Momentum``'s w + mu v' - eta grad."""
        net, opt = self.network, self.step.optimizer
        ws, bs = net.weights, net.biases
        if opt.velocities is None:
            opt.velocities = [np.zeros_like(p) for p in ws + bs]
        mu, nesterov, layers = float(opt.mu), opt.nesterov, len(ws)
        reg = type(self.regularization)
        for l, (w, b) in enumerate(zip(ws, bs)):
            vw, vb = opt.velocities[l], opt.velocities[layers + l][:, 0]
            decay = reg_step and reg in (L1, L2)
            if decay:                                               # eq. (93)/(97)'s term, from w
                scratch = self._scratch(l)
                if reg is L1:
                    np.sign(w, out=scratch)
                else:
                    np.copyto(scratch, w)
                scratch *= reg_step
            self._velocity(l, vw, w, d[l], inputs[l], mu, -eta / c, nesterov)
            if decay:
                vw -= scratch
            if nesterov:
                w += np.multiply(vw, 1.0 + mu, out=self._scratch(l))
            else:
                w += vw
            np.sum(d[l], axis=0, out=self.gb[l])
            self.gb[l] *= eta / c
            if nesterov:
                b[:, 0] -= mu * vb
            vb *= mu
            vb -= self.gb[l]
            b[:, 0] += (1.0 + mu) * vb if nesterov else vb

    def _adaptive_update(self, inputs, d, c):
        """The reference step's gradient, (BP3)-(BP4) averaged over the c
        examples plus the regulariser's term ((lmbda/n) w for L2, equation
        (93)'s; (lmbda/n) sgn w for L1, (97)'s) at the old weights, written
        into this engine's buffers; then the optimiser's ``update_params``
        on the weights and biases, which may overwrite the buffers."""
        net, scale = self.network, 1.0 / c
        grads_w = []
        for l, w in enumerate(net.weights):
            g = self.g_buffer(l)
            np.matmul(d[l].T, inputs[l], out=g)
            g *= scale
            self.regularization.add_gradient(g, w, self.n)
            grads_w.append(g)
            np.sum(d[l], axis=0, out=self.gbias[l][:, 0])
            self.gbias[l] *= scale
        self.step.optimizer.update_params(net.weights + net.biases, grads_w + self.gbias)

    def _velocity(self, l, v, w, d, a, mu, alpha, nesterov):
        """v = mu v + alpha d^T a: one gemm call if possible, else NumPy's
        product into a gradient buffer.  For Nesterov, first w -= mu v (the
        old v), which the product's pass over v does not need."""
        if nesterov:
            np.multiply(v, mu, out=self.g_buffer(l))
            w -= self.g[l]
        if self.fused is not None and usable(v, d, a):
            self.fused(v, d, a, alpha, mu)
            return
        np.matmul(d.T, a, out=self.g_buffer(l))
        self.g[l] *= alpha
        v *= mu
        v += self.g[l]

    def g_buffer(self, l):
        """Layer l's gradient-sized buffer (allocated at first use)."""
        if self.g[l] is None:
            self.g[l] = np.empty_like(self.network.weights[l])
        return self.g[l]

    def _scratch(self, l):
        """A second weight-sized buffer of layer l (the decay term)."""
        if self.scratch[l] is None:
            self.scratch[l] = np.empty_like(self.network.weights[l])
        return self.scratch[l]

    def _update(self, l, w, d, a, alpha):
        """w += alpha * d^T a: one gemm call if possible, else NumPy's
        product into a gradient buffer and a subtraction."""
        if self.fused is not None and usable(w, d, a):
            self.fused(w, d, a, alpha)
            return
        d *= -alpha
        np.matmul(d.T, a, out=self.g_buffer(l))
        w -= self.g[l]

    def _constrain(self, s):
        """Apply the step's max-norm constraint to the weights s * V: the
        bound c on the rows of s * V is the bound c / s on those of V."""
        constraint = self.step.constraint
        if s != 1.0:
            constraint = MaxNorm(constraint.c / s)
        constraint.apply(self.network.weights)

    def _rescale(self, s):
        """Multiply the stored weights by s, making them the true weights."""
        if s != 1.0:
            for w in self.network.weights:
                w *= s
