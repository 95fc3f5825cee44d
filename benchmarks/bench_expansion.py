"""Benchmark of artificial expansion: how fast, and what it costs training.

1. Elastic distortion (alpha 34, sigma 4) of MNIST training images, one
   thread: nndl's batched version against the straightforward per-image
   scipy.ndimage recipe (gaussian_filter on each displacement field, then
   map_coordinates with order 1).  Both are timed here, side by side, and
   given as images per second.
2. One training epoch of a [784,800,10] network (mini-batch 10, eta 0.5,
   L2 lmbda 5, float32) with and without on-the-fly elastic expansion,
   alternating the two so that a busy machine slows both alike.

Every measurement is repeated and the median reported.  Run from the
repository root (needs scipy: pip install -e '.[bench]'):

    NNDL_DATA=../shared/data/mnist.pkl.gz .venv/bin/python benchmarks/bench_expansion.py
"""

import argparse
import os
import statistics
import time

import numpy as np


def elastic_scipy(images, rng, alpha=34.0, sigma=4.0):
    """The straightforward version: one image at a time with scipy.ndimage."""
    from scipy import ndimage
    h, w = images.shape[1:]
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    out = np.empty_like(images)
    for i, img in enumerate(images):
        dr = ndimage.gaussian_filter(rng.random((h, w)) * 2 - 1, sigma, mode="constant") * alpha
        dc = ndimage.gaussian_filter(rng.random((h, w)) * 2 - 1, sigma, mode="constant") * alpha
        out[i] = ndimage.map_coordinates(img, [rows + dr, cols + dc], order=1, mode="grid-constant")
    return out


def elastic_nndl(images, rng):
    """nndl's batched version, as the training stream calls it."""
    from nndl.expansion import parse_specs
    return parse_specs("elastic:alpha=34,sigma=4")(images, rng)


def time_it(fn, repeats):
    """Return the median wall time of ``repeats`` calls of ``fn``, the wall
    times, and the median CPU time of this process (on a shared machine the
    CPU time shows what one core costs when other jobs take turns on it)."""
    times, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(times), times, statistics.median(cpu)


def bench_elastic(images, n_scipy, repeats):
    """Print images/second of both elastic implementations."""
    rng = np.random.default_rng(0)
    ours, ours_all, ours_cpu = time_it(lambda: elastic_nndl(images, rng), repeats)
    sub = images[:n_scipy]
    ref, ref_all, ref_cpu = time_it(lambda: elastic_scipy(sub, rng), repeats)
    ours_rate, ref_rate = len(images) / ours, n_scipy / ref
    print(f"elastic distortion, one thread (median of {repeats}; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores):")
    print(f"  nndl batched     {len(images):>6} images  {ours:6.2f} s  {ours_rate:9.0f} images/s"
          f"  (CPU {ours_cpu:.2f} s)   runs: {' '.join(f'{t:.2f}' for t in ours_all)}")
    print(f"  scipy per image  {n_scipy:>6} images  {ref:6.2f} s  {ref_rate:9.0f} images/s"
          f"  (CPU {ref_cpu:.2f} s)   runs: {' '.join(f'{t:.2f}' for t in ref_all)}")
    print(f"  speed-up {ours_rate / ref_rate:.1f}x; 50,000 images: nndl {50000 / ours_rate:.2f} s, "
          f"scipy {50000 / ref_rate:.1f} s")


def bench_epoch(training, sizes, mini_batch_size, repeats, spec):
    """Print the median epoch time with and without expansion."""
    from nndl import Network
    from nndl.expansion import Expander
    from nndl.optimizers import SGD
    from nndl.regularization import L2
    from nndl.training import train

    def epoch(augment):
        net = Network(sizes, seed=0)
        state = train(net, training, 1, mini_batch_size, SGD(0.5), regularization=L2(5.0),
                      augment=augment)
        return state.history[0]["train_seconds"]
    plain, expanded = [], []
    for r in range(repeats):
        plain.append(epoch(None))
        expanded.append(epoch(Expander(spec, seed=r)))
        print(f"  run {r + 1}: plain {plain[-1]:.2f} s, expanded {expanded[-1]:.2f} s", flush=True)
    p, e = statistics.median(plain), statistics.median(expanded)
    print(f"epoch of {sizes} on {len(training)} images, mini-batch {mini_batch_size} "
          f"(median of {repeats}, alternating; load average {os.getloadavg()[0]:.1f}):")
    print(f"  plain            {p:6.2f} s   runs: {' '.join(f'{t:.2f}' for t in plain)}")
    print(f"  --expand {spec}  {e:6.2f} s   runs: {' '.join(f'{t:.2f}' for t in expanded)}")
    print(f"  ratio expanded / plain: {e / p:.2f}")


def main():
    """Parse the flags and run the benchmarks asked for."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--what", choices=("all", "elastic", "epoch"), default="all")
    ap.add_argument("--images", type=int, default=50000, help="images for nndl's elastic")
    ap.add_argument("--scipy-images", type=int, default=5000, help="images for scipy's elastic")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--epoch-repeats", type=int, default=3)
    ap.add_argument("--sizes", default="784,800,10")
    ap.add_argument("--batch-size", type=int, default=10)
    ap.add_argument("--train-size", type=int, default=50000)
    ap.add_argument("--spec", default="elastic:alpha=34,sigma=4")
    args = ap.parse_args()

    from nndl.data import load_mnist
    training = load_mnist(quiet=True).training.subset(args.train_size)
    if args.what in ("all", "elastic"):
        images = training.images[:args.images].reshape(-1, 28, 28)
        bench_elastic(images, min(args.scipy_images, len(images)), args.repeats)
    if args.what in ("all", "epoch"):
        sizes = [int(s) for s in args.sizes.split(",")]
        bench_epoch(training, sizes, args.batch_size, args.epoch_repeats, args.spec)


if __name__ == "__main__":
    main()
