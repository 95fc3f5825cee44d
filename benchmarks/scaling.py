"""How training time grows with the number of images and the hidden width.

    python benchmarks/scaling.py [--plot docs/scaling.png]

[784, h, 10], mini-batch 10, eta 0.5, lmbda 5.0, nndl's default engine.
Image counts above MNIST's 50,000 are run as several epochs over the
50,000 (the work per image is the same); each point is the median of 3.
Prints two markdown tables; with --plot also draws them (needs matplotlib).
"""

import argparse
import statistics
import time

from nndl.data import load_mnist
from nndl.network import Network
from nndl.optimizers import SGD
from nndl.regularization import L2
from nndl.training import train

IMAGES = [100, 1000, 10000, 50000, 500000]
WIDTHS = [10, 30, 100, 300, 1000]


def seconds(training, width, n_images, repeats=3):
    """Median seconds to train [784, width, 10] on n_images images."""
    data = training.subset(min(n_images, len(training)))
    epochs = max(1, n_images // len(data))
    train(Network([784, width, 10], seed=0), data.subset(100), 1, 10, SGD(0.5))   # compile
    times = []
    for _ in range(repeats):
        net = Network([784, width, 10], seed=0)
        start = time.perf_counter()
        train(net, data, epochs, 10, SGD(0.5), regularization=L2(5.0))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plot", metavar="PNG")
    args = ap.parse_args(argv)
    training = load_mnist(quiet=True).training
    by_images = [(n, seconds(training, 30, n)) for n in IMAGES]
    print("| images | seconds | microseconds per image |\n|---:|---:|---:|")
    for n, s in by_images:
        print(f"| {n:,} | {s:.4f} | {s / n * 1e6:.2f} |")
    by_width = [(w, seconds(training, w, 50000)) for w in WIDTHS]
    print("\n| hidden width | seconds per epoch | microseconds per image per hidden neuron |\n|---:|---:|---:|")
    for w, s in by_width:
        print(f"| {w} | {s:.3f} | {s / 50000 / w * 1e6:.4f} |")
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
        ax1.loglog(*zip(*by_images), "o-")
        ax1.set(xlabel="training images", ylabel="seconds", title="[784,30,10], mini-batch 10")
        ax2.loglog(*zip(*by_width), "o-")
        ax2.set(xlabel="hidden neurons", ylabel="seconds per epoch", title="[784,h,10], 50,000 images")
        for ax in (ax1, ax2):
            ax.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=100)
        print(f"\nplot written to {args.plot}")


if __name__ == "__main__":
    main()
