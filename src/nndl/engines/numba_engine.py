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

``kernel`` (which imports Numba) is imported only when the engine is
considered, so this module loads without Numba.
"""

import sys

import numpy as np

from ..activations import Linear, ReLU, Sigmoid, Softmax, Tanh
from ..costs import QuadraticCost
from ..optimizers import SGD
from ..regularization import L1, L2, NoRegularization
from .base import (Engine, check_decay, decay_reason, network_reason, optimizer_reason,
                   reference_only_reason, regularization_reason)

SIMD = 16
# Below this mini-batch size one compiled call per epoch beats BLAS calls per
# mini-batch; from it up, BLAS wins even where the kernel skips most of the
# first layer's products: on a quiet machine [784,800,10] with mini-batch 100
# took 0.184 s with BLAS and 0.377 s compiled (docs/benchmarks.md).
NUMBA_BELOW_BATCH = 32


def numba_available():
    """Return True if the compiled kernel can be imported."""
    try:
        from . import kernel  # noqa: F401
    except ImportError:
        return False
    return True


def padded_sizes(sizes):
    """Input and output widths as they are; hidden widths rounded up to SIMD."""
    return [sizes[0]] + [-(-h // SIMD) * SIMD for h in sizes[1:-1]] + [sizes[-1]]


class NumbaEngine(Engine):
    """Mini-batch SGD for supported networks, compiled, with sparse inputs."""

    name = "numba"
    description = "compiled kernel, sparse inputs"
    stops_on_divergence = True     # see run_epoch

    @classmethod
    def supports(cls, network, step):
        """The kernel runs plain SGD with no, L1 or L2 regularisation on
        ``Network``s of the built-in activations and costs, float32/64."""
        return (network_reason(network)
                or optimizer_reason(step.optimizer, {SGD: {"eta"}})
                or regularization_reason(step.regularization, (NoRegularization, L1, L2))
                or reference_only_reason(step)
                or decay_reason(step, step.optimizer.eta)
                or (None if numba_available() else "numba cannot be imported"))

    @classmethod
    def preference(cls, step):
        """Small mini-batches: larger ones run faster on BLAS."""
        if step.mini_batch_size < NUMBA_BELOW_BATCH:
            return None
        return f"mini-batches of {NUMBA_BELOW_BATCH} or more run faster on BLAS"

    def __init__(self, network, step, x, y):
        from .. import engines
        if engines.LEAN_NUMBA:
            start_numba_without_scipy_blas()
            single_blas_thread()
        from . import kernel
        super().__init__(network, step, x, y)
        self.kernel = kernel
        self.m, self.n = step.mini_batch_size, len(x)
        self.y = y
        self.masks = kernel.nonzero_masks(x)
        kind = {Sigmoid: kernel.SIGMOID, Tanh: kernel.TANH, ReLU: kernel.RELU,
                Linear: kernel.LINEAR, Softmax: kernel.SOFTMAX}
        self.kinds = np.array([kind[a] for a in network.activations], dtype=np.int64)
        self.widths = np.array(network.sizes[1:], dtype=np.int64)
        self.cost = kernel.COST_QUADRATIC if network.cost is QuadraticCost else kernel.COST_A_MINUS_Y
        self.reg = {L2: kernel.REG_L2, L1: kernel.REG_L1}.get(type(step.regularization),
                                                             kernel.REG_NONE)
        dt, p = network.dtype, padded_sizes(network.sizes)
        self.wts = tuple(np.zeros((p[0], p[1]) if l == 0 else (p[l + 1], p[l]), dtype=dt)
                         for l in range(len(p) - 1))
        self.bs = tuple(np.zeros(b, dtype=dt) for b in p[1:])

    def run_epoch(self, x, y, order, epoch=None, after_batch=None):
        """Train one epoch on the mini-batches of ``order``; call
        ``after_batch(images)`` after each step if given (one kernel call per
        mini-batch then, instead of one per epoch, and each call reads the
        learning rate afresh, which only a callback can change).  Return
        None, or the number of mini-batches done when the kernel stopped
        early because an output bias became NaN or infinite."""
        spans = ([(k, min(k + self.m, self.n)) for k in range(0, self.n, self.m)]
                 if after_batch else [(0, self.n)])
        lmbda = getattr(self.step.regularization, "lmbda", 0.0)
        for start, stop in spans:
            eta = float(self.step.optimizer.eta)
            check_decay(self.step, eta)
            self._load()
            bad = self.kernel.sgd_batches(self.masks, x, self.y, order, start, stop, self.m,
                                          self.wts, self.bs, self.kinds, self.widths,
                                          self.cost, eta, self.reg, eta * lmbda / self.n)
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


def single_blas_thread():
    """Hold the process's BLAS to one thread for the rest of the run.

    With the compiled kernel training, BLAS computes only the monitoring
    products after each epoch (small for the networks the kernel serves); a
    second OpenBLAS thread adds about 15 MB of resident memory at the first
    of them and little speed.  Like ``start_numba_without_scipy_blas`` this
    is for a process that runs nothing but nndl (``engines.LEAN_NUMBA``).
    """
    from threadpoolctl import threadpool_limits
    threadpool_limits(limits=1, user_api="blas")


def start_numba_without_scipy_blas():
    """Start Numba's compiler target while ``import scipy.linalg`` fails.

    On start-up Numba imports ``scipy.linalg.cython_blas`` only to learn
    whether ``np.dot`` and ``np.linalg`` may be compiled; that loads SciPy's
    own BLAS library, about 28 MB of memory that the kernel, which calls no
    BLAS, never uses.  Hidden, Numba just marks those functions unavailable
    for the rest of the process -- so this is only for a process that runs
    nothing but nndl (the ``nndl`` command), not for library users.  It does
    nothing if SciPy's linalg is already loaded or Numba already started.
    """
    if "scipy.linalg" in sys.modules or "numba.np.arraymath" in sys.modules:
        return
    from numba.core.registry import cpu_target
    sys.modules["scipy.linalg"] = None          # makes the import raise ImportError
    try:
        cpu_target.target_context.refresh()
    finally:
        del sys.modules["scipy.linalg"]
