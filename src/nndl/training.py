"""The training loop: mini-batch SGD, with callbacks around it.

``train`` is network2.py's ``SGD`` reduced to its core -- shuffle, cut into
mini-batches, take one gradient step per mini-batch -- while everything else
(measuring cost and accuracy, printing, progress bars, stopping early) lives
in small callback objects, in the manner of Keras:

    on_train_begin(state)       once, before the first epoch
    on_epoch_begin(state)       before each epoch
    on_batch_end(state)         after each gradient step (only if defined)
    on_epoch_end(state)         after each epoch; may set state.stop = reason
    on_train_end(state)         once, at the end

``state`` is a ``TrainingState``: the network, the data, the epoch number,
the metrics recorded so far.
"""

import logging
import time
from dataclasses import dataclass, field, replace

import numpy as np

from . import engines
from .engines.base import Step, minibatches  # noqa: F401  (re-exported)
from .engines.reference import sgd_step  # noqa: F401  (re-exported: the reference step)
from .errors import ConfigError, DataError
from .network import count_correct, mean_cost, one_hot
from .optimizers import SGD
from .regularization import NoRegularization


@dataclass
class TrainingState:
    """What callbacks can see and change while ``train`` runs."""

    network: object
    training: object
    evaluation: object
    epochs: int
    mini_batch_size: int
    optimizer: object
    regularization: object
    dropout: object = None                         # a Dropout, or None
    constraint: object = None                      # e.g. MaxNorm, or None
    epoch: int = 0
    batch: int = 0
    batches_per_epoch: int = 0
    images_seen: int = 0                           # training images so far, all epochs
    history: list = field(default_factory=list)   # one dict per epoch
    stop: str = None                               # set by a callback to stop
    rng: object = None                             # the generator that shuffles
    callbacks: list = field(default_factory=list)  # all callbacks (a checkpoint saves their state)
    engine: str = "reference"                      # which engine runs the steps (set by
    engine_reason: str = ""                        # train from engines.select), and why


def check_training_args(network, training, epochs, mini_batch_size):
    """Raise a specific error if the data or the schedule cannot work."""
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ConfigError(f"epochs must be an integer >= 0, got {epochs!r}")
    if (isinstance(mini_batch_size, bool) or not isinstance(mini_batch_size, (int, np.integer))
            or mini_batch_size < 1):
        raise ConfigError(f"mini-batch size must be an integer >= 1, got {mini_batch_size!r}")
    check_data(network, training, "training")


def check_data(network, data, what):
    """Raise DataError unless ``data`` fits the network's input and output layers."""
    if len(data) == 0:
        raise DataError(f"the {what} data is empty")
    if data.images.shape[1] != network.sizes[0]:
        raise DataError(f"the {what} images have {data.images.shape[1]} values each, "
                        f"but the network's input layer has {network.sizes[0]} neurons")
    top = int(data.labels.max())
    if int(data.labels.min()) < 0 or top >= network.sizes[-1]:
        raise DataError(f"the {what} labels run up to {top}, but the network's output "
                        f"layer has only {network.sizes[-1]} neurons")


def train(network, training, epochs, mini_batch_size, optimizer, *,
          regularization=None, evaluation=None, callbacks=(), rng=None,
          dropout=None, constraint=None, augment=None, start_epoch=0, history=None,
          engine="auto", device=None, report=None):
    """Train ``network`` on ``training`` by mini-batch SGD; return the state.

    ``training`` and ``evaluation`` are datasets with ``images`` (n, n_in) and
    integer ``labels`` (n,).  Each epoch shuffles the training set with
    ``rng`` (the network's own generator by default, so a seeded network gives
    a repeatable run), then takes one ``optimizer`` step per mini-batch on
    the mean gradient plus the ``regularization`` term, through the
    ``dropout`` masks if given (drawn from ``rng`` unless the Dropout has its
    own), and applies the weight ``constraint`` (e.g. ``MaxNorm``) after it.
    Each epoch's history entry records the learning rate it used, ``eta``.

    ``augment``, if given, supplies the mini-batches instead of
    :func:`minibatches`, through the same ``batches(x, y, order,
    mini_batch_size, epoch)`` method: an ``nndl.expansion.Expander`` hands
    out freshly distorted images every epoch.

    ``start_epoch`` and ``history`` continue a run that already did that
    many epochs (see ``nndl.checkpoint.restore``, which also restores the
    network, the generator, the optimiser and the callbacks).

    ``engine`` names how the steps are computed: "auto" (the default) or
    one of ``nndl.engines.ENGINES`` (see ``nndl.engines.select``);
    ``state.engine`` and ``state.engine_reason`` record which ran and why.
    ``device`` ('cpu', 'cuda', 'cuda:N'; default: a GPU if PyTorch sees one)
    is where the torch engine computes.

    ``report(message)`` receives one-line notices of one-off costs paid
    before the first epoch, e.g. "compiling the training kernel, once:
    2.8 s" (never counted in an epoch's ``train_seconds``); by default they
    go to the ``nndl`` logger at level INFO.
    """
    check_training_args(network, training, epochs, mini_batch_size)
    if (isinstance(start_epoch, bool) or not isinstance(start_epoch, (int, np.integer))
            or not 0 <= start_epoch <= epochs):
        raise ConfigError(f"start_epoch must be an integer in [0, {epochs}], got {start_epoch!r}")
    if evaluation is not None:
        check_data(network, evaluation, "evaluation")
    network.check_params()
    regularization = regularization or NoRegularization()
    rng = network.rng if rng is None else rng
    if dropout is not None and dropout.rng is None:
        dropout.rng = rng
    x_all = np.ascontiguousarray(training.images, dtype=network.dtype)
    y_all = one_hot(training.labels, network.sizes[-1], network.dtype)
    batch_callbacks = [cb for cb in callbacks if hasattr(cb, "on_batch_end")]
    step = Step(optimizer, regularization, mini_batch_size, len(training), dropout, constraint,
                augment, per_batch_callbacks=bool(batch_callbacks), device=device)
    selection = engines.select(network, step, engine)
    if selection.cls.stops_on_divergence:
        # the engine stops at the first non-finite output bias by itself, so
        # a divergence check need not break its epoch into single steps
        batch_callbacks = [cb for cb in batch_callbacks
                           if not getattr(cb, "engine_may_check", False)]
        step = replace(step, per_batch_callbacks=bool(batch_callbacks))
    stepper = selection.start(network, step, x_all, y_all)
    stepper.prepare(report or logging.getLogger("nndl").info)
    state = TrainingState(network, training, evaluation, epochs, mini_batch_size,
                          optimizer, regularization, dropout, constraint, rng=rng,
                          callbacks=list(callbacks), history=list(history or []),
                          engine=selection.name, engine_reason=selection.reason
                          + (f": {stepper.detail}" if stepper.detail else ""))
    state.batches_per_epoch = -(-len(training) // mini_batch_size)

    def after_batch(images):
        state.batch += 1
        state.images_seen += images
        for cb in batch_callbacks:
            cb.on_batch_end(state)

    _call(callbacks, "on_train_begin", state)
    for epoch in range(start_epoch, epochs):
        state.epoch, state.batch = epoch, 0
        _call(callbacks, "on_epoch_begin", state)
        start = time.perf_counter()
        eta = getattr(optimizer, "eta", None)
        order = rng.permutation(len(training))
        stopped_after = stepper.run_epoch(x_all, y_all, order, epoch,
                                          after_batch if step.per_batch_callbacks else None)
        if stopped_after is not None:      # diverged: the epoch-end checks say where
            state.batch = stopped_after
        elif not batch_callbacks:
            state.batch = state.batches_per_epoch
            state.images_seen += len(training)
        state.history.append({"epoch": epoch, "train_seconds": time.perf_counter() - start,
                              "eta": eta})
        _call(callbacks, "on_epoch_end", state)
        if state.stop:
            break
    _call(callbacks, "on_train_end", state)
    return state


def _call(callbacks, hook, state):
    """Call ``hook`` on every callback that defines it."""
    for cb in callbacks:
        fn = getattr(cb, hook, None)
        if fn is not None:
            fn(state)


# ---------------------------------------------------------------- callbacks
class Monitor:
    """Measure cost and accuracy after each epoch, as network2.py's
    ``monitor_*`` flags do, and record them in the epoch's history entry.

    Accuracies are stored as fractions; costs include the penalty term,
    divided by the size of the data set measured (as in network2.py).
    """

    def __init__(self, training_cost=False, training_accuracy=False,
                 evaluation_cost=False, evaluation_accuracy=False):
        self.flags = dict(training_cost=training_cost, training_accuracy=training_accuracy,
                          evaluation_cost=evaluation_cost, evaluation_accuracy=evaluation_accuracy)
        self.needs_evaluation = bool(evaluation_cost or evaluation_accuracy)

    def on_train_begin(self, state):
        """Refuse to monitor evaluation data that was not given."""
        if self.needs_evaluation and state.evaluation is None:
            raise ConfigError("evaluation monitoring needs evaluation data")

    def on_epoch_end(self, state):
        """Record the monitored quantities in ``state.history[-1]``."""
        net, reg, record = state.network, state.regularization, state.history[-1]
        for prefix, data in (("training", state.training), ("evaluation", state.evaluation)):
            if self.flags[f"{prefix}_cost"]:
                record[f"{prefix}_cost"] = mean_cost(net, data.images, data.labels, reg)
            if self.flags[f"{prefix}_accuracy"]:
                record[f"{prefix}_accuracy"] = count_correct(net, data.images, data.labels) / len(data)


class ProgressBar:
    """A tqdm progress bar over each epoch's mini-batches: text on a terminal,
    a widget in a notebook (``tqdm.auto``); off when stderr is neither, so
    logs and pipes stay clean."""

    def __init__(self, enabled=None, update_every=50):
        import sys
        from .notebook import in_notebook
        self.enabled = (sys.stderr.isatty() or in_notebook()) if enabled is None else enabled
        self.update_every = update_every
        self.bar = None

    def on_epoch_begin(self, state):
        """Open a bar for this epoch."""
        if self.enabled:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=state.batches_per_epoch, unit="batch", leave=False,
                            desc=f"epoch {state.epoch + 1}/{state.epochs}")

    def on_batch_end(self, state):
        """Advance the bar every ``update_every`` batches (cheap on the hot path)."""
        if self.bar is not None and state.batch % self.update_every == 0:
            self.bar.update(self.update_every)

    def on_epoch_end(self, state):
        """Close this epoch's bar."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


from .callbacks import (EarlyStopping, FastMonitor, GainRateStopping,  # noqa: E402
                        HalvingSchedule, StepSchedule)
