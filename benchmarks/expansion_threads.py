"""How many BLAS threads should training use while images are distorted on
the fly?  Times epochs of [784,800,800,10] (ReLU, softmax, mini-batch 100,
momentum 0.9) on N training images with elastic expansion, with BLAS free to
use every core and with the threads the Expander plans from the free cores
(``nndl.expansion.threads``: BLAS one fewer than the free cores), with
``--busy`` extra processes spinning on the cores as other jobs would.

    NNDL_DATA=../shared/data/mnist.pkl.gz env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        python benchmarks/expansion_threads.py [--images 10000] [--busy 0 1]
"""

import argparse
import multiprocessing
import os
import statistics

from nndl.activations import ReLU, Softmax
from nndl.costs import LogLikelihoodCost
from nndl.data import load_mnist
from nndl.expansion import Expander
from nndl.network import Network
from nndl.optimizers import make_optimizer
from nndl.training import train


def spin():
    """A busy process, as another developer's job."""
    while True:
        pass


def epoch_seconds(data, epochs, blas_threads):
    """Seconds per epoch (after the first) of one seeded expanded run, and the plan."""
    net = Network([784, 800, 800, 10], LogLikelihoodCost, hidden=ReLU, output=Softmax, seed=0)
    augment = Expander("elastic:alpha=34,sigma=4", seed=1, blas_threads=blas_threads)
    state = train(net, data, epochs, 100, make_optimizer(0.05, 0.9, False), augment=augment)
    augment.close()
    return [h["train_seconds"] for h in state.history[1:]], augment.plan


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--busy", type=int, nargs="+", default=[0, 1],
                    help="numbers of extra spinning processes to try")
    args = ap.parse_args()
    data = load_mnist(quiet=True).training.subset(args.images)
    cores = len(os.sched_getaffinity(0))
    print(f"{cores} cores, load average {os.getloadavg()[0]:.2f}; {args.images} images, "
          f"seconds per epoch (epochs 2-{args.epochs}), elastic expansion")
    for busy in args.busy:
        spinners = [multiprocessing.Process(target=spin, daemon=True) for _ in range(busy)]
        for p in spinners:
            p.start()
        try:
            for label, threads in (("BLAS on every core", cores), ("planned", "auto")):
                times, plan = epoch_seconds(data, args.epochs, threads)
                note = f"   ({plan})" if threads == "auto" else f"   (BLAS {cores} threads)"
                print(f"  {busy} busy, {label:18s} median {statistics.median(times):6.2f} s   "
                      f"runs: {' '.join(f'{t:.2f}' for t in times)}{note}")
        finally:
            for p in spinners:
                p.terminate()


if __name__ == "__main__":
    main()
