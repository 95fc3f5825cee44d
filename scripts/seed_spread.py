"""How much one run of the book's regularised network varies from seed to seed.

For each seed, trains [784,30,10] (cross-entropy, eta 0.5, lmbda 5.0,
mini-batch 10, 30 epochs, float32) and prints the test accuracy after the last
epoch and at the epoch with the best validation accuracy.

``--init large`` starts from N(0, 1) weights, as the chapter's own session
does (``net.large_weight_initializer()``); the default is nndl's
N(0, 1/n_in).  ``--engine`` picks the training step (default: the NumPy
reference step; ``auto`` lets the fast engine run, the same SGD to float32
rounding).

Usage:  python scripts/seed_spread.py FIRST_SEED LAST_SEED_EXCLUSIVE [--init large] [--engine auto]
"""

import argparse
import statistics

import numpy as np

from nndl import Network
from nndl.data import load_mnist
from nndl.network import count_correct
from nndl.optimizers import SGD
from nndl.regularization import L2
from nndl.training import train


class ValidationAndTest:
    """Record validation and test accuracy after every epoch."""

    def __init__(self, splits):
        self.splits = splits

    def on_epoch_end(self, state):
        for name in ("validation", "test"):
            data = getattr(self.splits, name)
            state.history[-1][name] = count_correct(state.network, data.images,
                                                    data.labels) / len(data)


def main(first, last, init="default", engine="reference", book=0.9649):
    splits = load_mnist(quiet=True)
    finals, at_best = [], []
    for seed in range(first, last):
        net = Network([784, 30, 10], seed=seed, init=init)
        state = train(net, splits.training, 30, 10, SGD(0.5), regularization=L2(5.0),
                      callbacks=[ValidationAndTest(splits)], engine=engine)
        val = [h["validation"] for h in state.history]
        test = [h["test"] for h in state.history]
        best = int(np.argmax(val))
        finals.append(test[-1])
        at_best.append(test[best])
        print(f"seed {seed}: test after epoch 30 {test[-1]:.2%}; best validation "
              f"{val[best]:.2%} at epoch {best + 1}, test there {test[best]:.2%}", flush=True)
    print(f"init {init}, engine {state.engine}, seeds {first}-{last - 1}")
    for name, values in (("after epoch 30", finals), ("at best validation epoch", at_best)):
        above = sum(v >= book for v in values)
        print(f"test accuracy {name}: min {min(values):.2%} max {max(values):.2%} "
              f"mean {statistics.mean(values):.2%} sd {statistics.stdev(values):.2%}; "
              f"{above} of {len(values)} runs at or above the book's {book:.2%}")


def parse(argv=None):
    """Return the command line's seeds, init and engine."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("first", type=int)
    p.add_argument("last", type=int)
    p.add_argument("--init", choices=("default", "large"), default="default")
    p.add_argument("--engine", default="reference")
    return p.parse_args(argv)


if __name__ == "__main__":
    args = parse()
    main(args.first, args.last, args.init, args.engine)
