"""Time each of the chapter's per-step techniques on the compiled engine.

    python benchmarks/kernel_techniques.py [--images N] [--epochs E]

[784,30,10], sigmoid/cross-entropy, mini-batch 10, eta 0.5 (0.1 with
momentum), L2 lmbda 5.0 unless the row says otherwise: each technique is
trained on the numba engine and on the reference step in this one process,
and its epoch (the median of ``--epochs``) is shown over the plain SGD
epoch of the same engine, in the CPU time of the training thread (steadier
than the wall clock when other processes share the cores; neither includes
the kernel's compilation) and in ``train``'s own wall-clock
``train_seconds``.  Timings on a shared machine are noisy: compare the
ratios of one run.
"""

import argparse
import statistics
import time

from nndl.data import load_mnist
from nndl.dropout import Dropout
from nndl.network import Network
from nndl.optimizers import SGD, Momentum
from nndl.regularization import L1, L2, MaxNorm
from nndl.training import train

TECHNIQUES = {
    "plain SGD": {},
    "momentum 0.9": dict(optimizer=lambda: Momentum(0.1, 0.9)),
    "Nesterov 0.9": dict(optimizer=lambda: Momentum(0.1, 0.9, nesterov=True)),
    "dropout 0.5": dict(dropout=lambda: Dropout(0.5)),
    "dropout 0.5, input 0.2, per example": dict(dropout=lambda: Dropout(0.5, 0.2, True)),
    "max-norm 3": dict(constraint=lambda: MaxNorm(3.0)),
    "L1 (lmbda 5.0)": dict(reg=lambda: L1(5.0)),
    "momentum + dropout + max-norm + L2": dict(optimizer=lambda: Momentum(0.1, 0.9),
                                               dropout=lambda: Dropout(0.5),
                                               constraint=lambda: MaxNorm(3.0)),
}


class EpochCPU:
    """Record each epoch's CPU time of the training thread."""

    def on_epoch_begin(self, state):
        self.start = time.thread_time()

    def on_epoch_end(self, state):
        state.history[-1]["cpu_seconds"] = time.thread_time() - self.start


def epoch_seconds(data, engine, epochs, optimizer=None, reg=None, dropout=None, constraint=None):
    """Median epoch (CPU, wall) seconds of a fresh seeded [784,30,10] on ``engine``."""
    net = Network([784, 30, 10], seed=0)
    state = train(net, data, epochs, 10, optimizer() if optimizer else SGD(0.5),
                  regularization=reg() if reg else L2(5.0), dropout=dropout() if dropout else None,
                  constraint=constraint() if constraint else None, engine=engine,
                  callbacks=[EpochCPU()], report=lambda message: print(f"  ({message})"))
    assert state.engine == engine
    return tuple(statistics.median(h[k] for h in state.history)
                 for k in ("cpu_seconds", "train_seconds"))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=50000)
    p.add_argument("--epochs", type=int, default=3)
    args = p.parse_args(argv)
    data = load_mnist(quiet=True).training.subset(args.images)
    print(f"[784,30,10], mini-batch 10, {len(data)} images, median of {args.epochs} epochs;"
          " each engine's epoch and its ratio to its plain SGD epoch")
    plain = {}
    for name, pieces in TECHNIQUES.items():
        row = []
        for engine in ("numba", "reference"):
            cpu, wall = epoch_seconds(data, engine, args.epochs, **pieces)
            base_cpu, base_wall = plain.setdefault(engine, (cpu, wall))
            row.append(f"{engine} cpu {cpu:5.3f} s {cpu / base_cpu:4.2f}x"
                       f" (wall {wall:5.3f} s {wall / base_wall:4.2f}x)")
        print(f"  {name:<38} " + "   ".join(row), flush=True)


if __name__ == "__main__":
    main()
