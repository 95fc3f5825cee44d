"""What the reliability callbacks cost: an epoch of the chapter's network on
MNIST with and without DivergenceCheck (every mini-batch) and Checkpoint
(every epoch).

    NNDL_DATA=/path/to/mnist.pkl.gz .venv/bin/python scripts/bench_reliability.py

Prints the median epoch time of each setup over several epochs and its ratio
to plain training.
"""

import statistics
import sys
import tempfile
import time

from nndl.checkpoint import Checkpoint
from nndl.data import load_mnist
from nndl.divergence import DivergenceCheck
from nndl.network import Network
from nndl.optimizers import SGD
from nndl.regularization import L2
from nndl.training import train


def epoch_times(training, callbacks_factory, epochs):
    """Median seconds per epoch for [784, 30, 10], mini-batch 10, eta 0.5, L2 5."""
    net = Network([784, 30, 10], seed=0)
    stamps = []

    class Clock:
        """Time from one epoch's start to the next (so every callback is included)."""

        def on_epoch_begin(self, state):
            stamps.append(time.perf_counter())

        def on_train_end(self, state):
            stamps.append(time.perf_counter())
    train(net, training, epochs, 10, SGD(0.5), regularization=L2(5.0),
          callbacks=[Clock()] + callbacks_factory())
    times = [b - a for a, b in zip(stamps, stamps[1:])]
    return statistics.median(times)


def main(n=int(sys.argv[1]) if len(sys.argv) > 1 else 20000, epochs=5):
    training = load_mnist(quiet=True).training.subset(n)
    with tempfile.TemporaryDirectory() as tmp:
        setups = {
            "plain": lambda: [],
            "DivergenceCheck": lambda: [DivergenceCheck()],
            "DivergenceCheck + Checkpoint": lambda: [DivergenceCheck(), Checkpoint(tmp)],
        }
        base = None
        print(f"{n} training images, [784, 30, 10], mini-batch 10, median of {epochs} epochs")
        for name, factory in setups.items():
            t = epoch_times(training, factory, epochs)
            base = base or t
            print(f"{name:30s} {t:7.3f} s/epoch   ratio {t / base:.3f}")


if __name__ == "__main__":
    main()
