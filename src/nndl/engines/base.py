"""The engine protocol, the ``Step`` bundle, and the checks engines share.

An engine computes the epochs of mini-batch SGD for one run.  Each is a
subclass of ``Engine`` that declares, as class attributes,

* ``name``: the ``--engine`` value that names it;
* ``description``: why ``auto`` picks it, e.g. "buffered BLAS";
* ``stops_on_divergence``: True if ``run_epoch`` itself stops at the first
  step that leaves an output bias non-finite (then a divergence check need
  not break its epoch into single steps);

and implements

* ``supports(network, step)`` (a classmethod): None if it computes exactly
  the reference step for this network and ``Step``, else a short reason;
  it is the one place that says what the engine can run;
* ``preference(network, step)`` (optional): None if ``auto`` should pick
  it for this run when it supports it, else why not (e.g. a mini-batch size
  another engine serves faster, a network too small for a GPU); naming the
  engine overrides a preference, never ``supports``;
* ``__init__(network, step, x, y)``: set up once per run (``x``, ``y`` are
  the whole training matrices);
* ``prepare(report)`` (optional): called by ``train`` once before the
  first epoch's clock starts, to pay one-off costs there (compiling);
  ``report(message)`` takes a one-line notice for the user;
* ``run_epoch(x, y, order, epoch, after_batch)``: one step per mini-batch
  of ``order``; ``after_batch(images)``, if not None, after each step;
  return None, or the number of steps done when it stopped on divergence;
* ``detail`` (optional, set by ``__init__``): what this run's engine uses,
  e.g. "version 2.13.0 on cuda:0 (...), float32", appended to the reason.

The learning-rate contract: a callback may change ``step.optimizer.eta``
in ``on_batch_end`` (or any hook), and every engine uses the current value
from the next step on.

A fast engine recomputes backpropagation in its own code, so it must know
*everything* that shapes the step.  Rather than guess, the checks below
accept only objects known exactly: a ``Network`` of exactly that class
carrying only the attributes ``Network`` sets, the built-in activations and
costs, and optimisers and regularisers of exactly the listed classes with
exactly the listed attributes.  Anything else gets a reason.
"""

from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np

from ..activations import Linear, ReLU, Sigmoid, Softmax, Tanh
from ..costs import CrossEntropyCost, LogLikelihoodCost, QuadraticCost
from ..network import Network
from ..optimizers import AdaGrad, Adam, Momentum, RMSProp

HIDDEN = (Sigmoid, Tanh, ReLU, Linear)
OUTPUT = (Sigmoid, Softmax, Linear)
COSTS = (CrossEntropyCost, QuadraticCost, LogLikelihoodCost)
NETWORK_ATTRIBUTES = {"sizes", "num_layers", "cost", "activations", "dtype", "seed",
                      "rng", "weights", "biases", "classes"}   # classes: labels only
#: The attributes of the pieces the fast engines know exactly (their classes
#: are checked by each engine's ``supports``): one with any other attribute
#: may compute something they would not see.
MOMENTUM_ATTRIBUTES = {"eta", "mu", "nesterov", "velocities"}
#: The adaptive optimisers' attributes ...
ADAPTIVE_ATTRIBUTES = {Adam: {"eta", "beta1", "beta2", "eps", "t", "m", "v"},
                       RMSProp: {"eta", "rho", "eps", "t", "square_avg"},
                       AdaGrad: {"eta", "eps", "initial_accumulator", "t", "sum_squares"}}
#: ... and, for every stateful optimiser, the attributes that hold a list of
#: state arrays, one per parameter array (velocities, moments, accumulators).
STATE_ARRAYS = {Momentum: ("velocities",), Adam: ("m", "v"), RMSProp: ("square_avg",),
                AdaGrad: ("sum_squares",)}
DROPOUT_ATTRIBUTES = {"p_hidden", "p_input", "per_example", "rng"}
MAX_NORM_ATTRIBUTES = {"c"}


@dataclass(frozen=True)
class Step:
    """Everything but the network that shapes one run's SGD steps.

    ``augment`` is the batch source: None for plain shuffled mini-batches
    (``minibatches`` below), else an object with the same ``batches(x,
    y, order, mini_batch_size, epoch)`` method (an ``nndl.expansion.Expander``).
    ``per_batch_callbacks`` says whether a callback sees (and may change the
    optimiser after) every step: an engine that could not use a learning
    rate changed between two steps must refuse such a step in ``supports``.
    """

    optimizer: object
    regularization: object
    mini_batch_size: int
    n: int                               # training examples (for the regulariser)
    dropout: object = None               # a Dropout, or None
    constraint: object = None            # e.g. MaxNorm, or None
    augment: object = None               # an Expander, or None
    per_batch_callbacks: bool = False
    device: object = None                # the torch engine's device ('cpu', 'cuda', ...), or None

    def batches(self, x, y, order, epoch):
        """Yield the epoch's mini-batches ``(x, y)`` from the batch source."""
        source = minibatches if self.augment is None else self.augment.batches
        return source(x, y, order, self.mini_batch_size, epoch)


class Engine:
    """Base of every engine; see the module docstring for the protocol."""

    name: ClassVar[str]
    description: ClassVar[str]
    stops_on_divergence: ClassVar[bool]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        missing = [a for a in ("name", "description", "stops_on_divergence")
                   if not hasattr(cls, a)]
        if missing:
            raise TypeError(f"engine {cls.__name__} must declare {', '.join(missing)}")

    @classmethod
    def supports(cls, network, step) -> Optional[str]:
        """None if this engine computes exactly the reference step, else why not."""
        raise NotImplementedError

    detail = None                        # set by an engine that says more about its run

    @classmethod
    def preference(cls, network, step) -> Optional[str]:
        """None if ``auto`` should choose this engine when it supports the run."""
        return None

    def __init__(self, network, step, x, y):
        self.network, self.step = network, step

    def prepare(self, report) -> None:
        """Pay one-off costs before the first epoch; ``report`` one-line notices."""

    def run_epoch(self, x, y, order, epoch, after_batch=None) -> Optional[int]:
        """One epoch of steps; None, or the steps done when it diverged."""
        raise NotImplementedError


# ------------------------------------------------- checks the engines share
def network_reason(network):
    """Why the network's training computation may differ from ``Network``'s
    own with the built-in activations and costs; None if it cannot."""
    if type(network) is not Network:
        return f"{type(network).__name__} is not nndl's Network class"
    extra = set(vars(network)) - NETWORK_ATTRIBUTES
    if extra:
        return f"network attribute(s) {', '.join(sorted(extra))} unknown to the fast engines"
    if network.cost not in COSTS:
        return f"cost {getattr(network.cost, '__name__', network.cost)} unknown"
    *hidden, output = network.activations
    for act in hidden:
        if act not in HIDDEN:
            return f"hidden activation {getattr(act, '__name__', act)} unknown"
    if output not in OUTPUT:
        return f"output activation {getattr(output, '__name__', output)} unknown"
    if output is Softmax and network.cost is not LogLikelihoodCost:
        return "softmax outputs need the log-likelihood cost"
    if network.dtype not in (np.float32, np.float64):
        return f"dtype {network.dtype} unknown"
    return None


def optimizer_reason(optimizer, known):
    """Why ``optimizer`` may not be one of ``known``, a dict {class:
    attribute names}; None if it is exactly one of them."""
    attributes = known.get(type(optimizer))
    if attributes is None or set(vars(optimizer)) != attributes:
        return f"optimizer {type(optimizer).__name__} runs on the reference step"
    return None


def is_adaptive(optimizer):
    """True if ``optimizer`` is exactly Adam, RMSProp or AdaGrad."""
    return type(optimizer) in ADAPTIVE_ATTRIBUTES


def state_reason(network, optimizer):
    """Why the optimiser's saved per-parameter state (momentum's velocities,
    Adam's moments, ...) may not fit the network's parameters (shape, dtype,
    contiguity); None if it does, or there is none yet."""
    params = network.weights + network.biases
    for name in STATE_ARRAYS.get(type(optimizer), ()):
        arrays = getattr(optimizer, name, None)
        if arrays is not None and (len(arrays) != len(params) or any(
                not isinstance(a, np.ndarray) or a.shape != np.shape(p)
                or a.dtype != network.dtype or not a.flags.c_contiguous
                or not a.flags.writeable for a, p in zip(arrays, params))):
            what = "momentum velocities" if name == "velocities" else \
                f"{type(optimizer).__name__}'s {name}"
            return f"{what} that do not match the parameters run on the reference step"
    return None


def piece_reason(piece, what, known):
    """Why ``piece`` (a step's ``what``: "dropout", "constraint") may not be
    None or exactly one of ``known``, a dict {class: attribute names}; None
    if it is."""
    if piece is None:
        return None
    attributes = known.get(type(piece))
    if attributes is None or set(vars(piece)) != attributes:
        return f"{what} {type(piece).__name__} runs on the reference step"
    return None


def regularization_reason(regularization, known):
    """Why the regulariser may not be exactly one of the ``known`` classes
    (with at most a ``lmbda``); None if it is."""
    if type(regularization) not in known or set(vars(regularization)) - {"lmbda"}:
        return f"regularization {type(regularization).__name__} unknown"
    return None


def decay_reason(step, eta):
    """Why a fast engine's lazy L2 decay (every weight kept as W = s V, s scaled
    by 1 - eta lmbda / n each step) cannot run at ``eta``: a factor <= 0
    (tiny training sets, large eta or lambda) would zero or flip the scale.
    An adaptive optimiser gets the penalty's gradient (lmbda/n) w added to
    its gradient, as the reference adds it, and has no decay factor."""
    from ..regularization import L2
    if not isinstance(step.regularization, L2) or is_adaptive(step.optimizer):
        return None
    rate = eta * step.regularization.lmbda / step.n
    return (f"eta*lmbda/n = {rate:g} >= 1 makes the L2 decay factor 1 - eta*lmbda/n <= 0, "
            "which the fast engines' lazy decay cannot represent") if rate >= 1 else None


def check_decay(step, eta):
    """Refuse (ConfigError) a step at ``eta`` the lazy decay cannot compute:
    a schedule raised the learning rate that far during the run."""
    reason = decay_reason(step, eta)
    if reason:
        from ..errors import ConfigError
        raise ConfigError(f"the learning rate grew to {eta:g}, where {reason}; "
                          "use --engine reference")


def reference_only_reason(step, *, dropout=False, constraint=False, augment=False):
    """Why the step uses a piece the engine does not run (those passed False):
    e.g. "dropout, max-norm run on the reference step"; None if none."""
    pieces = [(label, piece) for label, piece, ok in
              (("dropout", step.dropout, dropout), ("max-norm", step.constraint, constraint),
               ("expansion", step.augment, augment)) if not ok]
    names = [label for label, piece in pieces if piece is not None]
    if names:
        return f"{', '.join(names)} run on the reference step"
    return None


def expander_known(augment):
    """True if ``augment`` is nndl's ``Expander``, whose whole distorted
    epoch (``epoch_images``) a fast engine can train on."""
    if augment is None:
        return False
    from ..expansion import Expander
    return type(augment) is Expander


def minibatches(x_all, y_all, order, mini_batch_size, epoch=None):
    """Yield the epoch's mini-batches ``(x, y)``: the rows of ``x_all`` and
    ``y_all`` in the shuffled ``order``, ``mini_batch_size`` at a time."""
    for k in range(0, len(order), mini_batch_size):
        idx = order[k:k + mini_batch_size]
        yield x_all.take(idx, axis=0), y_all.take(idx, axis=0)
