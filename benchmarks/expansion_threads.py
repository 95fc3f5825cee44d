"""How many BLAS threads should training use while images are distorted on
the fly?  Times epochs of [784,800,800,10] (ReLU, softmax, mini-batch 100,
momentum 0.9) on N training images, with and without elastic expansion,
with BLAS free to use every core and held to one thread fewer than the
cores (what ``Expander`` does by default).

    NNDL_DATA=../shared/data/mnist.pkl.gz python benchmarks/expansion_threads.py [--images 10000]
"""

import argparse
import os

from threadpoolctl import threadpool_limits

from nndl.activations import ReLU, Softmax
from nndl.costs import LogLikelihoodCost
from nndl.data import load_mnist
from nndl.expansion import Expander
from nndl.network import Network
from nndl.optimizers import make_optimizer
from nndl.training import train


def epoch_seconds(data, epochs, expand, blas_threads):
    """Seconds per epoch (after the first) of one seeded run."""
    net = Network([784, 800, 800, 10], LogLikelihoodCost, hidden=ReLU, output=Softmax, seed=0)
    augment = None
    if expand:
        augment = Expander("elastic:alpha=34,sigma=4", seed=1, blas_threads=None)
    with threadpool_limits(limits=blas_threads, user_api="blas"):
        state = train(net, data, epochs, 100, make_optimizer(0.05, 0.9, False), augment=augment)
    return [h["train_seconds"] for h in state.history[1:]]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--epochs", type=int, default=4)
    args = ap.parse_args()
    data = load_mnist(quiet=True).training.subset(args.images)
    cores = os.cpu_count()
    print(f"{cores} cores, load average {os.getloadavg()[0]:.2f}; {args.images} images, "
          f"seconds per epoch (epochs 2-{args.epochs})")
    for expand in (False, True):
        for threads in (cores, max(1, cores - 1)):
            times = epoch_seconds(data, args.epochs, expand, threads)
            runs = " ".join(f"{t:.2f}" for t in times)
            print(f"  {'elastic expansion' if expand else 'no expansion':18s} BLAS threads "
                  f"{threads}: median {sorted(times)[len(times) // 2]:.2f} s   runs: {runs}")


if __name__ == "__main__":
    main()
