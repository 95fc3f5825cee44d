"""Helpers the experiments share: the data, one training run, the plots.

Every run goes through the library's own assembly, ``nndl.run.build``, with
the book's hyper-parameters, so an experiment is a few lines saying *which*
runs to make and *what* to measure in them.
"""

import contextlib
import functools

import numpy as np

from ..errors import ConfigError
from ..outputs import save_figure
from ..plot import pyplot  # noqa: F401  (the experiments' plots, and a name they use)

DTYPE = "float32"


@functools.lru_cache(maxsize=1)
def mnist():
    """Return the book's MNIST splits (loaded once per process)."""
    from ..data import load_dataset
    return load_dataset("mnist")


def fit(training, sizes, epochs, eta, *, lmbda=0.0, regularization="l2", init="default",
        seed=0, mini_batch_size=10, evaluation=None, monitor=(), callbacks=(),
        dtype=DTYPE, cost=None, augment=None, hidden="sigmoid", output=None):
    """Train a fresh network the way network2.py's ``SGD`` does; return
    (network, history).  ``monitor`` names the quantities recorded after each
    epoch: 'training_cost', 'training_accuracy', 'evaluation_cost',
    'evaluation_accuracy'.  ``hidden`` and ``output`` name the hidden and
    output neurons' activation; ``cost`` defaults to the one that belongs
    with the output layer (cross-entropy for sigmoid).  ``augment`` (an
    ``nndl.expansion.Expander``) distorts the training images afresh every
    epoch."""
    from ..data import Dataset, Splits
    from ..run import RunConfig, build, make_network
    if regularization in ("none", None):          # no penalty: L2 with lambda 0
        regularization, lmbda = "l2", 0.0
    config = RunConfig(sizes=sizes, epochs=epochs, eta=eta, lmbda=lmbda,
                       regularization=regularization, init=init, seed=seed,
                       batch_size=mini_batch_size, dtype=dtype, cost=cost, activation=hidden,
                       output=output, monitor=tuple(m.replace("_", "-") for m in monitor),
                       progress="off", test=False)
    none = Dataset(np.empty((0, training.images.shape[1])), np.empty(0, dtype=np.int64))
    run = build(config, Splits(training, evaluation or none, none),
                network=make_network(config, sizes), augment=augment)
    state = run.train(callbacks, check_divergence=False)   # some experiments look for it
    return run.network, state.history


def column(history, key, scale=1.0):
    """Return one monitored quantity of a history as a list (scaled, e.g. to %)."""
    return [float(r[key]) * scale for r in history]


def seed_list(seeds):
    """Return the seeds 0 .. seeds-1 used for the repeated runs."""
    if seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {seeds}")
    return list(range(seeds))


def mean_curve(curves):
    """Return the element-wise mean of equally long curves."""
    return [float(x) for x in np.mean(np.asarray(curves, dtype=np.float64), axis=0)]


def one_blas_thread():
    """Return a context in which NumPy's BLAS uses a single thread.

    On a small, busy machine a multi-threaded BLAS can make the 100-row
    matrix products of a large mini-batch many times slower than one thread
    does (threads wait for cores), which would distort a comparison of
    mini-batch sizes by wall-clock time.  Without threadpoolctl it does
    nothing."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


# ------------------------------------------------------------------- plots
def line_plot(path, lines, *, xlabel, ylabel, title, logx=False, logy=False, hline=None,
              points=()):
    """Draw ``lines`` (a list of (label, xs, ys)) into the PNG ``path``.

    ``hline`` is an optional (value, label) drawn dashed: the book's number.
    ``points`` (label, xs, ys) are drawn as markers, e.g. where runs stopped.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=80)
    for label, xs, ys in lines:
        ax.plot(xs, ys, label=label, linewidth=1.2)
    for (label, xs, ys), marker in zip(points, "ovs^D"):
        ax.plot(xs, ys, marker, label=label, markersize=8, fillstyle="none")
    if hline is not None:
        ax.axhline(hline[0], color="grey", linestyle="--", linewidth=1, label=hline[1])
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    if any(label for label, _, _ in list(lines) + list(points)) or hline is not None:
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return path.name


def histogram_plot(path, samples, *, bins, xlabel, title, curves=()):
    """Draw overlaid density histograms of ``samples`` (a list of (label,
    values)) and optional reference ``curves`` (label, xs, ys) into ``path``."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=80)
    for label, values in samples:
        ax.hist(values, bins=bins, density=True, alpha=0.5, label=label)
    for label, xs, ys in curves:
        ax.plot(xs, ys, linewidth=1.2, label=label)
    ax.set(xlabel=xlabel, ylabel="density", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return path.name


def bar_plot(path, bars, *, ylabel, title, ylim=None):
    """Draw labelled bars (a list of (label, value)) into the PNG ``path``."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=80)
    labels = [label for label, _ in bars]
    values = [value for _, value in bars]
    ax.bar(range(len(bars)), values, color=["tab:grey", "tab:blue"][:len(bars)] * len(bars))
    ax.set_xticks(range(len(bars)), labels, fontsize=8)
    for i, v in enumerate(values):
        ax.annotate(f"{v:.2f}", (i, v), ha="center", va="bottom", fontsize=8)
    if ylim:
        ax.set_ylim(*ylim)
    ax.set(ylabel=ylabel, title=title)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return path.name
