"""The torch engine against the CPU engines, epoch time, in one run.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        NNDL_DATA=../shared/data/mnist.pkl.gz python benchmarks/torch_engine.py
    python benchmarks/torch_engine.py --smoke      # seconds, synthetic data

Two networks, ReLU hidden layers and a softmax output with the
log-likelihood cost, mini-batch 100, float32:

* [784,800,800,10] on ``--images`` MNIST images;
* Cireşan et al.'s [784,2500,2000,1500,1000,500,10] on ``--big-images``
  (a fraction of an epoch: it takes minutes on the CPU).

Each is trained two ways: plain SGD with L2 (which the ``blas`` engine
runs), and momentum 0.9 with dropout 0.5 (which only the reference and the
torch engine run).  Engines take turns, one epoch each per round, after a
warm-up round; the table shows the median of ``--repeats`` rounds, scaled
to a 50,000-image epoch, and each engine's time over the torch engine's.
``--threads`` (default 1) sets the threads of NumPy's BLAS and of PyTorch
alike.  Timings on a shared machine are noisy: compare ratios from one run.
"""

import argparse
import os
import platform
import re
import statistics

import numpy as np

from nndl.data import Dataset, load_mnist
from nndl.dropout import Dropout
from nndl.network import Network
from nndl.optimizers import SGD, Momentum
from nndl.regularization import L2
from nndl.training import train

EPOCH = 50_000
NETWORKS = {"[784,800,800,10]": [784, 800, 800, 10],
            "[784,2500,2000,1500,1000,500,10]": [784, 2500, 2000, 1500, 1000, 500, 10]}
RUNS = {"plain SGD + L2": (lambda: SGD(0.05), None, ("blas", "reference", "torch")),
        "momentum 0.9 + dropout 0.5": (lambda: Momentum(0.005, 0.9), lambda: Dropout(0.5),
                                       ("reference", "torch"))}


def epoch_seconds(data, sizes, engine, optimizer, dropout, device):
    """Train a fresh seeded network for one epoch of ``data``; return
    (train's own epoch seconds, the engine's reason)."""
    net = Network(sizes, cost="log-likelihood", hidden="relu", seed=0)
    state = train(net, data, 1, 100, optimizer(), regularization=L2(5.0),
                  dropout=dropout() if dropout else None, engine=engine,
                  device=device if engine == "torch" else None)
    if not all(np.isfinite(w).all() for w in net.weights):
        raise SystemExit(f"{sizes} diverged on {engine}: an epoch that stopped early "
                         "is no timing")
    return state.history[0]["train_seconds"], state.engine_reason


def compare(data, sizes, engines, optimizer, dropout, repeats, device):
    """Median epoch seconds per engine, taking turns; the first round is warm-up."""
    times, reasons = {e: [] for e in engines}, {}
    for r in range(repeats + 1):
        for e in engines:
            seconds, reasons[e] = epoch_seconds(data, sizes, e, optimizer, dropout, device)
            if r:
                times[e].append(seconds)
    return {e: statistics.median(t) for e, t in times.items()}, times, reasons


def machine():
    """Lines about this machine, NumPy's BLAS (with its kernel) and PyTorch's."""
    import torch
    from threadpoolctl import threadpool_info
    blas = "; ".join(f"{i['internal_api']} {i.get('version')} kernel {i.get('architecture')}, "
                     f"{i['num_threads']} threads"
                     for i in threadpool_info() if i["user_api"] == "blas")
    config = torch.__config__.show()
    torch_blas = re.search(r"BLAS_INFO=(\w+)", config)
    capability = re.search(r"CPU capability usage: (\w+)", config)
    return [f"{platform.machine()}, {os.cpu_count()} cpus, load average "
            f"{os.getloadavg()[0]:.2f}, Python {platform.python_version()}",
            f"NumPy {np.__version__}: {blas}",
            f"PyTorch {torch.__version__}: {torch.get_num_threads()} threads, BLAS "
            f"{torch_blas.group(1) if torch_blas else 'unknown'}, CPU kernels "
            f"{capability.group(1) if capability else 'unknown'}, "
            f"CUDA available: {torch.cuda.is_available()}"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=10000,
                    help="images per epoch for [784,800,800,10]")
    ap.add_argument("--big-images", type=int, default=2000,
                    help="images per epoch for the [784,2500,...,10] network")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default=None, help="the torch engine's device (default: auto)")
    ap.add_argument("--threads", type=int, default=1,
                    help="threads for NumPy's BLAS and for PyTorch alike (default 1: on a "
                         "loaded 2-core machine two threads made every engine several times "
                         "slower); 0 leaves both libraries' defaults")
    ap.add_argument("--smoke", action="store_true", help="synthetic data, small sizes")
    args = ap.parse_args(argv)
    if args.threads:
        import torch
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads, user_api="blas")
        torch.set_num_threads(args.threads)
    if args.smoke:
        rng = np.random.default_rng(0)
        training = Dataset(rng.random((400, 784)).astype(np.float32), rng.integers(0, 10, 400))
        args.images, args.big_images, args.repeats = 200, 100, 1
    else:
        training = load_mnist(quiet=True).training
    print("\n".join(machine()))
    for label, sizes in NETWORKS.items():
        n = args.images if sizes == NETWORKS["[784,800,800,10]"] else args.big_images
        data = training.subset(n)
        for run, (optimizer, dropout, engines) in RUNS.items():
            medians, times, reasons = compare(data, sizes, engines, optimizer, dropout,
                                              args.repeats, args.device)
            print(f"\n{label}, {run}, mini-batch 100, {n} images "
                  f"(times scaled to a {EPOCH:,}-image epoch)")
            for e in engines:
                scale = EPOCH / n
                runs = " ".join(f"{t * scale:.1f}" for t in times[e])
                print(f"  {e:9s} {medians[e] * scale:8.1f} s   {medians[e] / medians['torch']:5.2f}x"
                      f" torch   runs: {runs}   ({reasons[e]})")


if __name__ == "__main__":
    main()
