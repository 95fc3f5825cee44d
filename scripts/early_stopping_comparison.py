"""Compare early-stopping rules, as the chapter's problem asks: three runs of
no-improvement-in-10 and three of the gain-rate rule (best validation
accuracy must rise by at least GAIN over the last WINDOW epochs), plus, for
reference, the same runs trained for the full epoch budget without stopping.

A stopping rule does not change training until it fires (same seed, same
shuffles, same weights), so for each seed the runs differ only in where they
stop.  Setting (reduced so that the whole comparison takes a couple of
minutes on 2 cores): [784, 30, 10], cross-entropy, the first 10,000 MNIST
training images, eta 0.5, lmbda 1.0 (= 5.0 * 10,000/50,000), mini-batch 10,
at most 150 epochs, judged on the 10,000 validation images.

    NNDL_DATA=... python scripts/early_stopping_comparison.py [--window 5] [--gain 0.002]

Prints a Markdown table (docs/early_stopping.md holds one run of it).
"""

import argparse
import time

from nndl import Network
from nndl.callbacks import EarlyStopping, GainRateStopping
from nndl.data import load_mnist
from nndl.optimizers import SGD
from nndl.regularization import L2
from nndl.training import Monitor, train

MAX_EPOCHS = 150


def run(splits, seed, rule):
    """Train one network with ``rule`` (or none); return (epochs, best epoch,
    best validation accuracy, seconds)."""
    net = Network([784, 30, 10], seed=seed)
    callbacks = [Monitor(evaluation_accuracy=True)] + ([rule] if rule else [])
    start = time.perf_counter()
    state = train(net, splits.training.subset(10000), MAX_EPOCHS, 10, SGD(0.5),
                  regularization=L2(1.0), evaluation=splits.validation, callbacks=callbacks)
    seconds = time.perf_counter() - start
    accs = [r["evaluation_accuracy"] for r in state.history]
    best = max(range(len(accs)), key=accs.__getitem__)
    return len(accs), best + 1, accs[best], seconds


def main():
    """Run every rule for seeds 1-3 and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--gain", type=float, default=0.002)
    args = parser.parse_args()
    splits = load_mnist(quiet=True)
    rules = {"no-improvement-in-10": lambda: EarlyStopping(10),
             f"gain-rate (window {args.window}, gain {args.gain:g})":
                 lambda: GainRateStopping(args.window, args.gain),
             f"none ({MAX_EPOCHS} epochs)": lambda: None}
    print("| rule | seed | epochs trained | best epoch | best validation accuracy | seconds |")
    print("|---|---|---|---|---|---|")
    for name, make in rules.items():
        for seed in (1, 2, 3):
            epochs, best, acc, seconds = run(splits, seed, make())
            print(f"| {name} | {seed} | {epochs} | {best} | {acc:.2%} | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
