"""The elastic stream's two schedules on the BLAS engine, epoch by epoch.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE NNDL_DATA=... \
        python benchmarks/expansion_schedule.py [IMAGES] [EPOCHS]

Trains [784, 800, 800, 10] (ReLU/softmax, float32, momentum 0.9, mini-batch
100) on the first IMAGES training images (default 10,000) for EPOCHS
epochs (default 10), plain and with every image freshly elastic-distorted
(alpha 34, sigma 4), twice each, alternated, and prints each epoch's
seconds followed by the schedule the stream used for it: "o" distorting the
next epoch beside training (BLAS held to the free cores less one), "b" a
burst (the epoch distorted at its start by every free core, BLAS on every
core), "-" no stream.  The stream times two steady epochs of each and keeps
the faster (nndl.expansion.stream).
"""

import os
import sys
import time

from threadpoolctl import threadpool_info

from nndl.data import load_mnist
from nndl.expansion import Expander
from nndl.network import Network
from nndl.optimizers import Momentum
from nndl.training import train


def run(training, epochs, expand):
    net = Network([784, 800, 800, 10], cost="log-likelihood", hidden="relu", seed=0,
                  dtype="float32")
    stream = Expander("elastic:alpha=34,sigma=4", seed=0) if expand else None
    times, schedules = [], []

    class Timer:
        def on_epoch_begin(self, state):
            self.start = time.perf_counter()

        def on_epoch_end(self, state):
            times.append(time.perf_counter() - self.start)
            schedules.append(stream._last[1][0] if stream is not None and stream._last else "-")

    train(net, training, epochs, 100, Momentum(0.1, 0.9), augment=stream, callbacks=[Timer()])
    return times, schedules


def main():
    images = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    print("BLAS:", [(i["internal_api"], i.get("version"), i.get("architecture"), i["num_threads"])
                    for i in threadpool_info() if i["user_api"] == "blas"],
          f"load {os.getloadavg()[0]:.2f}")
    training = load_mnist(quiet=True).training.subset(images)
    for _ in range(2):
        for label, expand in (("plain", False), ("elastic", True)):
            times, schedules = run(training, epochs, expand)
            print(label, " ".join(f"{t:.2f}{s}" for t, s in zip(times, schedules)),
                  f"load {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
