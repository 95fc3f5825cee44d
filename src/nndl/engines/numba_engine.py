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
import time

import numpy as np

from ..activations import Linear, ReLU, Sigmoid, Softmax, Tanh
from ..costs import QuadraticCost
from ..dropout import Dropout
from ..optimizers import SGD, AdaGrad, Adam, Momentum, RMSProp
from ..regularization import L1, L2, MaxNorm, NoRegularization
from .base import (ADAPTIVE_ATTRIBUTES, DROPOUT_ATTRIBUTES, MAX_NORM_ATTRIBUTES,
                   MOMENTUM_ATTRIBUTES, STATE_ARRAYS, Engine, check_decay, decay_reason,
                   expander_known, is_adaptive, network_reason, optimizer_reason,
                   piece_reason, reference_only_reason, regularization_reason, state_reason)

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
        """The kernel runs SGD, momentum and Nesterov, Adam, RMSProp and
        AdaGrad, no, L1 or L2 regularisation, dropout, max-norm and an
        ``Expander`` as batch source on ``Network``s of the built-in
        activations and costs, float32/64."""
        return (network_reason(network)
                or optimizer_reason(step.optimizer, {SGD: {"eta"}, Momentum: MOMENTUM_ATTRIBUTES,
                                                     **ADAPTIVE_ATTRIBUTES})
                or state_reason(network, step.optimizer)
                or regularization_reason(step.regularization, (NoRegularization, L1, L2))
                or piece_reason(step.constraint, "constraint", {MaxNorm: MAX_NORM_ATTRIBUTES})
                or piece_reason(step.dropout, "dropout", {Dropout: DROPOUT_ATTRIBUTES})
                or reference_only_reason(step, dropout=True, constraint=True,
                                         augment=expander_known(step.augment))
                or decay_reason(step, step.optimizer.eta)
                or (None if numba_available() else "numba cannot be imported"))

    @classmethod
    def preference(cls, network, step):
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
        self.x, self.y = x, y
        self.masks = None              # the input's non-zero bits: see prepare
        if step.augment is not None and step.augment.trainer_threads is None:
            step.augment.trainer_threads = 1     # the kernel's one thread; the rest distort
        kind = {Sigmoid: kernel.SIGMOID, Tanh: kernel.TANH, ReLU: kernel.RELU,
                Linear: kernel.LINEAR, Softmax: kernel.SOFTMAX}
        self.kinds = np.array([kind[a] for a in network.activations], dtype=np.int64)
        self.widths = np.array(network.sizes[1:], dtype=np.int64)
        self.cost = kernel.COST_QUADRATIC if network.cost is QuadraticCost else kernel.COST_A_MINUS_Y
        self.reg = {L2: kernel.REG_L2, L1: kernel.REG_L1}.get(type(step.regularization),
                                                             kernel.REG_NONE)
        dt, p = network.dtype, padded_sizes(network.sizes)
        self.padded = p
        self.wts = tuple(np.zeros((p[0], p[1]) if l == 0 else (p[l + 1], p[l]), dtype=dt)
                         for l in range(len(p) - 1))
        self.bs = tuple(np.zeros(b, dtype=dt) for b in p[1:])
        stateful = type(step.optimizer)
        self.vws, self.vbs = self._state_like(stateful in STATE_ARRAYS)   # velocities, v, ...
        self.mws, self.mbs = self._state_like(stateful is Adam)           # Adam's m
        self.gws, self.gbs = self._state_like(is_adaptive(step.optimizer))  # gradients

    def _state_like(self, used):
        """Arrays in the kernel's layout of the weights and of the biases,
        zeros if ``used``, else empty ones (the kernel's "none")."""
        dt = self.network.dtype
        return (tuple(np.zeros_like(w) if used else np.zeros((0, 0), dt) for w in self.wts),
                tuple(np.zeros_like(b) if used else np.zeros(0, dt) for b in self.bs))

    def prepare(self, report):
        """Compile the kernel for this run's types, or load it from Numba's
        cache, and mark the input's non-zero pixels (an expanded run's
        every epoch, in ``run_epoch``); if anything had to be compiled,
        ``report("compiling the training kernel, once: 2.8 s")``.

        ``train`` calls it before the first epoch's clock starts, so the
        compilation is never counted in an epoch's ``train_seconds``.
        """
        k = self.kernel
        misses = compilations(k)
        start = time.perf_counter()
        self.masks = k.nonzero_masks(self.x[:1])
        dropout = self.step.dropout
        if dropout is not None and dropout.p_input > 0:
            k.nonzero_masks(np.zeros((1, 1), dtype=bool))      # the input's keep bits
        self._call(self.x, np.zeros(0, dtype=np.int64), 0, 0)  # no steps: types only
        seconds = time.perf_counter() - start
        if compilations(k) > misses:
            report(f"compiling the training kernel, once: {seconds:.1f} s")
        if self.step.augment is None:
            self.masks = k.nonzero_masks(self.x)

    def run_epoch(self, x, y, order, epoch=None, after_batch=None):
        """Train one epoch on the mini-batches of ``order`` (of the
        expander's distorted copy of ``x`` if the step has one, with its
        non-zero masks, both prepared in the background during the previous
        epoch); call ``after_batch(images)`` after each step if given (one
        kernel call per mini-batch then, instead of one per epoch, and each
        call reads the learning rate afresh, which only a callback can
        change).  Return
        None, or the number of mini-batches done when the kernel stopped
        early because an output bias became NaN or infinite."""
        if self.masks is None:
            self.prepare(lambda message: None)
        if self.step.augment is not None:
            x, self.masks = self.step.augment.epoch_with(x, epoch, self.kernel.nonzero_masks)
        spans = ([(k, min(k + self.m, self.n)) for k in range(0, self.n, self.m)]
                 if after_batch else [(0, self.n)])
        for start, stop in spans:
            check_decay(self.step, float(self.step.optimizer.eta))
            self._load()
            bad = self._call(x, order, start, stop)
            self._store()
            if bad >= 0:
                return bad // self.m + 1
            if after_batch:
                after_batch(stop - start)
        return None

    def _call(self, x, order, start, stop):
        """Run the kernel on the mini-batches of order[start:stop] with the
        optimiser's current eta (and mu), the regulariser, the constraint
        and the dropout masks of those mini-batches; return its result."""
        step, k = self.step, self.kernel
        opt = step.optimizer
        eta = float(opt.eta)
        code, mu = k.OPT_SGD, 0.0
        if type(opt) is Momentum:
            code, mu = (k.OPT_NESTEROV if opt.nesterov else k.OPT_MOMENTUM), opt.mu
        rate = getattr(step.regularization, "lmbda", 0.0) / self.n
        reg_step = rate if is_adaptive(opt) else eta * rate
        c = step.constraint.c if step.constraint is not None else 0.0
        keep0, scale0, keeps = self._dropout(start, stop)
        per_example = bool(step.dropout is not None and step.dropout.per_example)
        code, t0, beta1, beta2, eps = self._adaptive(code)
        bad = k.sgd_batches(self.masks, x, self.y, order, start, stop, self.m,
                            self.wts, self.bs, self.kinds, self.widths, self.cost,
                            eta, self.reg, reg_step, code, mu, self.vws, self.vbs, c,
                            keep0, scale0, keeps, per_example,
                            t0, beta1, beta2, eps, self.mws, self.mbs, self.gws, self.gbs)
        if is_adaptive(opt):                    # the steps taken, as update_params counts
            opt.t += len(range(start, stop if bad < 0 else bad + 1, self.m))
        return bad

    def _adaptive(self, code):
        """The kernel's optimiser code and (t, beta1, beta2, eps) for the
        step's optimiser: an adaptive one's own (RMSProp's rho as beta2),
        else ``code`` and unused values."""
        opt, k = self.step.optimizer, self.kernel
        if type(opt) is Adam:
            return k.OPT_ADAM, opt.t, opt.beta1, opt.beta2, opt.eps
        if type(opt) is RMSProp:
            return k.OPT_RMSPROP, opt.t, 0.0, opt.rho, opt.eps
        if type(opt) is AdaGrad:
            return k.OPT_ADAGRAD, opt.t, 0.0, 0.0, opt.eps
        return code, 0, 0.0, 0.0, 1.0

    def _dropout(self, start, stop):
        """The kernel's dropout arguments for the mini-batches from position
        ``start`` to ``stop``: the input's kept-pixel bits, their scale, and
        one mask per layer input (no rows where nothing is dropped)."""
        dt, p, words = self.network.dtype, self.padded, self.masks.shape[1]
        keep0, scale0 = np.zeros((0, words), dtype=np.uint64), 1.0
        keeps = [np.zeros((0, 0), dtype=dt) for _ in self.wts]
        dropout = self.step.dropout
        if dropout is None or not dropout.active or start == stop:
            return keep0, scale0, tuple(keeps)
        counts = [min(self.m, stop - k) for k in range(start, stop, self.m)]
        drawn = draw_masks(dropout, self.network.sizes, counts)
        for l, keep in enumerate(drawn):
            if keep is None:
                continue
            q = dropout.p_input if l == 0 else dropout.p_hidden
            scale = dt(1.0 / (1.0 - q))
            if l == 0:
                keep0, scale0 = self.kernel.nonzero_masks(keep), float(scale)
            else:
                keeps[l] = np.zeros((len(keep), p[l]), dtype=dt)
                keeps[l][:, :keep.shape[1]] = keep * scale
        return keep0, scale0, tuple(keeps)

    def _views(self, wts, bs):
        """For each layer: the part of the kernel's arrays ``wts``, ``bs``
        that holds the network's W (the first layer's transposed back) and b."""
        for l, (wt, b, w) in enumerate(zip(wts, bs, self.network.weights)):
            rows, cols = w.shape
            yield (wt[:cols, :rows].T if l == 0 else wt[:rows, :cols]), b[:rows]

    def _pairs(self):
        """(kernel array, network array) for every weight and bias, and
        every per-parameter state array of the optimiser (velocities,
        moments, accumulators: the optimiser's, created at the first step as
        its ``update_params`` does)."""
        net, opt = self.network, self.step.optimizer
        for (kw, kb), w, nb in zip(self._views(self.wts, self.bs), net.weights, net.biases):
            yield kw, w
            yield kb, nb[:, 0]
        layers = len(net.weights)
        kernel_states = ([(self.mws, self.mbs), (self.vws, self.vbs)] if type(opt) is Adam
                         else [(self.vws, self.vbs)])          # Adam: m, v; else one
        for states, (ws, bs) in zip(state_lists(opt, net.weights + net.biases), kernel_states):
            for l, (kw, kb) in enumerate(self._views(ws, bs)):
                yield kw, states[l]
                yield kb, states[layers + l][:, 0]

    def _load(self):
        """Copy the network's weights and biases (and the optimiser's state) into
        the kernel's layout."""
        for kernel_array, array in self._pairs():
            kernel_array[...] = array

    def _store(self):
        """Copy the kernel's weights and biases (and optimiser state) back, in place."""
        for kernel_array, array in self._pairs():
            array[...] = kernel_array


def state_lists(optimizer, params):
    """The optimiser's lists of per-parameter state arrays, in the order of
    ``base.STATE_ARRAYS`` (Adam: m, then v), each created where it is None
    as the optimiser's ``update_params`` creates it: zeros, or AdaGrad's
    initial accumulator."""
    fill = getattr(optimizer, "initial_accumulator", 0.0)
    for name in STATE_ARRAYS.get(type(optimizer), ()):
        if getattr(optimizer, name) is None:
            setattr(optimizer, name, [np.full_like(p, fill) for p in params])
        yield getattr(optimizer, name)


def compilations(kernel):
    """How many times the kernel's entry points have been compiled rather
    than loaded from Numba's cache (or found compiled) in this process."""
    return sum(sum(f.stats.cache_misses.values())
               for f in (kernel.sgd_batches, kernel._set_nonzero_bits))


def draw_masks(dropout, sizes, counts):
    """The keep masks ``Dropout.masks`` would draw for mini-batches of
    ``counts`` examples in turn, from the same generator in the same order,
    stacked: one bool array per layer input (None where p = 0) with a row
    per example (``per_example``) or per mini-batch.

    ``Dropout.masks`` draws, for each mini-batch and each layer with p > 0,
    ``rng.random((rows, n)) >= p``; a Generator's doubles come one after the
    other whatever the shapes asked for, so a run of mini-batches with the
    same number of rows is drawn here in a few large calls instead of one
    per mini-batch (tests check this equals ``Dropout.masks``).
    """
    rng = dropout.rng if dropout.rng is not None else np.random.default_rng()
    ps = [dropout.p_input if l == 0 else dropout.p_hidden for l in range(len(sizes) - 1)]
    layers = [(l, sizes[l], q) for l, q in enumerate(ps) if q > 0]
    out = {l: [] for l, _, _ in layers}
    k = 0
    while k < len(counts):
        rows = counts[k] if dropout.per_example else 1
        same = k
        while same < len(counts) and (counts[same] if dropout.per_example else 1) == rows:
            same += 1
        width = rows * sum(n for _, n, _ in layers)
        chunk = max(1, (1 << 20) // width)          # about 8 MB of doubles at a time
        for c in range(k, same, chunk):
            batches = min(chunk, same - c)
            draws = rng.random((batches, width))
            offset = 0
            for l, n, q in layers:
                block = draws[:, offset:offset + rows * n]
                out[l].append(block.reshape(batches * rows, n) >= q)
                offset += rows * n
        k = same
    return [np.concatenate(out[l]) if l in out else None for l in range(len(sizes) - 1)]


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
