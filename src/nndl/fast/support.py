"""What the fast engines can train, decided once per run.

A fast engine recomputes backpropagation in its own code, so it must know
*everything* that shapes the gradient step.  Rather than guess, it accepts
only objects it knows exactly: the plain ``SGD`` optimiser, the three
regularisers, the three costs, the built-in activations and a ``Network``
whose training methods are the reference ones and which carries no
attribute the engines do not know (a dropout rate, say).  Anything else --
a momentum optimiser, a subclass, an extra attribute -- gets a reason
string, and the training loop falls back to the reference step.
"""

import numpy as np

from ..activations import Linear, ReLU, Sigmoid, Softmax, Tanh
from ..costs import CrossEntropyCost, LogLikelihoodCost, QuadraticCost
from ..network import Network
from ..optimizers import SGD
from ..regularization import L1, L2, NoRegularization

HIDDEN = {Sigmoid: "sigmoid", Tanh: "tanh", ReLU: "relu", Linear: "linear"}
OUTPUT = {Sigmoid: "sigmoid", Softmax: "softmax", Linear: "linear"}
COSTS = (CrossEntropyCost, QuadraticCost, LogLikelihoodCost)
REGULARIZERS = (NoRegularization, L2, L1)
NETWORK_ATTRIBUTES = {"sizes", "num_layers", "cost", "activations", "dtype", "seed",
                      "rng", "weights", "biases",
                      "last_run"}   # network2's record of its previous SGD call
# Subclasses whose forward/backprop overrides only convert book-style column
# vectors and hand rows of examples to Network's own methods unchanged.
ROW_EQUIVALENT_SUBCLASSES = {("network2", "Network")}


def unsupported_reason(network, optimizer, regularization):
    """Return None if a fast engine computes exactly the reference step for
    this network, optimiser and regulariser; else a short reason why not."""
    return (_network_reason(network) or _optimizer_reason(optimizer)
            or _regularization_reason(regularization))


def _network_reason(network):
    """Why the network's training computation may differ from Network's."""
    if not isinstance(network, Network):
        return f"{type(network).__name__} is not an nndl Network"
    for cls in type(network).__mro__:
        if cls is Network:
            break
        if (cls.__module__, cls.__qualname__) in ROW_EQUIVALENT_SUBCLASSES:
            continue
        for method in ("forward", "backprop"):
            if method in vars(cls):
                return f"{cls.__name__} overrides {method}"
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


def _optimizer_reason(optimizer):
    """Why the optimiser may not be plain SGD with a learning rate."""
    if type(optimizer) is not SGD or set(vars(optimizer)) != {"eta"}:
        return f"optimizer {type(optimizer).__name__} is not plain SGD"
    return None


def _regularization_reason(regularization):
    """Why the regulariser may not be none, L1 or L2 as the chapter defines them."""
    if type(regularization) not in REGULARIZERS or set(vars(regularization)) - {"lmbda"}:
        return f"regularization {type(regularization).__name__} unknown"
    return None
