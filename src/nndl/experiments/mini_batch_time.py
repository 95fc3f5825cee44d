"""Choosing the mini-batch size by wall-clock time ("How to choose a neural
network's hyper-parameters?", mini-batch size).

The chapter's recipe: fix the other hyper-parameters, try several
mini-batch sizes with eta scaled as in equation (102) -- a mini-batch of m
with the mean gradient takes the step of m online steps when eta is m times
the online rate -- and plot validation accuracy against *elapsed time*, not
epochs.  Online eta 0.05 (the book's 0.5 at mini-batch 10); sizes 1, 10, 100.
BLAS runs on one thread, so the comparison measures the algorithm rather
than how threads fare on a busy machine.
"""

import time

import numpy as np

from ..network import count_correct
from .base import Claim, Experiment, Result
from .common import fit, line_plot, mnist, one_blas_thread

ONLINE_ETA = 0.05
SIZES = (1, 10, 100)


class AccuracyOverTime:
    """Every ``every`` training examples, record (training seconds, validation
    accuracy %).  Its own evaluation time is left out of the clock; once the
    clock passes ``budget`` seconds, training stops at the end of the epoch
    and nothing more is recorded."""

    def __init__(self, validation, every, budget):
        self.validation, self.every, self.budget = validation, every, budget
        self.points = []

    def on_train_begin(self, state):
        """Start the clock."""
        self.start, self.paused, self.next = time.perf_counter(), 0.0, self.every

    def on_batch_end(self, state):
        """Evaluate when another ``every`` examples have been seen."""
        seen = (state.epoch * len(state.training)
                + min(state.batch * state.mini_batch_size, len(state.training)))
        if seen < self.next or self.done():
            return
        self.next += self.every
        clock = time.perf_counter() - self.start - self.paused
        t0 = time.perf_counter()
        v = self.validation
        self.points.append((clock, 100 * count_correct(state.network, v.images, v.labels) / len(v)))
        self.paused += time.perf_counter() - t0

    def on_epoch_end(self, state):
        """Stop once the budget is spent."""
        if self.done():
            state.stop = "time budget spent"

    def done(self):
        """Whether the training clock has passed the budget."""
        return bool(self.points) and self.points[-1][0] >= self.budget


def accuracy_at(points, seconds):
    """Return the last recorded accuracy at or before ``seconds``."""
    before = [a for t, a in points if t <= seconds]
    return before[-1] if before else float("nan")


def run(quick, seeds, out):
    """Train each mini-batch size for the same training time (seed 0; a
    timing, not an average)."""
    d = mnist()
    # quick: 3 s, since right after the kernel is compiled in the same process its
    # first few hundred online steps take up to 1 s of the budget (seen in CI)
    training, validation, budget, every = ((d.training.subset(5000), d.validation.subset(1000), 3.0, 1000)
                                           if quick else (d.training, d.validation, 40.0, 10000))
    curves = {}
    for m in SIZES:
        clock = AccuracyOverTime(validation, every, budget)
        with one_blas_thread():
            fit(training, [784, 30, 10], 10**6, ONLINE_ETA * m, lmbda=5.0, seed=0,
                mini_batch_size=m, callbacks=[clock])
        curves[m] = clock.points
    lines = [(f"mini-batch {m}, eta {ONLINE_ETA * m:g}", [t for t, _ in curves[m]],
              [a for _, a in curves[m]]) for m in SIZES]
    plot = line_plot(out / "accuracy_vs_time.png", lines, logx=True,
                     xlabel="training time (s), log scale",
                     ylabel="validation accuracy (%)",
                     title="accuracy against wall-clock time, eta scaled with mini-batch size")
    at = {m: accuracy_at(curves[m], budget) for m in SIZES}
    values = {"batch_gain": [max(at[10], at[100]) - at[1]]}
    config = {"sizes": [784, 30, 10], "online_eta": ONLINE_ETA, "mini_batch_sizes": list(SIZES),
              "lmbda": 5.0, "budget_seconds": budget, "evaluate_every_examples": every,
              "train_size": len(training), "blas_threads": 1, "chosen_mini_batch": max(SIZES, key=lambda m: at[m]),
              "dtype": "float32"}
    return Result(values, [plot], {str(m): curves[m] for m in SIZES}, config,
                  notes=["wall-clock times depend on the machine and its load"])


EXPERIMENT = Experiment(
    name="mini_batch_time", section="How to choose a neural network's hyper-parameters?",
    title="Validation accuracy against wall-clock time for mini-batch sizes 1, 10, 100",
    uses_seeds=False,
    claims=(
        Claim("batch_gain", "accuracy at the time budget: best of mini-batch 10 and 100 minus "
              "online learning (mini-batch 1)", 0.0, 0.0,
              "the chapter's argument: a matrix step over m examples costs far less than m "
              "single steps, so mini-batches learn faster in real time", kind="at_least",
              unit="points"),
    ),
    run=run)
