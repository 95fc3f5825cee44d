"""The BLAS engine's weight update: one gemm call against NumPy's product and
subtraction, alternated with the BLAS floor in one process.

    NNDL_DATA=../shared/data/mnist.pkl.gz python benchmarks/fused_update.py [--sizes 784,800,800,10]

Each trial trains a fresh seeded network for one epoch with each update and
then times the floor (``bench.blas_floor``), so all three see the same state
of the machine; the per-trial series shows when that state changes.  For the
NumPy update it also reports the seconds spent in ``W -= g`` alone.
"""

import argparse
import statistics
import time

import numpy as np

import bench
from nndl.data import load_mnist
from nndl.engines import Step
from nndl.engines.blas_engine import BlasEngine
from nndl.network import Network
from nndl.optimizers import SGD
from nndl.regularization import L2


class TimedSubtraction(BlasEngine):
    """The engine with NumPy's update, timing its subtraction pass."""

    def __init__(self, *args):
        super().__init__(*args)
        self.fused, self.subtract_seconds = None, 0.0

    def _update(self, l, w, d, a, alpha):
        if self.g[l] is None:
            self.g[l] = np.empty_like(w)
        d *= -alpha
        np.matmul(d.T, a, out=self.g[l])
        start = time.perf_counter()
        w -= self.g[l]
        self.subtract_seconds += time.perf_counter() - start


def step(n):
    """The benchmark's step: SGD(0.5), L2(5.0), mini-batch 100, n images."""
    return Step(SGD(0.5), L2(5.0), 100, n)


def epoch_seconds(engine_class, sizes, x, y):
    """Train a fresh seeded network one epoch; return (seconds, engine)."""
    engine = engine_class(Network(sizes, seed=0), step(len(x)), x, y)
    order = np.random.default_rng(0).permutation(len(x))
    start = time.perf_counter()
    engine.run_epoch(x, y, order, 0)
    return time.perf_counter() - start, engine


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="784,800,800,10")
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--trials", type=int, default=10)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    data = load_mnist(quiet=True).training.subset(args.images)
    x = np.ascontiguousarray(data.images, dtype=np.float32)
    y = np.eye(sizes[-1], dtype=np.float32)[data.labels]
    floor = bench.blas_floor(data, sizes, 100)
    if BlasEngine(Network(sizes, seed=0), step(len(x)), x, y).fused is None:
        raise SystemExit("NumPy's BLAS offers no usable gemm here: nothing to compare")
    epoch_seconds(BlasEngine, sizes, x, y), floor()                     # warm-up
    rows = {"gemm update": [], "NumPy update": [], "  its W -= g": [], "BLAS floor": []}
    for _ in range(args.trials):
        rows["gemm update"].append(epoch_seconds(BlasEngine, sizes, x, y)[0])
        seconds, engine = epoch_seconds(TimedSubtraction, sizes, x, y)
        rows["NumPy update"].append(seconds)
        rows["  its W -= g"].append(engine.subtract_seconds)
        start = time.perf_counter()
        floor()
        rows["BLAS floor"].append(time.perf_counter() - start)
    print(f"{sizes}, mini-batch 100, {len(x)} images, one epoch per trial:")
    for name, times in rows.items():
        print(f"{name:13s} median {statistics.median(times):.3f} s   trials: "
              + " ".join(f"{t:.3f}" for t in times))
    ratio = {k: statistics.median(rows[k]) / statistics.median(rows["BLAS floor"])
             for k in ("gemm update", "NumPy update")}
    print("over the floor: " + ", ".join(f"{k} {v:.2f}" for k, v in ratio.items()))


if __name__ == "__main__":
    main()
