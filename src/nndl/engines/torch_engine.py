"""The PyTorch engine: the reference step as tensor operations, on a GPU if there is one.

Cireşan et al.'s [784,2500,2000,1500,1000,500,10] network needs far more
arithmetic per epoch than two CPU cores give.  This engine runs the same
training as the reference step (``training.sgd_step``) with PyTorch, on
CUDA when PyTorch sees a GPU and on the CPU otherwise, while everything
else -- the command line, callbacks, schedules, checkpoints, metrics --
stays as it is.  PyTorch is an optional extra: ``pip install 'nndl[torch]'``.

No autograd: the step is the chapter's backpropagation, equations
(BP1)-(BP4) as ``Network.backprop`` writes them, then the mean gradient,
the L2 term of equation (93) or the L1 term of (97), the SGD update (20)
or momentum / Nesterov (107)-(108) as ``optimizers.Momentum`` computes it,
and max-norm -- each as tensor operations in the reference's order.  So a
float32 run agrees with the reference to float32 rounding and a float64
run to float64 rounding (tests/test_torch_engine.py).

What stays in NumPy, so that a run equals the reference's:

* the shuffled order (``training.train`` draws it each epoch);
* dropout masks, drawn by the run's ``Dropout`` from its generator exactly
  as the reference step draws them, one call per mini-batch, then moved to
  the device;
* expanded images: the ``Expander`` distorts them on the CPU in its worker
  thread (the same images as the reference trains on), and each mini-batch
  is moved to the device.  Distortion is not done on the GPU.

The learning rate is read before every mini-batch, so a schedule that
changes ``optimizer.eta`` between batches is honoured.  On the CPU the
tensors share memory with the network's NumPy arrays and momentum's
velocities, so the network is current after every step; on a GPU they are
copied to the device at the start of every epoch and back at its end (and
before every per-batch callback), so checkpoints, monitors and resume see
NumPy arrays as always, and a checkpoint written on one device resumes on
another.
"""

import numpy as np

from ..activations import Linear, ReLU, Sigmoid, Softmax, Tanh
from ..costs import QuadraticCost
from ..dropout import Dropout
from ..errors import ConfigError
from ..optimizers import SGD, Momentum
from ..regularization import L1, L2, MaxNorm, NoRegularization
from .base import (DROPOUT_ATTRIBUTES, MAX_NORM_ATTRIBUTES, MOMENTUM_ATTRIBUTES, Engine,
                   network_reason, optimizer_reason, regularization_reason)

INSTALL_HINT = "the torch engine needs PyTorch: pip install 'nndl[torch]'"

# ``auto`` picks this engine only on a GPU and only for a network and a
# mini-batch large enough that each step's matrix products outweigh the
# cost of launching its few dozen GPU kernels.  The rule is deliberately
# conservative and has not been measured on a GPU: [784,800,800,10]
# (1.27 million parameters) with mini-batch 100 qualifies, [784,100,10]
# does not.  On the CPU ``auto`` never picks it (the blas engine is faster
# there, see docs/benchmarks.md); ``--engine torch`` always can.
GPU_MIN_PARAMETERS = 1_000_000
GPU_MIN_BATCH = 64

OPTIMIZER_ATTRIBUTES = {SGD: {"eta"}, Momentum: MOMENTUM_ATTRIBUTES}
REGULARIZERS = (NoRegularization, L1, L2)


def load_torch():
    """Return the ``torch`` module, or raise ConfigError saying how to install it."""
    try:
        import torch
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None
    return torch


def resolve_device(device=None):
    """Return the ``torch.device`` to train on: ``device`` ('cpu', 'cuda',
    'cuda:1'), or by default CUDA when PyTorch sees a GPU, else the CPU.
    Raise ConfigError for a device that is unknown or not there."""
    torch = load_torch()
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"unknown device {device!r}; choose auto, cpu, cuda or cuda:N") from None
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"unknown device {device!r}; choose auto, cpu, cuda or cuda:N")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {device}: PyTorch {torch.__version__} sees no "
                              "CUDA GPU on this machine")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"--device {device}: there are only "
                              f"{torch.cuda.device_count()} CUDA GPU(s)")
    return dev


def check_device(engine, device):
    """Raise ConfigError before any work if ``engine`` and ``device`` cannot
    run: a GPU asked of a CPU engine, the torch engine without PyTorch, a
    device that is not there.  Return the torch.device, or None if the run
    does not name the torch engine or a device."""
    if engine not in ("auto", "torch") and device not in (None, "cpu"):
        raise ConfigError(f"--device {device} needs --engine torch: the {engine} "
                          "engine runs on the CPU")
    if engine == "torch" or (engine == "auto" and device is not None):
        return resolve_device(device)
    return None


def parameter_count(sizes):
    """The number of weights and biases of a network of ``sizes``."""
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def gpu_would_gain(network, mini_batch_size):
    """The ``auto`` rule: True only if the run is large enough (see
    GPU_MIN_PARAMETERS, GPU_MIN_BATCH) and PyTorch is installed and sees a
    GPU.  PyTorch is not even imported for a smaller run."""
    if (parameter_count(network.sizes) < GPU_MIN_PARAMETERS
            or mini_batch_size < GPU_MIN_BATCH):
        return False
    try:
        torch = load_torch()
    except ConfigError:
        return False
    return bool(torch.cuda.is_available())


def pieces_reason(network, step):
    """Why this engine may not compute exactly the reference step for
    ``network`` and ``step``; None if it does.  Only objects known exactly
    are accepted (as ``base`` does for every engine): a subclass or an
    unknown attribute could change the step in a way this engine would not
    see.  Any batch source is fine: its images are moved to the device."""
    dropout, constraint = step.dropout, step.constraint
    if dropout is not None and (type(dropout) is not Dropout
                                or set(vars(dropout)) - DROPOUT_ATTRIBUTES):
        return f"dropout {type(dropout).__name__} unknown to the torch engine"
    if constraint is not None and (type(constraint) is not MaxNorm
                                   or set(vars(constraint)) - MAX_NORM_ATTRIBUTES):
        return f"constraint {type(constraint).__name__} unknown to the torch engine"
    return (network_reason(network) or optimizer_reason(step.optimizer, OPTIMIZER_ATTRIBUTES)
            or regularization_reason(step.regularization, REGULARIZERS))


# ------------------------------------------------------------ the arithmetic
def activate(z, act):
    """Return act.fn(z), written as activations.py writes it."""
    if act is Sigmoid:
        return (z * 0.5).tanh_().mul_(0.5).add_(0.5)
    if act is Tanh:
        return z.tanh()
    if act is ReLU:
        return z.clamp_min(0.0)
    if act is Softmax:
        e = (z - z.amax(dim=-1, keepdim=True)).exp_()
        return e.div_(e.sum(dim=-1, keepdim=True))
    if act is Linear:
        return z
    raise ConfigError(f"activation {act!r} unknown to the torch engine")


def derivative(a, act):
    """Return sigma'(z) in terms of the output a, as activations.py writes it."""
    if act is Sigmoid:
        return a * (1.0 - a)
    if act is Tanh:
        return 1.0 - a * a
    if act is ReLU:
        return (a > 0).to(a.dtype)
    if act is Linear:
        return a.new_ones(())
    raise ConfigError(f"activation {act!r} has no elementwise derivative")


def dropped(a, mask):
    """``a`` with a dropout mask applied (``a`` itself if there is none)."""
    return a if mask is None else a * mask


def backprop(weights, biases, activations, cost, x, y, masks):
    """Return (nabla_b, nabla_w) summed over the rows of ``x``: equations
    (BP1)-(BP4) exactly as ``Network.backprop`` computes them, dropout
    ``masks`` included (one per layer input, None where nothing is dropped)."""
    acts = [x]
    for w, b, act, m in zip(weights, biases, activations, masks):
        acts.append(activate(dropped(acts[-1], m) @ w.T + b.T, act))
    delta = acts[-1] - y                                                      # BP1
    if cost is QuadraticCost:
        delta = delta * derivative(acts[-1], activations[-1])
    nabla_b, nabla_w = [None] * len(weights), [None] * len(weights)
    for l in range(len(weights) - 1, -1, -1):
        nabla_b[l] = delta.sum(dim=0).reshape(-1, 1)                         # BP3
        nabla_w[l] = delta.T @ dropped(acts[l], masks[l])                    # BP4
        if l:                                                                # BP2
            delta = dropped((delta @ weights[l]) * derivative(acts[l], activations[l - 1]),
                            masks[l])
    return nabla_b, nabla_w


def add_regularization(grads, weights, regularization, n):
    """Add the L2 term (lmbda/n) w or the L1 term (lmbda/n) sgn(w) to each
    mean weight gradient in place, as ``regularization.py`` does."""
    lmbda = getattr(regularization, "lmbda", 0.0)
    if not lmbda or type(regularization) is NoRegularization:
        return
    for g, w in zip(grads, weights):
        g += (lmbda / n) * (w if type(regularization) is L2 else w.sign())


def sgd_update(params, grads, eta):
    """p -> p - eta grad, equation (20) (the gradients are scratch)."""
    for p, g in zip(params, grads):
        g *= eta
        p -= g


def momentum_update(params, grads, velocities, eta, mu, nesterov):
    """Equations (107)-(108), or Nesterov in Bengio et al.'s form, exactly as
    ``optimizers.Momentum.update_params`` computes them."""
    for p, g, v in zip(params, grads, velocities):
        g *= eta
        v *= mu
        v -= g
        if nesterov:
            p += mu * v
            p -= g
        else:
            p += v


def max_norm(weights, c):
    """Scale every row whose Euclidean norm exceeds c back to length c
    (``regularization.MaxNorm``); rows within the ball are multiplied by 1."""
    for w in weights:
        norms = (w * w).sum(dim=1).sqrt_()
        w *= (c / norms).masked_fill_(~(norms > c), 1.0)[:, None]


# ------------------------------------------------------------------ engine
class TorchEngine(Engine):
    """Mini-batch SGD with every technique of the chapter, as PyTorch tensor
    operations on the step's device (see the module docstring)."""

    name = "torch"
    description = "PyTorch tensor operations"
    stops_on_divergence = True     # see run_epoch

    @classmethod
    def supports(cls, network, step):
        """Every cost, activation, optimiser (SGD, momentum, Nesterov),
        regulariser, dropout, max-norm and batch source of the reference,
        on ``Network``s, float32/64, if PyTorch is installed and the device
        is there (ConfigError otherwise: one line saying what is missing)."""
        reason = pieces_reason(network, step)
        if reason is None:
            resolve_device(step.device)
        return reason

    @classmethod
    def preference(cls, network, step):
        """``auto`` picks this engine by ``gpu_would_gain``: PyTorch sees a
        GPU and the run is large (a named device names this engine: see
        ``engines.select``)."""
        if gpu_would_gain(network, step.mini_batch_size):
            return None
        return (f"the torch engine is for a GPU and >= {GPU_MIN_PARAMETERS:,} parameters "
                f"with mini-batches >= {GPU_MIN_BATCH}")

    def __init__(self, network, step, x, y):
        super().__init__(network, step, x, y)
        torch = load_torch()
        self.optimizer, self.regularization = step.optimizer, step.regularization
        self.dropout, self.constraint, self.augment = step.dropout, step.constraint, step.augment
        self.m = step.mini_batch_size
        self.device = resolve_device(step.device)
        self.shared = self.device.type == "cpu"       # tensors are views of the NumPy arrays
        self.x = self._tensor(np.ascontiguousarray(x))
        self.y = self._tensor(np.ascontiguousarray(y))
        self.precision = np.dtype(network.dtype).name
        if self.device.type == "cuda" and network.dtype is np.float32:
            self.precision += (", TF32 matmul" if torch.backends.cuda.matmul.allow_tf32
                               else ", no TF32")
        where = str(self.device)
        if self.device.type == "cuda":
            where += f" ({torch.cuda.get_device_name(self.device)})"
        self.detail = f"version {torch.__version__} on {where}, {self.precision}"

    def _tensor(self, array):
        """A tensor on the device holding ``array`` (its memory, on the CPU)."""
        import torch
        return torch.from_numpy(array).to(self.device)

    # ------------------------------------------------------------- epochs
    def run_epoch(self, x, y, order, epoch=None, after_batch=None):
        """Train one epoch on the mini-batches of ``order``, calling
        ``after_batch(images)`` after each step if given (with the network's
        NumPy arrays current).  Return None, or the number of mini-batches
        done when it stopped early because an output bias became NaN or
        infinite (a NaN anywhere reaches them within one step)."""
        self._load()
        batches = self._batches(x, y, order, epoch)
        threads = self._leave_a_core()
        try:
            for k, (xb, yb) in enumerate(batches, 1):
                self._step(xb, yb, self.step.n)
                if not bool(self.b[-1].sum().isfinite()):
                    return k
                if after_batch:
                    self._store()
                    after_batch(len(xb))
        finally:
            getattr(batches, "close", lambda: None)()
            self._store()
            if threads is not None:
                load_torch().set_num_threads(threads)
        return None

    def _leave_a_core(self):
        """While the expander's worker distorts images on the CPU, hold
        PyTorch's CPU threads to the BLAS threads the expander plans, as it
        holds NumPy's BLAS; return the number to restore afterwards, or None."""
        limit = self.augment.thread_plan()[0] if self.augment is not None else None
        if self.device.type != "cpu" or limit is None:
            return None
        torch = load_torch()
        threads = torch.get_num_threads()
        torch.set_num_threads(min(threads, limit))
        return threads

    def _batches(self, x, y, order, epoch):
        """The epoch's mini-batches as device tensors: rows of the data on
        the device, or the expander's freshly distorted images moved there."""
        if self.augment is not None:
            for xb, yb in self.augment.batches(x, y, order, self.m, epoch):
                yield (self._tensor(np.ascontiguousarray(xb)),
                       self._tensor(np.ascontiguousarray(yb)))
            return
        idx = self._tensor(np.ascontiguousarray(order, dtype=np.int64))
        for k in range(0, len(order), self.m):
            rows = idx[k:k + self.m]
            yield self.x.index_select(0, rows), self.y.index_select(0, rows)

    def _step(self, xb, yb, n):
        """One step of ``training.sgd_step`` on the device tensors (xb, yb)."""
        net, opt = self.network, self.optimizer
        masks = [None] * len(self.w)
        if self.dropout is not None and self.dropout.active:
            masks = [None if m is None else self._tensor(m)
                     for m in self.dropout.masks(net.sizes, len(xb), net.dtype)]
        nabla_b, nabla_w = backprop(self.w, self.b, net.activations, net.cost, xb, yb, masks)
        scale = 1.0 / len(xb)
        for g in nabla_w + nabla_b:
            g *= scale
        add_regularization(nabla_w, self.w, self.regularization, n)
        eta = float(opt.eta)                       # a callback may have changed it
        if type(opt) is Momentum:
            momentum_update(self.w + self.b, nabla_w + nabla_b, self.v, eta, opt.mu,
                            opt.nesterov)
        else:
            sgd_update(self.w + self.b, nabla_w + nabla_b, eta)
        if self.constraint is not None:
            max_norm(self.w, self.constraint.c)

    # ------------------------------------------------ NumPy <-> device
    def _arrays(self):
        """The NumPy arrays this engine trains: weights, biases and (for
        momentum) velocities, made contiguous in the network's dtype.
        Momentum's velocities start at zero, as ``Momentum`` starts them."""
        net, opt = self.network, self.optimizer
        net.check_params()
        arrays = [net.weights, net.biases]
        if type(opt) is Momentum:
            if opt.velocities is None:
                opt.velocities = [np.zeros_like(p) for p in net.weights + net.biases]
            opt.velocities = [np.ascontiguousarray(v, dtype=net.dtype) for v in opt.velocities]
            arrays.append(opt.velocities)
        return arrays

    def _load(self):
        """Point the engine's tensors at the network's current parameters
        (views on the CPU, copies on a GPU): callbacks and ``restore`` may
        have replaced the arrays since the last epoch."""
        self.arrays = self._arrays()
        tensors = [[self._tensor(a) for a in group] for group in self.arrays]
        self.w, self.b = tensors[0], tensors[1]
        self.v = tensors[2] if len(tensors) > 2 else None

    def _store(self):
        """Copy the device's parameters back into the NumPy arrays, in place
        (nothing to do on the CPU, where they share memory)."""
        if self.shared:
            return
        tensors = [self.w, self.b] + ([self.v] if self.v is not None else [])
        for group, arrays in zip(tensors, self.arrays):
            for t, a in zip(group, arrays):
                a[...] = t.cpu().numpy()
