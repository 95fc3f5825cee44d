"""The BLAS engine against the BLAS floor on one large network, alternating
the two ``--repeats`` times in one process (steadier than ``bench.py``'s
tables, which time each contender's repetitions back to back).

    NNDL_DATA=../shared/data/mnist.pkl.gz python benchmarks/big_vs_floor.py [--sizes 784,800,800,10]
"""

import argparse
import statistics
import time

import bench
from nndl.data import load_mnist


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="784,800,800,10")
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--repeats", type=int, default=8)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    data = load_mnist(quiet=True).training.subset(args.images)
    engine, floor = bench.nndl_epoch(data, sizes, 100, "blas"), bench.blas_floor(data, sizes, 100)
    engine(), floor()                                   # warm-up
    ours, products = [], []
    for _ in range(args.repeats):
        ours.append(engine()[0])
        start = time.perf_counter()
        floor()
        products.append(time.perf_counter() - start)
    for name, times in (("nndl blas engine", ours), ("BLAS floor", products)):
        print(f"{name:17s} median {statistics.median(times):.3f} s   runs: "
              + " ".join(f"{t:.3f}" for t in times))
    print(f"{sizes}, mini-batch 100, {args.images} images: nndl / floor = "
          f"{statistics.median(ours) / statistics.median(products):.2f}")


if __name__ == "__main__":
    main()
