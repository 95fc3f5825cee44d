"""How much nndl.notebook.LivePlot slows training: the same seeded runs with
and without it, alternated, on MNIST.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/live_plot.py [--repeats 3]

Each run monitors the validation accuracy and cost after every epoch (what
the plot draws).  With the plot each frame's SVG is built and JSON-encoded
into a display message, the work a notebook's display does for it; only the
sending to the browser is left out.  On a shared, loaded machine single runs vary
by tens of percent, so it prints two measures: the ratio of the fastest run
with the plot to the fastest without, and the plot's own drawing time as a
fraction of its run (LivePlot.draw_seconds / seconds), which is the time it
adds.  Two cases: the chapter's
[784, 30, 10] on all 50,000 images for 10 epochs (a notebook run of some
seconds), and on 1,000 images for 30 epochs (the notebook's short runs,
where the one frame that is always drawn at the end weighs most), and on
1,000 images for 3 epochs (a run of a fraction of a second).
"""

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np

from nndl.data import load_mnist
from nndl.network import Network
from nndl.notebook import LivePlot
from nndl.optimizers import SGD
from nndl.regularization import L2
from nndl.training import Monitor, train


def blas():
    from threadpoolctl import threadpool_info
    return "; ".join(f"{i['internal_api']} {i.get('version')} {i.get('architecture')} "
                     f"{i['num_threads']} threads" for i in threadpool_info() if i["user_api"] == "blas")


def run(training, validation, epochs, plot):
    net = Network([784, 30, 10], seed=0)
    callbacks = [Monitor(evaluation_accuracy=True, evaluation_cost=True)]
    if plot:
        sink = lambda svg: json.dumps({"image/svg+xml": svg})  # noqa: E731  (the display's message)
        callbacks.append(LivePlot(enabled=True, sink=sink))
    start = time.perf_counter()
    train(net, training, epochs, 10, SGD(0.5), regularization=L2(5.0 * len(training) / 50000),
          evaluation=validation, callbacks=callbacks)
    elapsed = time.perf_counter() - start
    return elapsed, (callbacks[-1] if plot else None)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{platform.machine()} {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.2f}, "
          f"numpy {np.__version__}, BLAS: {blas()}, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}")
    mnist = load_mnist(quiet=True)
    validation = mnist.validation
    run(mnist.training.subset(1000), validation, 1, True)          # compile, import the tick locator
    for label, training, epochs in (("50,000 images, 10 epochs", mnist.training, 10),
                                    ("1,000 images, 30 epochs", mnist.training.subset(1000), 30),
                                    ("1,000 images, 3 epochs", mnist.training.subset(1000), 3)):
        without, with_plot, shares = [], [], []
        for _ in range(args.repeats):
            without.append(run(training, validation, epochs, False)[0])
            seconds, plot = run(training, validation, epochs, True)
            with_plot.append(seconds)
            shares.append(plot.draw_seconds / seconds)
            print(f"  {label}: without {without[-1]:.2f} s, with LivePlot {seconds:.2f} s "
                  f"({plot.frames} frames, {plot.draw_seconds:.3f} s drawing)", flush=True)
        print(f"{label}: fastest with / fastest without = {min(with_plot) / min(without):.3f}; "
              f"drawing = {100 * statistics.median(shares):.1f}% of the run (median)")


if __name__ == "__main__":
    main()
