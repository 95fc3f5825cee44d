"""A fully-connected feedforward network and matrix-based backpropagation.

This is network2.py's ``Network`` with three changes:

* any activation per layer (sigmoid by default, as in the book);
* a mini-batch is one matrix, one example per row, so backpropagation is a
  handful of matrix products per layer instead of a Python loop over examples
  (the chapter's "fully matrix-based approach");
* a seeded random generator, so that a run is repeatable bit for bit.

Weights and biases keep the book's shapes: ``weights[l]`` is (n_out, n_in) and
``biases[l]`` is (n_out, 1), so ``net.weights`` reads like network2.py.
With rows as examples, layer l computes ``z = a @ W.T + b.T``.
"""

import numpy as np

from .activations import Sigmoid, get_activation
from .costs import CrossEntropyCost, check_pairing, default_output_for, get_cost
from .errors import ConfigError, DataError

DTYPES = {"float32": np.float32, "float64": np.float64}
#: The most weights and biases a network may have (400 MB in float64): larger
#: sizes are refused before anything is allocated.
MAX_PARAMETERS = 50_000_000


def as_dtype(dtype):
    """Return the NumPy float type for 'float32', 'float64' or a dtype."""
    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise ConfigError(f"unknown dtype {dtype!r}; choose float32 or float64")
        return DTYPES[dtype]
    dtype = np.dtype(dtype).type
    if dtype not in (np.float32, np.float64):
        raise ConfigError(f"dtype must be float32 or float64, got {np.dtype(dtype).name}")
    return dtype


def check_sizes(sizes):
    """Return ``sizes`` as a list of ints, or raise ConfigError saying why not."""
    try:
        sizes = list(sizes)
    except TypeError:
        raise ConfigError(f"sizes must be a list of layer sizes, got {sizes!r}") from None
    if len(sizes) < 2:
        raise ConfigError(f"a network needs at least 2 layers (input and output), got {sizes}")
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1:
            raise ConfigError(f"layer sizes must be positive integers, got {sizes}")
    sizes = [int(s) for s in sizes]
    n_params = sum(x * y + y for x, y in zip(sizes[:-1], sizes[1:]))
    if n_params > MAX_PARAMETERS:
        raise ConfigError(f"sizes {sizes} mean {n_params} weights and biases, more than "
                          f"the limit of {MAX_PARAMETERS}")
    return sizes


class Network:
    """A feedforward network of fully-connected layers.

    ``sizes`` lists the neurons per layer, input first: [784, 30, 10].
    ``cost`` is a cost class (or its name).  ``hidden`` is one activation for
    every hidden layer or a list with one per hidden layer; ``output`` is the
    output layer's activation (default: sigmoid, or softmax with the
    log-likelihood cost).  ``init`` is 'default' (N(0, 1/n_in) weights) or
    'large' (N(0, 1)).  ``dtype`` float32 is the fast default; float64 is
    what network2.py computes in.

    ``classes`` says which label each output neuron stands for: None (the
    default) for 0, 1, 2, ...; a list such as [3, 7] for a network trained
    on some digits only (``--digits 3,7``), saved in its model file.
    """

    classes = None

    def __init__(self, sizes, cost=CrossEntropyCost, *, hidden=Sigmoid,
                 output=None, init="default", dtype="float32", seed=None):
        self.sizes = check_sizes(sizes)
        self.num_layers = len(self.sizes)
        self.cost = get_cost(cost)
        n_hidden = self.num_layers - 2
        if isinstance(hidden, (list, tuple)):
            if len(hidden) != n_hidden:
                raise ConfigError(f"{len(hidden)} hidden activations given for "
                                  f"{n_hidden} hidden layers")
            hidden_acts = [get_activation(h) for h in hidden]
        else:
            hidden_acts = [get_activation(hidden)] * n_hidden
        for h in hidden_acts:
            if h.name == "softmax":
                raise ConfigError("softmax can only be the output layer")
        out = get_activation(output) if output is not None else default_output_for(self.cost)
        check_pairing(self.cost, out)
        self.activations = hidden_acts + [out]
        self.dtype = as_dtype(dtype)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        if init == "default":
            self.default_weight_initializer()
        elif init == "large":
            self.large_weight_initializer()
        else:
            raise ConfigError(f"unknown init {init!r}; choose default or large")

    # ------------------------------------------------------------------ init
    def default_weight_initializer(self):
        """Initialise each weight from N(0, 1/n_in) and each bias from N(0, 1).

        With n_in inputs the weighted input z then has a standard deviation
        near 1 instead of sqrt(n_in), so hidden neurons do not start out
        saturated (section "Weight initialization").
        """
        self._initialize(scale_by_fan_in=True)

    def large_weight_initializer(self):
        """Initialise weights and biases from N(0, 1), as in chapter 1.

        Kept for comparison: it learns more slowly at first.
        """
        self._initialize(scale_by_fan_in=False)

    def _initialize(self, scale_by_fan_in):
        """Draw biases then weights from the network's generator, layer by layer."""
        self.biases = [self.rng.standard_normal((y, 1)).astype(self.dtype)
                       for y in self.sizes[1:]]
        self.weights = []
        for x, y in zip(self.sizes[:-1], self.sizes[1:]):
            w = self.rng.standard_normal((y, x))
            if scale_by_fan_in:
                w /= np.sqrt(x)
            self.weights.append(w.astype(self.dtype))

    def check_params(self):
        """Make sure every weight and bias has its layer's shape and the
        network's dtype (they may have been assigned from outside)."""
        for l, (x, y) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            w = np.asarray(self.weights[l])
            b = np.asarray(self.biases[l])
            if b.shape == (y,):
                b = b.reshape(y, 1)
            if w.shape != (y, x):
                raise ConfigError(f"weights[{l}] has shape {w.shape}, expected {(y, x)}")
            if b.shape != (y, 1):
                raise ConfigError(f"biases[{l}] has shape {b.shape}, expected {(y, 1)}")
            self.weights[l] = np.ascontiguousarray(w, dtype=self.dtype)
            self.biases[l] = np.ascontiguousarray(b, dtype=self.dtype)

    # --------------------------------------------------------------- forward
    def feedforward(self, x, dtype=None):
        """Return the network's output for inputs ``x``, one example per row.

        ``dtype`` (e.g. float64) computes in that precision instead of the
        network's own; a float32 product's last bits depend on how many rows
        it is given, a float64 one's far below any tolerance that matters.
        """
        a = self._as_input(x, dtype)
        for w, b, act in zip(self.weights, self.biases, self.activations):
            if dtype is not None:
                w, b = w.astype(dtype), b.astype(dtype)
            a = act.fn(a @ w.T + b.T)
        return a

    def forward(self, x, masks=None):
        """Return (activations, z_out): every layer's output, input first, and
        the output layer's weighted input (which stable costs need).

        ``masks`` (dropout, training only) has one entry per layer: layer l
        sees ``activations[l] * masks[l]`` (None: no dropout there).  The
        stored activations are the undropped ones.
        """
        masks = masks or [None] * len(self.weights)
        activations = [x]
        z = x
        for w, b, act, m in zip(self.weights, self.biases, self.activations, masks):
            z = _dropped(activations[-1], m) @ w.T + b.T
            activations.append(act.fn(z))
        return activations, z

    def _as_input(self, x, dtype=None):
        """Return x as a 2-D array of the network's dtype (or ``dtype``),
        checking its width."""
        x = np.asarray(x)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.sizes[0]:
            raise DataError(f"inputs have shape {x.shape}, the network expects "
                            f"{self.sizes[0]} values per example")
        return x.astype(dtype or self.dtype, copy=False)

    # -------------------------------------------------------------- backprop
    def backprop(self, x, y, masks=None):
        """Return (nabla_b, nabla_w): the gradient of the cost *summed* over
        the rows of ``x`` (targets ``y``), in the shapes of biases and weights.

        This is network2.py's backprop with every example of the mini-batch
        at once: equations (BP1)-(BP4) become matrix products, and the sums
        over examples in BP3 and BP4 happen inside those products.

        With dropout ``masks`` (see ``forward``) it is the gradient of the
        thinned network: a dropped unit passes on no signal forwards and no
        error backwards.
        """
        masks = masks or [None] * len(self.weights)
        activations, z = self.forward(x, masks)
        delta = self.cost.delta(z, activations[-1], y, self.activations[-1])  # BP1
        nabla_b = [None] * len(self.weights)
        nabla_w = [None] * len(self.weights)
        for l in range(len(self.weights) - 1, -1, -1):
            nabla_b[l] = delta.sum(axis=0).reshape(-1, 1)                      # BP3
            nabla_w[l] = delta.T @ _dropped(activations[l], masks[l])         # BP4
            if l:                                                             # BP2
                delta = (delta @ self.weights[l]) * self.activations[l - 1].derivative(activations[l])
                delta = _dropped(delta, masks[l])
        return nabla_b, nabla_w

    # ------------------------------------------------------------ evaluation
    def predict(self, x, batch_size=10000):
        """Return the index of the most active output neuron for each row."""
        x = self._as_input(x)
        return np.concatenate([self.feedforward(x[k:k + batch_size]).argmax(axis=1)
                               for k in range(0, len(x), batch_size)] or
                              [np.empty(0, dtype=np.int64)])

    def accuracy(self, x, labels):
        """Return how many rows of ``x`` the network classifies as ``labels``."""
        return count_correct(self, x, labels)

    def total_cost(self, x, labels, regularization=None, n_train=None):
        """Return the mean cost over the rows of ``x`` plus the penalty term
        (see ``mean_cost``)."""
        return mean_cost(self, x, labels, regularization, n_train)


def _dropped(a, mask):
    """Return ``a`` with dropout ``mask`` applied (``a`` itself if no mask)."""
    return a if mask is None else a * mask


def count_correct(net, x, labels):
    """Return how many rows of ``x`` ``net`` classifies as ``labels``
    (what ``Network.accuracy`` returns; the training loop's monitors call it)."""
    labels = check_labels(net, x, labels)
    return int(np.count_nonzero(net.predict(x) == labels))


def mean_cost(net, x, labels, regularization=None, n_train=None, batch_size=10000):
    """Return the mean cost of ``net`` over the rows of ``x`` plus the penalty.

    As in network2.py the penalty is divided by the size of the data set
    being measured (``n_train`` overrides that).
    """
    x = net._as_input(x)
    labels = check_labels(net, x, labels)
    n = len(x)
    total = 0.0
    for k in range(0, n, batch_size):
        activations, z = net.forward(x[k:k + batch_size])
        y = one_hot(labels[k:k + batch_size], net.sizes[-1], net.dtype)
        total += net.cost.fn(activations[-1], y, z=z)
    cost = total / n
    if regularization is not None:
        cost += regularization.penalty(net.weights, n_train or n)
    return cost


def check_labels(net, x, labels):
    """Return ``labels`` as an int64 array, or raise DataError unless there is
    one integer label per row of ``x``, each naming one of the output neurons."""
    labels = np.asarray(labels)
    n = len(x) if np.ndim(x) == 2 else 1
    if labels.ndim != 1 or len(labels) != n:
        raise DataError(f"{n} inputs but labels of shape {labels.shape}: "
                        "need one label per input")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"labels must be integers, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= net.sizes[-1]):
        bad = labels.min() if labels.min() < 0 else labels.max()
        raise DataError(f"label {bad} is out of range for {net.sizes[-1]} output neurons")
    return labels.astype(np.int64, copy=False)


def one_hot(labels, n_classes, dtype=np.float32):
    """Return a (len(labels), n_classes) matrix with a 1 in each label's column:
    network2.py's ``vectorized_result`` for a whole array of labels."""
    labels = np.asarray(labels)
    y = np.zeros((len(labels), n_classes), dtype=dtype)
    y[np.arange(len(labels)), labels] = 1.0
    return y
