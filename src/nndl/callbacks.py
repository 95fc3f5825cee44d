"""Callbacks that steer training: early stopping, learning-rate schedules and
fast feedback monitoring (sections "Early stopping", "Learning rate
schedule" and "Broad strategy" of the chapter).

Each is a small object with some of the hooks ``train`` calls
(``on_train_begin``, ``on_batch_end``, ``on_epoch_end``, ``on_train_end``)
and ``state_dict()`` / ``load_state_dict(d)`` so that a checkpoint can save
and restore it.  Rules that judge progress use the validation accuracy of
the epoch, ``state.history[-1]["evaluation_accuracy"]``; when no ``Monitor``
measured it, they measure it themselves and record it there.
"""

import time

import numpy as np

from .errors import ConfigError
from .network import count_correct
from .params import FRACTION, POSITIVE, Interval


def evaluation_accuracy(state):
    """Return this epoch's accuracy on the evaluation data (a fraction),
    measuring and recording it if no other callback has yet."""
    record = state.history[-1]
    if "evaluation_accuracy" not in record:
        data = state.evaluation
        record["evaluation_accuracy"] = count_correct(state.network, data.images,
                                                      data.labels) / len(data)
    return record["evaluation_accuracy"]


def require_evaluation(state, who):
    """Raise ConfigError if there is no evaluation data for ``who`` to judge by."""
    if state.evaluation is None or len(state.evaluation) == 0:
        raise ConfigError(f"{who} needs validation data to judge progress by")


def check_int(value, what, minimum=1):
    """Return ``value`` if it is an integer >= ``minimum``, else raise ConfigError."""
    return Interval(int, minimum, None).check(value, what)


class BestTracker:
    """Remember the best validation accuracy so far, the epoch it came from,
    how many epochs have passed without beating it, and (optionally) a copy
    of the weights and biases at that epoch."""

    def __init__(self, keep_weights=False):
        self.keep_weights = keep_weights
        self.best_accuracy = None
        self.best_epoch = None
        self.epochs_since_improvement = 0
        self.best_params = None

    def update(self, accuracy, epoch, network):
        """Record this epoch's accuracy; return True if it beats the best
        (strictly: a tie is not an improvement)."""
        if self.best_accuracy is None or accuracy > self.best_accuracy:
            self.best_accuracy, self.best_epoch = float(accuracy), int(epoch)
            self.epochs_since_improvement = 0
            if self.keep_weights:
                self.best_params = ([w.copy() for w in network.weights],
                                    [b.copy() for b in network.biases])
            return True
        self.epochs_since_improvement += 1
        return False

    def restore(self, network):
        """Put the best weights and biases back into ``network``."""
        if self.best_params is not None:
            network.weights = [w.copy() for w in self.best_params[0]]
            network.biases = [b.copy() for b in self.best_params[1]]

    def state_dict(self):
        """Return the tracker's state (weights as lists of arrays)."""
        return {"best_accuracy": self.best_accuracy, "best_epoch": self.best_epoch,
                "epochs_since_improvement": self.epochs_since_improvement,
                "best_weights": None if self.best_params is None
                else [w.copy() for w in self.best_params[0]],
                "best_biases": None if self.best_params is None
                else [b.copy() for b in self.best_params[1]]}

    def load_state_dict(self, d):
        """Restore the state saved by ``state_dict``."""
        self.best_accuracy, self.best_epoch = d["best_accuracy"], d["best_epoch"]
        self.epochs_since_improvement = int(d["epochs_since_improvement"])
        self.best_params = None
        if d.get("best_weights") is not None:
            self.best_params = ([np.array(w) for w in d["best_weights"]],
                                [np.array(b) for b in d["best_biases"]])


class EarlyStopping:
    """Stop when the best validation accuracy has not improved for
    ``patience`` epochs: the chapter's no-improvement-in-n rule.

    When training ends (stopped or not) the network gets back the weights of
    its best epoch if ``restore_best``; ``best_epoch`` says which (0-based,
    like ``history[i]["epoch"]``).
    """

    def __init__(self, patience=10, restore_best=True):
        self.patience = check_int(patience, "the early-stopping patience")
        self.restore_best = restore_best
        self.tracker = BestTracker(keep_weights=restore_best)

    @property
    def best_epoch(self):
        """The epoch with the best validation accuracy so far (None before any)."""
        return self.tracker.best_epoch

    @property
    def best_accuracy(self):
        """The best validation accuracy so far (None before any epoch)."""
        return self.tracker.best_accuracy

    def on_train_begin(self, state):
        """Refuse to run without validation data."""
        require_evaluation(state, "early stopping")

    def on_epoch_end(self, state):
        """Update the best accuracy; set ``state.stop`` when the rule fires."""
        self.tracker.update(evaluation_accuracy(state), state.epoch, state.network)
        self.observe()
        if self.should_stop():
            state.stop = self.reason()

    def observe(self):
        """Hook for rules that keep more history (nothing here)."""

    def should_stop(self):
        """True after ``patience`` epochs without a new best."""
        return self.tracker.epochs_since_improvement >= self.patience

    def reason(self):
        """The stop reason recorded in ``state.stop``."""
        return f"early stopping: no improvement in {self.patience} epochs"

    def on_train_end(self, state):
        """Restore the best epoch's weights."""
        if self.restore_best:
            self.tracker.restore(state.network)

    def state_dict(self):
        """Return the rule's settings and its tracker's state."""
        return {"patience": self.patience, "restore_best": self.restore_best,
                "tracker": self.tracker.state_dict()}

    def load_state_dict(self, d):
        """Restore what ``state_dict`` saved."""
        self.patience, self.restore_best = int(d["patience"]), bool(d["restore_best"])
        self.tracker.keep_weights = self.restore_best
        self.tracker.load_state_dict(d["tracker"])


class GainRateStopping(EarlyStopping):
    """Stop when the best validation accuracy has risen by less than
    ``min_gain`` (a fraction: 0.002 is 0.2 percentage points) over the last
    ``window`` epochs.

    This is a rule that trades accuracy against training time directly:
    training goes on only while it buys at least min_gain/window accuracy per
    epoch.  Unlike no-improvement-in-n it stops a run that still improves,
    but only by crumbs, and it does not stop a run whose best improves
    rarely but by a lot.  See docs/early_stopping.md for the comparison with
    no-improvement-in-10.
    """

    def __init__(self, window=5, min_gain=0.002, restore_best=True):
        super().__init__(patience=window, restore_best=restore_best)
        self.window = self.patience
        self.min_gain = FRACTION.check(min_gain, "the minimum gain (a fraction)")
        self.best_history = []

    def observe(self):
        """Remember the best accuracy after this epoch."""
        self.best_history.append(self.tracker.best_accuracy)

    def should_stop(self):
        """True once ``window`` epochs have added less than ``min_gain``."""
        h = self.best_history
        return len(h) > self.window and h[-1] - h[-1 - self.window] < self.min_gain

    def reason(self):
        """The stop reason recorded in ``state.stop``."""
        return (f"early stopping: best accuracy gained less than {self.min_gain:g} "
                f"in {self.window} epochs")

    def state_dict(self):
        """Return the rule's settings, its tracker and the best-accuracy history."""
        d = super().state_dict()
        d.update(window=self.window, min_gain=self.min_gain, best_history=list(self.best_history))
        return d

    def load_state_dict(self, d):
        """Restore what ``state_dict`` saved."""
        super().load_state_dict(d)
        self.window, self.min_gain = int(d["window"]), float(d["min_gain"])
        self.best_history = list(d["best_history"])


class HalvingSchedule:
    """The chapter's learning-rate exercise: halve eta each time the
    validation accuracy satisfies no-improvement-in-``patience``, and stop
    when eta has dropped to ``min_ratio`` (1/128) of its starting value.

    ``factor`` may be other than 1/2 (the chapter also mentions 1/10).
    After each cut the count of epochs without improvement starts again.
    """

    def __init__(self, patience=10, factor=0.5, min_ratio=1 / 128):
        self.patience = check_int(patience, "the schedule's patience")
        ratio = Interval(float, 0, 1, closed="neither")
        self.factor = ratio.check(factor, "the learning-rate factor")
        self.min_ratio = ratio.check(min_ratio, "the final learning-rate ratio")
        self.eta0 = None
        self.cuts = 0
        self.tracker = BestTracker()

    @property
    def best_epoch(self):
        """The epoch with the best validation accuracy so far."""
        return self.tracker.best_epoch

    def on_train_begin(self, state):
        """Remember the starting learning rate (unless resumed)."""
        require_evaluation(state, "the halving schedule")
        if self.eta0 is None:
            self.eta0 = state.optimizer.eta

    def on_epoch_end(self, state):
        """Cut eta after ``patience`` epochs without a new best; stop at eta0 * min_ratio."""
        self.tracker.update(evaluation_accuracy(state), state.epoch, state.network)
        if self.tracker.epochs_since_improvement < self.patience:
            return
        state.optimizer.eta *= self.factor
        self.cuts += 1
        self.tracker.epochs_since_improvement = 0
        if state.optimizer.eta <= self.eta0 * self.min_ratio:
            state.stop = (f"learning-rate schedule: eta reached {state.optimizer.eta:g}, "
                          f"1/{round(1 / self.min_ratio)} of its initial {self.eta0:g}")

    def state_dict(self):
        """Return the settings, eta0, the number of cuts and the tracker."""
        return {"patience": self.patience, "factor": self.factor, "min_ratio": self.min_ratio,
                "eta0": self.eta0, "cuts": self.cuts, "tracker": self.tracker.state_dict()}

    def load_state_dict(self, d):
        """Restore what ``state_dict`` saved."""
        self.patience, self.factor = int(d["patience"]), float(d["factor"])
        self.min_ratio, self.eta0, self.cuts = float(d["min_ratio"]), d["eta0"], int(d["cuts"])
        self.tracker.load_state_dict(d["tracker"])


class StepSchedule:
    """A fixed schedule: multiply eta by ``factor`` every ``every`` epochs,
    eta = eta0 * factor ** (epochs done // every)."""

    def __init__(self, every, factor):
        self.every = check_int(every, "the step schedule's epoch count")
        self.factor = POSITIVE.check(factor, "the step schedule's factor")
        self.eta0 = None

    def on_train_begin(self, state):
        """Remember the starting learning rate (unless resumed)."""
        if self.eta0 is None:
            self.eta0 = state.optimizer.eta

    def on_epoch_end(self, state):
        """Set the learning rate for the next epoch."""
        state.optimizer.eta = self.eta0 * self.factor ** ((state.epoch + 1) // self.every)

    def state_dict(self):
        """Return the settings and eta0."""
        return {"every": self.every, "factor": self.factor, "eta0": self.eta0}

    def load_state_dict(self, d):
        """Restore what ``state_dict`` saved."""
        self.every, self.factor, self.eta0 = int(d["every"]), float(d["factor"]), d["eta0"]


class FastMonitor:
    """Fast feedback ("Broad strategy"): every ``every`` training images,
    measure the accuracy on the first ``subset`` evaluation images.

    Each measurement is a dict in ``points``: ``images_seen``, ``seconds``
    (wall-clock since training began, measurements included), ``epoch`` and
    ``accuracy`` -- enough to plot accuracy against elapsed time.
    ``report`` (e.g. ``print``) is called with a one-line summary of each.
    """

    def __init__(self, every=1000, subset=100, report=None):
        self.every = check_int(every, "--monitor-every")
        self.subset = check_int(subset, "--monitor-subset")
        self.report = report
        self.points = []
        self.next_at = self.every
        self.start = None

    def on_train_begin(self, state):
        """Start the clock and take the first ``subset`` evaluation images."""
        require_evaluation(state, "fast monitoring")
        self.start = time.perf_counter()
        n = min(self.subset, len(state.evaluation))
        self.x, self.labels = state.evaluation.images[:n], state.evaluation.labels[:n]

    def on_batch_end(self, state):
        """Measure when another ``every`` images have gone by."""
        if state.images_seen < self.next_at:
            return
        while self.next_at <= state.images_seen:
            self.next_at += self.every
        accuracy = count_correct(state.network, self.x, self.labels) / len(self.labels)
        point = {"images_seen": state.images_seen,
                 "seconds": time.perf_counter() - self.start,
                 "epoch": state.epoch, "accuracy": accuracy}
        self.points.append(point)
        if self.report:
            self.report(f"  {point['images_seen']:>9} images  {point['seconds']:8.2f}s  "
                        f"accuracy on {len(self.labels)} {accuracy:.2%}")

    def state_dict(self):
        """Return the settings and the points measured so far."""
        return {"every": self.every, "subset": self.subset, "next_at": self.next_at,
                "points": [dict(p) for p in self.points]}

    def load_state_dict(self, d):
        """Restore what ``state_dict`` saved."""
        self.every, self.subset = int(d["every"]), int(d["subset"])
        self.next_at, self.points = int(d["next_at"]), [dict(p) for p in d["points"]]


class WeightAveraging:
    """End training with the mean of the weights and biases the network
    held at the end of each epoch from epoch ``start`` on (counted from 1,
    as the console prints epochs): Polyak averaging of the last epochs.

    Late in a run with a decaying learning rate the weights wander about a
    minimum from epoch to epoch, and the validation accuracy with them; the
    mean of those weights sits nearer the middle of the minimum than any one
    epoch's.  The running mean is kept in float64 (updated once an epoch,
    mean += (w - mean) / k) and put into the network when training ends,
    cast to its dtype; ``evaluation_accuracy`` is then the validation
    accuracy of the averaged network (None without validation data).  A run
    that stops before epoch ``start`` keeps its last weights.
    """

    def __init__(self, start):
        self.start = check_int(start, "the first epoch to average")
        self.count = 0
        self.means = None
        self.evaluation_accuracy = None

    def on_epoch_end(self, state):
        """Fold this epoch's weights and biases into the running mean."""
        self.add(state.epoch + 1, state.network.weights + state.network.biases)

    def add(self, epoch, params):
        """Fold ``params`` (weights then biases), those at the end of
        ``epoch`` (counted from 1), into the mean if ``epoch`` is averaged."""
        if epoch < self.start:
            return
        if self.means is None:
            self.means = [np.zeros(p.shape) for p in params]
        self.count += 1
        for mean, p in zip(self.means, params):
            mean += (p - mean) / self.count

    def on_train_end(self, state):
        """Give the network the mean weights and measure it on the
        evaluation data."""
        if self.means is None:
            return
        net, layers = state.network, len(state.network.weights)
        net.weights = [m.astype(w.dtype) for m, w in zip(self.means[:layers], net.weights)]
        net.biases = [m.astype(b.dtype) for m, b in zip(self.means[layers:], net.biases)]
        data = state.evaluation
        if data is not None and len(data):
            self.evaluation_accuracy = count_correct(net, data.images, data.labels) / len(data)

    def state_dict(self):
        """Return the first epoch, the number of epochs averaged and the means."""
        return {"start": self.start, "count": self.count,
                "means": None if self.means is None else [m.copy() for m in self.means]}

    def load_state_dict(self, d):
        """Restore what ``state_dict`` saved."""
        self.start, self.count = int(d["start"]), int(d["count"])
        self.means = None if d["means"] is None else [np.array(m, dtype=float)
                                                      for m in d["means"]]


class WallClock:
    """Record in each epoch's history entry ``wall_seconds``: the wall-clock
    time since ``start`` (a ``time.perf_counter()`` reading; by default the
    moment training began), measured after the epoch's monitoring, so that a
    run reads as accuracy against elapsed time ("what does one minute of
    training give?").

    A resumed run goes on from the last recorded value: the time between the
    interruption and the resumption is not counted.
    """

    def __init__(self, start=None):
        self.start = start
        self.offset = 0.0

    def on_train_begin(self, state):
        """Start the clock (unless given) and continue a resumed run's count."""
        if self.start is None:
            self.start = time.perf_counter()
        if state.history:
            self.offset = float(state.history[-1].get("wall_seconds", 0.0))

    def on_epoch_end(self, state):
        """Record the elapsed time in this epoch's history entry."""
        state.history[-1]["wall_seconds"] = self.offset + time.perf_counter() - self.start


class TimeLimit:
    """Stop training before an epoch that would end more than ``seconds``
    of wall-clock time after training began (``nndl train --time-limit``).

    Whether another epoch fits is judged from the longest of the last three
    epochs (monitoring included).  A run that finishes all its epochs within
    the limit is unaffected, and so stays repeatable from its seed; one that
    is stopped depends on how fast the machine was.
    """

    def __init__(self, seconds):
        self.seconds = POSITIVE.check(seconds, "the time limit in seconds")
        self.start = self.last = None
        self.recent = []

    def on_train_begin(self, state):
        """Start the clock."""
        self.start = self.last = time.perf_counter()

    def on_epoch_end(self, state):
        """Stop if one more epoch, as long as the longest recent one, would
        end past the limit."""
        now = time.perf_counter()
        self.recent = (self.recent + [now - self.last])[-3:]
        self.last = now
        if now - self.start + max(self.recent) > self.seconds and state.epoch + 1 < state.epochs:
            state.stop = (f"time limit: another epoch would end after "
                          f"{self.seconds / 60:g} minutes")


class EpochPrinter:
    """Print one summary line per epoch, under a line saying what the
    columns are; a line fits in 80 columns with all four quantities
    monitored (and eta, with a schedule)::

        each epoch: cost+L2 (the cost with the regularisation term, as training minimises it) ...
        epoch  3/30  train 0.4567 95.12%  valid 0.8700 96.49%  12s
    """

    SHORT = {"validation": "valid", "test": "test"}

    def __init__(self, evaluate_on, show_eta=False):
        self.evaluate_on = evaluate_on
        self.show_eta = show_eta
        self.header = False

    def legend(self, r, unit="epoch"):
        """The lines saying what the numbers of record ``r`` are (``unit``:
        epoch, or iteration for a full-batch optimiser)."""
        sets = [name for name, key in (("train", "training"),
                                       (self.SHORT[self.evaluate_on], "evaluation"))
                if f"{key}_cost" in r or f"{key}_accuracy" in r]
        named = {"train": "train(ing)", "valid": "valid(ation)", "test": "test"}
        what = [w for w, k in (("cost+L2", "_cost"), ("accuracy", "_accuracy"))
                if any(key.endswith(k) for key in r)]
        time = "time: since the start" if "wall_seconds" in r else f"time: of the {unit}"
        if not sets:
            return f"each {unit}: {time}"
        text = f"each {unit}: {' and '.join(what)} on the {' and '.join(named[s] for s in sets)} data"
        cost = "cost+L2: the cost with the regularisation term; " if "cost+L2" in what else ""
        return f"{text}\n  {cost}{time}"

    def on_epoch_end(self, state):
        """Print the epoch's monitored quantities and time."""
        r = state.history[-1]
        unit = "iteration" if state.engine == "full-batch" else "epoch"
        if not self.header:
            print(self.legend(r, unit), flush=True)
            self.header = True
        parts = [f"{unit} {r['epoch'] + 1:>{len(str(state.epochs))}}/{state.epochs}"]
        if self.show_eta:
            parts.append(f"eta {r['eta']:g}")
        for name, key in (("train", "training"), (self.SHORT[self.evaluate_on], "evaluation")):
            numbers = ([f"{r[key + '_cost']:.4f}"] if key + "_cost" in r else []) + \
                      ([f"{r[key + '_accuracy']:.2%}"] if key + "_accuracy" in r else [])
            if numbers:
                parts.append(f"{name} {' '.join(numbers)}")
        seconds = r["wall_seconds"] if "wall_seconds" in r else r["train_seconds"]
        parts.append(f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s")
        print("  ".join(parts), flush=True)
