"""Time one training epoch of the book's [784,30,10] network, side by side.

Runs, on the same 50,000 MNIST images with mini-batch 10, eta 0.5,
lmbda 5.0 and no monitoring:

* the book's per-example algorithm (tests/book_reference.py);
* nndl through the book-compatible ``network2`` module (float64);
* nndl's own API in float32 (the default).

Each is repeated and the median printed, with its speed-up over the book.
Usage:  python benchmarks/epoch_time.py [--repeats 3] [--book-images 5000]
The book's code is slow, so it is timed on ``--book-images`` images and
scaled to 50,000 (its cost per image is constant).
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from book_reference import BookCrossEntropy, BookNetwork  # noqa: E402
from nndl import Network  # noqa: E402
from nndl.data import load_mnist  # noqa: E402
from nndl.optimizers import SGD  # noqa: E402
from nndl.regularization import L2  # noqa: E402
from nndl.training import train  # noqa: E402


def time_book(training, n_images):
    """Seconds for one epoch of the per-example algorithm, scaled to 50,000."""
    eye = np.eye(10)
    data = [(x.reshape(-1, 1).astype(np.float64), eye[j].reshape(-1, 1))
            for x, j in zip(training.images[:n_images], training.labels[:n_images])]
    net = Network([784, 30, 10], dtype="float64", seed=0)
    book = BookNetwork([784, 30, 10], net.weights, net.biases, BookCrossEntropy)
    order = [np.random.default_rng(0).permutation(n_images)]
    start = time.perf_counter()
    book.SGD(data, 1, 10, 0.5, 5.0, order)
    return (time.perf_counter() - start) * len(training) / n_images


def time_nndl(training, dtype):
    """Seconds for one epoch of nndl's matrix-based training."""
    net = Network([784, 30, 10], dtype=dtype, seed=0)
    state = train(net, training, 1, 10, SGD(0.5), regularization=L2(5.0))
    return state.history[0]["train_seconds"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--book-images", type=int, default=5000)
    args = parser.parse_args()
    training = load_mnist(quiet=True).training
    rows = {
        "book per-example (float64)": [time_book(training, args.book_images)
                                       for _ in range(args.repeats)],
        "nndl network2 (float64)": [time_nndl(training, "float64") for _ in range(args.repeats)],
        "nndl default (float32)": [time_nndl(training, "float32") for _ in range(args.repeats)],
    }
    book = statistics.median(rows["book per-example (float64)"])
    print(f"one epoch, [784,30,10], mini-batch 10, {len(training)} images; "
          f"median of {args.repeats}")
    for name, times in rows.items():
        t = statistics.median(times)
        print(f"  {name:<28} {t:7.3f} s   {book / t:6.1f}x the book")


if __name__ == "__main__":
    main()
