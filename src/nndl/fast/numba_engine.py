"""The compiled engine: whole epochs of small-mini-batch SGD in one call.

It copies the network's parameters into the kernel's layout, runs
``kernel.sgd_batches``, and copies them back.  The kernel's layout: the
first layer's weights transposed (W^T, one row per input pixel, so a sparse
input visits only its non-zero pixels' rows), every other layer's as they
are (W, one row per unit, so its inner loops run over the layer's input),
and hidden widths padded to a multiple of 16, so that every inner loop
runs over whole SIMD vectors.
Padding is exact: padded units output exactly 0 and have zero weights in
and out, so their deltas and updates are exactly zero and they never
influence a real unit.
"""

import numpy as np

from . import kernel
from ..activations import Linear, ReLU, Sigmoid, Softmax, Tanh
from ..costs import QuadraticCost
from ..regularization import L1, L2

KIND = {Sigmoid: kernel.SIGMOID, Tanh: kernel.TANH, ReLU: kernel.RELU,
        Linear: kernel.LINEAR, Softmax: kernel.SOFTMAX}
SIMD = 16


def padded_sizes(sizes):
    """Input and output widths as they are; hidden widths rounded up to SIMD."""
    return [sizes[0]] + [-(-h // SIMD) * SIMD for h in sizes[1:-1]] + [sizes[-1]]


class NumbaEngine:
    """Mini-batch SGD for supported networks, compiled, with sparse inputs."""

    name = "numba"
    stops_on_divergence = True     # see run_epoch

    def __init__(self, network, optimizer, regularization, mini_batch_size, x, y):
        self.network, self.optimizer, self.regularization = network, optimizer, regularization
        self.m, self.n = mini_batch_size, len(x)
        self.y = y
        self.masks = kernel.nonzero_masks(x)
        self.kinds = np.array([KIND[a] for a in network.activations], dtype=np.int64)
        self.widths = np.array(network.sizes[1:], dtype=np.int64)
        self.cost = kernel.COST_QUADRATIC if network.cost is QuadraticCost else kernel.COST_A_MINUS_Y
        self.reg = {L2: kernel.REG_L2, L1: kernel.REG_L1}.get(type(regularization), kernel.REG_NONE)
        dt, p = network.dtype, padded_sizes(network.sizes)
        self.wts = tuple(np.zeros((p[0], p[1]) if l == 0 else (p[l + 1], p[l]), dtype=dt)
                         for l in range(len(p) - 1))
        self.bs = tuple(np.zeros(b, dtype=dt) for b in p[1:])

    def run_epoch(self, x, y, order, epoch=None, after_batch=None):
        """Train one epoch on the mini-batches of ``order``; call
        ``after_batch(images)`` after each step if given (one kernel call per
        mini-batch then, instead of one per epoch).  Return None, or the
        number of mini-batches done when the kernel stopped early because an
        output bias became NaN or infinite."""
        eta = float(self.optimizer.eta)
        reg_step = eta * getattr(self.regularization, "lmbda", 0.0) / self.n
        spans = ([(k, min(k + self.m, self.n)) for k in range(0, self.n, self.m)]
                 if after_batch else [(0, self.n)])
        for start, stop in spans:
            self._load()
            bad = kernel.sgd_batches(self.masks, x, self.y, order, start, stop, self.m,
                                     self.wts, self.bs, self.kinds, self.widths, self.cost,
                                     eta, self.reg, reg_step)
            self._store()
            if bad >= 0:
                return bad // self.m + 1
            if after_batch:
                after_batch(stop - start)
        return None

    def _views(self):
        """For each layer: the part of the kernel's weights and biases that
        holds the network's W (the first layer's transposed back) and b."""
        for l, (wt, b, w) in enumerate(zip(self.wts, self.bs, self.network.weights)):
            rows, cols = w.shape
            yield (wt[:cols, :rows].T if l == 0 else wt[:rows, :cols]), b[:rows]

    def _load(self):
        """Copy the network's weights and biases into the kernel's layout."""
        for (kw, kb), w, nb in zip(self._views(), self.network.weights, self.network.biases):
            kw[...] = w
            kb[:] = nb[:, 0]

    def _store(self):
        """Copy the kernel's weights and biases back into the network, in place."""
        for (kw, kb), w, nb in zip(self._views(), self.network.weights, self.network.biases):
            w[...] = kw
            nb[:, 0] = kb
