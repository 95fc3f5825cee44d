"""Benchmark of artificial expansion: how fast the distortions are, what an
expanded epoch costs, and how long the kernels take to compile.

1. Distortion of MNIST training images on one core (the calling thread):
   nndl's compiled kernels (elastic alpha 34 sigma 4, and a random affine
   map) against the straightforward per-image scipy.ndimage versions
   (gaussian_filter on each displacement field then map_coordinates with
   order 1; affine_transform with order 1), and nndl's NumPy reference,
   timed side by side in this run, as images per second (wall and CPU).
2. Epochs of [784,30,10] (mini-batch 10) and [784,800,800,10] (ReLU,
   softmax, mini-batch 100), plain and with elastic expansion: plain on
   the engine ``auto`` picks and on the reference step; expanded on the
   reference step (``Expander.batches``); and expanded as a fast engine
   would train, on ``Expander.epoch_images`` (the next epoch distorted in
   the background meanwhile).  Plain and expanded alternate, so a busy
   machine slows both alike.
3. The kernels' first-call compile time, with an empty Numba cache and
   with the cache written by the first run (fresh processes).

Run from the repository root (needs scipy: pip install -e '.[bench]'):

    NNDL_DATA=../shared/data/mnist.pkl.gz env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        .venv/bin/python benchmarks/bench_expansion.py
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ELASTIC = "elastic:alpha=34,sigma=4"
AFFINE = "affine:rotate=15,shift=2,skew=10,scale=0.1"


# ------------------------------------------------------------ references
def elastic_scipy(images, rng, alpha=34.0, sigma=4.0):
    """Simard et al.'s recipe, one image at a time with scipy.ndimage."""
    from scipy import ndimage
    h, w = images.shape[1:]
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    out = np.empty_like(images)
    for i, img in enumerate(images):
        dr = ndimage.gaussian_filter(rng.random((h, w)) * 2 - 1, sigma, mode="constant") * alpha
        dc = ndimage.gaussian_filter(rng.random((h, w)) * 2 - 1, sigma, mode="constant") * alpha
        out[i] = ndimage.map_coordinates(img, [rows + dr, cols + dc], order=1, mode="constant")
    return out


def affine_scipy(images, rng, rotate=15.0, shift=2.0, skew=10.0, scale=0.1):
    """A random affine map per image with scipy.ndimage.affine_transform
    (order 1, black outside), drawn as nndl draws them."""
    from scipy import ndimage
    from nndl.expansion.transforms import random_affine_maps
    matrices, shifts = random_affine_maps(rng, len(images), rotate, shift, skew, scale)
    centre = (np.array(images.shape[1:]) - 1) / 2
    out = np.empty_like(images)
    for i, img in enumerate(images):
        inv = np.linalg.inv(matrices[i])
        offset = centre - inv @ (centre + shifts[i])
        out[i] = ndimage.affine_transform(img, inv, offset, order=1, mode="constant")
    return out


# ---------------------------------------------------------------- timing
def time_it(fn, repeats):
    """Median wall and CPU seconds of ``repeats`` calls of ``fn`` (CPU time:
    what one core costs when other jobs take turns on it)."""
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu), wall


def machine():
    """One line on the machine, numpy's BLAS (threadpoolctl) and the load."""
    from threadpoolctl import threadpool_info
    blas = "; ".join(f"{i['internal_api']} {i.get('version')} kernel {i.get('architecture')}, "
                     f"{i['num_threads']} threads" for i in threadpool_info()
                     if i["user_api"] == "blas")
    return (f"{os.cpu_count()} cpus ({len(os.sched_getaffinity(0))} usable), numpy "
            f"{np.__version__} ({blas}); load average {os.getloadavg()[0]:.2f}")


def bench_distortion(images, n_scipy, n_numpy, repeats):
    """Print images/s of nndl's kernels, scipy's and nndl's NumPy reference."""
    from nndl.expansion import parse_specs
    print(f"distortion on one core, {len(images)} MNIST images (median of {repeats}; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores):")
    rates = {}
    for name, spec, scipy_fn in (("elastic", ELASTIC, elastic_scipy),
                                 ("affine", AFFINE, affine_scipy)):
        t = parse_specs(spec)
        t(images[:64], np.random.default_rng(0))                       # compile / load
        rng = np.random.default_rng(1)
        flat = images.reshape(len(images), -1)
        out = np.zeros_like(flat)        # reused, as the Expander reuses its epoch buffers
        rows = [("nndl compiled", len(images), lambda: t.apply(flat, None, out, rng, (28, 28))),
                ("nndl NumPy reference", n_numpy, lambda: t.reference(images[:n_numpy], rng)),
                ("scipy.ndimage per image", n_scipy, lambda: scipy_fn(images[:n_scipy], rng))]
        for label, n, fn in rows:
            wall, cpu, runs = time_it(fn, repeats)
            rates[name, label] = n / wall, n / cpu
            print(f"  {name:8s} {label:24s} {n:>6} images {wall:7.3f} s {n / wall:9.0f} images/s"
                  f"  (CPU {cpu:.3f} s: {n / cpu:7.0f}/s)   runs: "
                  + " ".join(f"{r:.3f}" for r in runs))
        ours, ref = rates[name, "nndl compiled"], rates[name, "scipy.ndimage per image"]
        print(f"  {name:8s} compiled / scipy: {ours[0] / ref[0]:.1f}x wall, {ours[1] / ref[1]:.1f}x CPU;"
              f" 50,000 images: {50000 / ours[0]:.2f} s wall, {50000 / ours[1]:.2f} s CPU")
    return rates


# ---------------------------------------------------------------- epochs
def make_network(sizes):
    from nndl import Network
    from nndl.activations import ReLU, Softmax
    from nndl.costs import LogLikelihoodCost
    if len(sizes) > 3:
        return Network(sizes, LogLikelihoodCost, hidden=ReLU, output=Softmax, seed=0)
    return Network(sizes, seed=0)


def epoch_seconds(data, sizes, m, engine, augment=None):
    """Seconds of one epoch (the second of a two-epoch run, so compilation
    and the expander's first, unoverlapped epoch are not counted)."""
    from nndl.optimizers import SGD
    from nndl.training import train
    eta = 0.5 if len(sizes) == 3 else 0.05
    state = train(make_network(sizes), data, 2, m, SGD(eta), engine=engine, augment=augment)
    return state.history[1]["train_seconds"]


def epoch_images_seconds(data, sizes, m, seed):
    """Seconds of an expanded epoch trained as plain data by the engine
    ``auto`` picks, on ``Expander.epoch_images`` (the wait for the epoch's
    images included), the next epoch distorted meanwhile: the second of
    two epochs."""
    from nndl.data import Dataset
    from nndl.expansion import Expander
    from nndl.optimizers import SGD
    from nndl.training import train
    net, eta = make_network(sizes), 0.5 if len(sizes) == 3 else 0.05
    # mini-batches of 10 train on the single-threaded compiled kernel: the
    # distortion may take every other free core
    ex = Expander(ELASTIC, seed=seed, trainer_threads=1 if m < 32 else None)
    x = np.ascontiguousarray(data.images, dtype=net.dtype)
    for epoch in range(2):
        start = time.perf_counter()
        images = ex.epoch_images(x, epoch)
        wait = time.perf_counter() - start
        with ex.blas_limit():
            state = train(net, Dataset(images, data.labels), 1, m, SGD(eta))
        total = time.perf_counter() - start
    ex.close()
    return total, wait, state.history[0]["train_seconds"], str(ex.plan)


def planned_blas(trainer_threads=None):
    """The BLAS threads the Expander would plan now, and the plan."""
    from nndl.expansion.threads import LoadMeter
    plan = LoadMeter().plan(trainer_threads)
    return plan.blas, plan


def bench_epochs(training, configs, repeats, distort_seconds):
    """Print the epoch table for each (sizes, mini-batch, images).  Every
    row but one runs with BLAS held to the threads the Expander plans from
    the load, so plain and expanded are compared under the same rule; the
    row "BLAS on every core" shows what the rule is for."""
    from threadpoolctl import threadpool_limits
    from nndl.expansion import Expander
    for sizes, m, n in configs:
        data = training.subset(n)
        rows = {"plain, engine auto": [], "plain, engine auto, BLAS on every core": [],
                "plain, reference": [], "expanded, reference": [],
                "expanded, epoch_images + auto": [], "  of which waiting for the images": [],
                "  of which train_seconds": []}
        plans = []
        for r in range(repeats):
            blas, plan = planned_blas()
            plans.append(str(plan))
            with threadpool_limits(limits=blas, user_api="blas"):
                rows["plain, engine auto"].append(epoch_seconds(data, sizes, m, "auto"))
            rows["plain, engine auto, BLAS on every core"].append(
                epoch_seconds(data, sizes, m, "auto"))
            total, wait, trained, _ = epoch_images_seconds(data, sizes, m, r)
            rows["expanded, epoch_images + auto"].append(total)
            rows["  of which waiting for the images"].append(wait)
            rows["  of which train_seconds"].append(trained)
            with threadpool_limits(limits=planned_blas()[0], user_api="blas"):
                rows["plain, reference"].append(epoch_seconds(data, sizes, m, "reference"))
            ex = Expander(ELASTIC, seed=r)
            rows["expanded, reference"].append(epoch_seconds(data, sizes, m, "reference", ex))
            ex.close()
        print(f"epoch of {sizes}, mini-batch {m}, {n} images (median of {repeats}, alternating; "
              f"load average {os.getloadavg()[0]:.2f}):")
        for p in plans:
            print(f"  threads planned: {p}")
        med = {k: statistics.median(v) for k, v in rows.items()}
        for k, v in rows.items():
            print(f"  {k:40s} {med[k]:7.3f} s   runs: " + " ".join(f"{t:.3f}" for t in v))
        print(f"  expanded / plain: reference {med['expanded, reference'] / med['plain, reference']:.2f}x,"
              f" epoch_images + auto {med['expanded, epoch_images + auto'] / med['plain, engine auto']:.2f}x;"
              f" distorting these {n} images on one core: {distort_seconds * n / 50000:.3f} s CPU"
              f" ({distort_seconds * n / 50000 / med['plain, engine auto']:.2f} plain auto epochs)")


# ------------------------------------------------------------ compilation
COMPILE_SNIPPET = """
import time, numpy as np
start = time.perf_counter()
from nndl.expansion import parse_specs
x = np.zeros((4, 28, 28), np.float32); x[:, 10:18, 10:18] = 1
for spec in ("elastic", "affine:rotate=10"):
    parse_specs(spec)(x, np.random.default_rng(0))
print(f"{time.perf_counter() - start:.2f}")
"""


def bench_compile():
    """Print the first call's time with an empty and with a warm Numba cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        times = [subprocess.run([sys.executable, "-c", COMPILE_SNIPPET], env=env, check=True,
                                capture_output=True, text=True).stdout.strip()
                 for _ in range(2)]
    print(f"first call of both kernels in a fresh process (import included): empty Numba cache "
          f"{times[0]} s, cache from the previous run {times[1]} s")


def main():
    """Parse the flags and run the parts asked for."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--what", choices=("all", "distortion", "epochs", "compile"), default="all")
    ap.add_argument("--images", type=int, default=50000, help="images for nndl's kernels")
    ap.add_argument("--scipy-images", type=int, default=2000)
    ap.add_argument("--numpy-images", type=int, default=10000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--epoch-repeats", type=int, default=3)
    ap.add_argument("--small-images", type=int, default=50000, help="images for [784,30,10]")
    ap.add_argument("--large-images", type=int, default=20000, help="images for [784,800,800,10]")
    args = ap.parse_args()

    from nndl.data import load_mnist
    training = load_mnist(quiet=True).training
    print(machine())
    distort_seconds = None
    if args.what in ("all", "distortion", "epochs"):
        images = training.images[:args.images].reshape(-1, 28, 28)
        rates = bench_distortion(images, args.scipy_images, args.numpy_images,
                                 args.repeats if args.what != "epochs" else 1)
        distort_seconds = 50000 / rates["elastic", "nndl compiled"][1]
    if args.what in ("all", "epochs"):
        bench_epochs(training, [([784, 30, 10], 10, args.small_images),
                                ([784, 800, 800, 10], 100, args.large_images)],
                     args.epoch_repeats, distort_seconds)
    if args.what in ("all", "compile"):
        bench_compile()


if __name__ == "__main__":
    main()
