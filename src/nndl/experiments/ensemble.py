"""Several networks voting ("Other techniques for regularization", on dropout).

The chapter: train several networks on the same data from different
starting weights and let them vote; "if we have trained five networks, and
three of them are classifying a digit as a '3', then it probably really is
a '3'" -- "a powerful (though expensive) way of reducing overfitting".
Each seed here is one committee of ``MEMBERS`` [784, 30, 10] networks (the
chapter's regularised network: N(0, 1/n_in) weights, eta 0.5, lmbda 5.0,
mini-batch 10, 30 epochs, member k of committee s seeded MEMBERS*s + k).
A committee classifies by plurality vote of its members' predictions, ties
going to the label with the larger summed output.  We compare its test
accuracy with each member's, and with what the same training time buys a
single network: one [784, 30, 10] trained MEMBERS times as many epochs.
Classifying costs MEMBERS forward passes instead of one.
"""

import time

import numpy as np

from .base import Claim, Experiment, Result
from .common import fit, line_plot, mnist, seed_list

MEMBERS = 5
QUICK_MEMBERS = 3
LONG_SEED = 10_000     # the single long run's seeds are apart from the members'


def vote(outputs):
    """Return the plurality vote of the members' predictions for each row.

    ``outputs`` is (members, rows, classes).  Each member votes for its most
    active output; a tie between labels is broken by the summed outputs."""
    members, rows, classes = outputs.shape
    votes = np.zeros((rows, classes))
    np.add.at(votes, (np.arange(rows)[None, :], outputs.argmax(axis=2)), 1.0)
    tie_break = outputs.sum(axis=0) / (members * classes + 1.0)   # < 1: only decides ties
    return (votes + tie_break).argmax(axis=1)


def committee(training, test, epochs, members, seed):
    """Train one committee; return (member accuracies, committee accuracy by
    size 1..members, training seconds per member, classification seconds of
    one member and of the whole committee)."""
    outputs, accuracies, seconds = [], [], []
    for k in range(members):
        start = time.perf_counter()
        net, _ = fit(training, [784, 30, 10], epochs, 0.5, lmbda=5.0, seed=members * seed + k)
        seconds.append(time.perf_counter() - start)
        start = time.perf_counter()
        outputs.append(np.asarray(net.feedforward(test.images), dtype=np.float64))
        one = time.perf_counter() - start
        accuracies.append(100 * float(np.mean(outputs[-1].argmax(axis=1) == test.labels)))
    stacked = np.stack(outputs)
    start = time.perf_counter()
    by_size = [100 * float(np.mean(vote(stacked[:n]) == test.labels))
               for n in range(1, members + 1)]
    vote_seconds = time.perf_counter() - start
    return accuracies, by_size, seconds, one, one * members + vote_seconds


def long_run(training, test, epochs, seed):
    """Train one network for ``epochs`` epochs; return (test accuracy %, seconds)."""
    start = time.perf_counter()
    net, _ = fit(training, [784, 30, 10], epochs, 0.5, lmbda=5.0, seed=LONG_SEED + seed)
    seconds = time.perf_counter() - start
    return 100 * net.accuracy(test.images, test.labels) / len(test), seconds


def run(quick, seeds, out):
    """One committee per seed; plot accuracy against committee size and time."""
    d = mnist()
    training, test, epochs, members = ((d.training.subset(2000), d.test.subset(1000), 3,
                                        QUICK_MEMBERS) if quick
                                       else (d.training, d.test, 30, MEMBERS))
    values = {k: [] for k in ("gain_over_mean", "gain_over_best", "committee_accuracy",
                              "gain_over_long_run", "time_ratio")}
    series, lines, long_points = {}, [], ([], [])
    for s in seed_list(seeds):
        accuracies, by_size, seconds, one, whole = committee(training, test, epochs, members, s)
        values["committee_accuracy"].append(by_size[-1])
        values["gain_over_mean"].append(by_size[-1] - float(np.mean(accuracies)))
        values["gain_over_best"].append(by_size[-1] - max(accuracies))
        long_accuracy, long_seconds = long_run(training, test, epochs * members, s)
        values["gain_over_long_run"].append(by_size[-1] - long_accuracy)
        values["time_ratio"].append(sum(seconds) / long_seconds)
        series[f"committee {s}"] = {"member_accuracy": accuracies, "accuracy_by_size": by_size,
                                    "training_seconds": seconds,
                                    "long_run": {"epochs": epochs * members,
                                                 "accuracy": long_accuracy,
                                                 "seconds": long_seconds},
                                    "classify_seconds_one_member": one,
                                    "classify_seconds_committee": whole}
        cumulative = np.cumsum(seconds)
        lines.append((f"committee {s}", list(cumulative), by_size))
        long_points[0].append(long_seconds)
        long_points[1].append(long_accuracy)
    plot = line_plot(out / "accuracy_vs_time.png", lines,
                     xlabel="training time of the committee so far (s, shared machine)",
                     ylabel="test accuracy of the vote (%)",
                     title=f"committees of 1..{members} networks [784,30,10], lmbda 5.0",
                     points=[(f"one network, {epochs * members} epochs", *long_points)])
    config = {"sizes": [784, 30, 10], "members": members, "eta": 0.5, "lmbda": 5.0,
              "init": "default", "mini_batch_size": 10, "epochs": epochs,
              "vote": "plurality of predicted labels, ties by summed outputs",
              "member_seeds": "members*seed + k", "train_size": len(training),
              "test_size": len(test), "dtype": "float32"}
    notes = ["Times are wall-clock on a machine shared with other jobs. The committee's "
             "training time is the sum of its members' (trained one after another), about "
             f"{members} times one network's; the long single run spends the same time on one "
             "network. Classifying with the committee costs one forward pass per member "
             "(classify_seconds_* in the series)."]
    return Result(values, [plot], series, config, notes)


EXPERIMENT = Experiment(
    name="ensemble", section="Other techniques for regularization",
    title="A committee of five networks voting, against its members and its cost in time",
    claims=(
        Claim("gain_over_mean", "committee minus its average member, test accuracy (the "
              "chapter: voting reduces overfitting)", 0.0, 0.0,
              "a direction, not a size", kind="at_least", unit="points"),
        Claim("gain_over_best", "committee minus its best member, test accuracy", 0.0, 0.0,
              "the stronger reading: the vote beats every member", kind="at_least",
              unit="points"),
        Claim("committee_accuracy", "test accuracy of the five-network vote (no book number; "
              "the book's single network: 96.49%)", 96.49, 0.0,
              "a committee should at least reach the book's single run", kind="at_least"),
        Claim("gain_over_long_run", "committee minus one network trained 5 x 30 = 150 epochs "
              "(the same training time), test accuracy", 0.0, 0.0,
              "the committee is worth its cost only if the same time spent on one network "
              "buys less", kind="at_least", unit="points"),
        Claim("time_ratio", "training time of the committee / of the 150-epoch single run",
              1.0, 0.25, "both train 150 network-epochs; a quarter allows for the timing "
              "noise of a shared machine", unit="x"),
    ),
    run=run)
